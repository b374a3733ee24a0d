import { ConflictError } from '../errors.ts';
import type { Clock, Item, StateStore } from '../../ports.ts';
import { newOpaque, opaqueHash } from './hashing.ts';

/** What a refresh token stands for; each rotation issues a new token in the same family (grant). */
export interface RefreshGrant {
  readonly tenant: string;
  readonly clientId: string;
  readonly gid: string;
  readonly sub: string;
  readonly scope: string;
  readonly sid: string;
  readonly authTime: number;
  readonly acr: string;
  readonly amr: readonly string[];
  /** DPoP key thumbprint the token is bound to (always, for public clients that used DPoP). */
  readonly jkt?: string;
  /** Absolute end of the family: rotation never extends it. */
  readonly familyExpiresAt: number;
}

type RefreshItem = Item & RefreshGrant & { status: 'active' | 'rotated' | 'revoked'; expiresAt: number };
const refreshKey = (token: string) => ({ PK: `RT#${opaqueHash(token)}`, SK: 'RT' });

export type Rotation = { outcome: 'rotated'; grant: RefreshGrant } | { outcome: 'reused'; grant: RefreshGrant } | { outcome: 'unknown' };

export class RefreshTokens {
  readonly #state: StateStore;
  readonly #clock: Clock;

  constructor(state: StateStore, clock: Clock) {
    this.#state = state;
    this.#clock = clock;
  }

  async issue(grant: RefreshGrant): Promise<string> {
    const token = newOpaque('rt_');
    await this.#state.put({ ...refreshKey(token), ...grant, status: 'active', expiresAt: grant.familyExpiresAt }, { absent: true });
    return token;
  }

  async find(token: string): Promise<(RefreshGrant & { status: string }) | undefined> {
    return this.#state.get<RefreshItem>(refreshKey(token));
  }

  /**
   * Marks the token used, by one guarded write: of concurrent uses exactly one rotates. Any other use of
   * a token that is no longer active is reuse, which the caller answers by revoking the family.
   */
  async consume(token: string): Promise<Rotation> {
    try {
      const item = await this.#state.update<RefreshItem>(refreshKey(token), { status: 'rotated' }, { present: true, equals: { status: 'active' } });
      return { outcome: 'rotated', grant: item };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
    const item = await this.#state.get<RefreshItem>(refreshKey(token));
    return item ? { outcome: 'reused', grant: item } : { outcome: 'unknown' };
  }

  /** RFC 7009 revocation of one token (its family is revoked by the caller through the grant). */
  async revoke(token: string): Promise<RefreshGrant | undefined> {
    const item = await this.#state.get<RefreshItem>(refreshKey(token));
    if (!item) return undefined;
    await this.#state.update(refreshKey(token), { status: 'revoked' }).catch(() => undefined);
    return item;
  }
}
