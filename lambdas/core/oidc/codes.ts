import { ConflictError } from '../errors.ts';
import type { Clock, Item, StateStore } from '../../ports.ts';
import { newOpaque, opaqueHash } from './hashing.ts';

/** What an authorization code stands for; stored under the code's hash, never the code. */
export interface CodeGrant {
  readonly tenant: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly scope: string;
  readonly sub: string;
  readonly gid: string;
  readonly sid: string;
  readonly authTime: number;
  readonly acr: string;
  readonly amr: readonly string[];
  readonly nonce?: string;
  readonly codeChallenge?: string;
  readonly dpopJkt?: string;
}

type CodeItem = Item & CodeGrant & { used: boolean; expiresAt: number };
const codeKey = (code: string) => ({ PK: `CODE#${opaqueHash(code)}`, SK: 'CODE' });

/** `foreign`: presented by another client or tenant than it was issued to; nothing changed. */
export type Redemption = { outcome: 'redeemed'; grant: CodeGrant } | { outcome: 'replayed'; grant: CodeGrant } | { outcome: 'foreign' } | { outcome: 'unknown' };

export class AuthorizationCodes {
  readonly #state: StateStore;
  readonly #clock: Clock;

  constructor(state: StateStore, clock: Clock) {
    this.#state = state;
    this.#clock = clock;
  }

  async issue(grant: CodeGrant, lifetimeSeconds: number): Promise<string> {
    const code = newOpaque('ac_');
    await this.#state.put({ ...codeKey(code), ...grant, used: false, expiresAt: Math.floor(this.#clock.now() / 1000) + lifetimeSeconds }, { absent: true });
    return code;
  }

  /**
   * Single use, by one write guarded on the code being unused and on the presenting client and tenant:
   * exactly one of any number of concurrent redemptions by the rightful client wins, and another client's
   * attempt consumes nothing (it must not revoke the victim's grant). A code the rightful client presents
   * again is reported as replayed (so the caller revokes its grant); an expired one as unknown.
   */
  async redeem(code: string, presenter: { readonly tenant: string; readonly clientId: string }): Promise<Redemption> {
    try {
      const item = await this.#state.update<CodeItem>(codeKey(code), { used: true }, { present: true, equals: { used: false, clientId: presenter.clientId, tenant: presenter.tenant } });
      return { outcome: 'redeemed', grant: item };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
    const item = await this.#state.get<CodeItem>(codeKey(code));
    if (!item) return { outcome: 'unknown' };
    if (item.clientId !== presenter.clientId || item.tenant !== presenter.tenant) return { outcome: 'foreign' };
    return item.used ? { outcome: 'replayed', grant: item } : { outcome: 'unknown' };
  }
}
