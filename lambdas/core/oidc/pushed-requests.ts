import { ConflictError } from '../errors.ts';
import type { Clock, Item, StateStore } from '../../ports.ts';
import { newOpaque, opaqueHash } from './hashing.ts';

/** RFC 9126 §2.2: the request_uri a pushed request is referred to by. */
export const PAR_URN_PREFIX = 'urn:ietf:params:oauth:request_uri:';
/** Short: the client sends the browser to the authorization endpoint right after pushing. */
export const PAR_LIFETIME_SECONDS = 60;

type PushedItem = Item & { tenant: string; clientId: string; params: Record<string, string>; used: boolean; expiresAt: number };
const pushedKey = (requestUri: string) => ({ PK: `PAR#${opaqueHash(requestUri)}`, SK: 'PAR' });

/**
 * Pushed authorization requests (RFC 9126): the validated parameters of an authorization request a client
 * posted, under a single-use `urn:ietf:params:oauth:request_uri:…` (256 bits; stored by its hash).
 */
export class PushedRequests {
  readonly #state: StateStore;
  readonly #clock: Clock;

  constructor(state: StateStore, clock: Clock) {
    this.#state = state;
    this.#clock = clock;
  }

  async push(tenant: string, clientId: string, params: Record<string, string>): Promise<{ requestUri: string; expiresIn: number }> {
    const requestUri = `${PAR_URN_PREFIX}${newOpaque('par_')}`;
    const expiresAt = Math.floor(this.#clock.now() / 1000) + PAR_LIFETIME_SECONDS;
    await this.#state.put({ ...pushedKey(requestUri), tenant, clientId, params, used: false, expiresAt }, { absent: true });
    return { requestUri, expiresIn: PAR_LIFETIME_SECONDS };
  }

  /**
   * The pushed parameters, once: one write guarded on the request being unused and on the presenting
   * client and tenant, so of two racing redemptions exactly one gets them. Unknown, expired, used or
   * another client's: undefined (and another client's attempt uses nothing up).
   */
  async redeem(tenant: string, clientId: string, requestUri: string): Promise<Record<string, string> | undefined> {
    if (!requestUri.startsWith(PAR_URN_PREFIX) || requestUri.length > 200) return undefined;
    try {
      const item = await this.#state.update<PushedItem>(pushedKey(requestUri), { used: true }, { present: true, equals: { used: false, clientId, tenant } });
      return item.params;
    } catch (error) {
      if (error instanceof ConflictError) return undefined;
      throw error;
    }
  }
}
