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

export type Rotation =
  | { outcome: 'rotated'; grant: RefreshGrant }
  | { outcome: 'reused'; grant: RefreshGrant }
  /** Presented by another client or tenant than it was issued to: refused, and nothing changes. */
  | { outcome: 'foreign' }
  /** Bound to a DPoP key the presenter did not prove: refused, not consumed (the caller's risk check decides the rest). */
  | { outcome: 'wrong-key'; grant: RefreshGrant }
  | { outcome: 'unknown' };

/** Who presents a refresh token: the authenticated client, in this tenant, with this DPoP key if any. */
export interface Presenter {
  readonly tenant: string;
  readonly clientId: string;
  readonly jkt?: string;
}

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
   * Rotates the token for its rightful presenter. The client, tenant and DPoP key are checked on a read
   * before anything is written, so a stolen token presented by another client or key changes nothing
   * (it must not revoke the victim's family). Then one guarded write marks it used: of concurrent uses
   * by the rightful client exactly one rotates, and any other use of a token no longer active is reuse,
   * which the caller answers by revoking the family.
   */
  async consume(token: string, presenter: Presenter): Promise<Rotation> {
    const item = await this.#state.get<RefreshItem>(refreshKey(token));
    if (!item) return { outcome: 'unknown' };
    if (item.tenant !== presenter.tenant || item.clientId !== presenter.clientId) return { outcome: 'foreign' };
    if (item.jkt && item.jkt !== presenter.jkt) return { outcome: 'wrong-key', grant: item };
    if (item.status !== 'active') return { outcome: 'reused', grant: item };
    try {
      const rotated = await this.#state.update<RefreshItem>(refreshKey(token), { status: 'rotated' }, { present: true, equals: { status: 'active', clientId: presenter.clientId } });
      return { outcome: 'rotated', grant: rotated };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
    return { outcome: 'reused', grant: item };
  }

  /** RFC 7009 revocation of one token (its family is revoked by the caller through the grant). */
  async revoke(token: string): Promise<RefreshGrant | undefined> {
    const item = await this.#state.get<RefreshItem>(refreshKey(token));
    if (!item) return undefined;
    await this.#state.update(refreshKey(token), { status: 'revoked' }).catch(() => undefined);
    return item;
  }
}
