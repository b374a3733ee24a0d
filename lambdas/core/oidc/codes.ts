import type { Clock, Item, StateStore } from '../../ports.ts';
import { newOpaque, opaqueHash } from './hashing.ts';
import type { SessionCorrelation } from '../risk/correlation.ts';

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
  /** The SSO session's device correlation when the code was issued: the refresh-token family starts with it. */
  readonly correlation?: SessionCorrelation;
}

type CodeItem = Item & CodeGrant & { expiresAt: number };
const codeKey = (code: string) => ({ PK: `CODE#${opaqueHash(code)}`, SK: 'CODE' });

/** `foreign`: presented by another client or tenant than it was issued to; nothing changed. */
export type Presented = { outcome: 'valid'; grant: CodeGrant } | { outcome: 'foreign' } | { outcome: 'unknown' };

export class AuthorizationCodes {
  readonly #state: StateStore;
  readonly #clock: Clock;

  constructor(state: StateStore, clock: Clock) {
    this.#state = state;
    this.#clock = clock;
  }

  async issue(grant: CodeGrant, lifetimeSeconds: number): Promise<string> {
    const code = newOpaque('ac_');
    await this.#state.put({ ...codeKey(code), ...grant, expiresAt: Math.floor(this.#clock.now() / 1000) + lifetimeSeconds }, { absent: true });
    return code;
  }

  /**
   * Reads a presented code and checks it before anything is written: the presenting client and tenant
   * here, then the caller's `check` of the request against it (redirect_uri, PKCE, DPoP key), so a wrong
   * request consumes nothing and cannot burn someone else's code. Single use is the one guarded write
   * that follows, in the caller: creating the code's grant (`GRANT#{gid}`, absent). Of any number of
   * concurrent redemptions exactly one creates it; every other redemption, concurrent or later, finds it
   * there (or revoked) and is a replay, which revokes it (RFC 6749 §4.1.2). An expired code is unknown.
   */
  async presented(code: string, presenter: { readonly tenant: string; readonly clientId: string }, check: (grant: CodeGrant) => void): Promise<Presented> {
    const item = await this.#state.get<CodeItem>(codeKey(code));
    if (!item) return { outcome: 'unknown' };
    if (item.clientId !== presenter.clientId || item.tenant !== presenter.tenant) return { outcome: 'foreign' };
    check(item);
    return { outcome: 'valid', grant: item };
  }
}
