import { ConflictError } from '../errors.ts';
import type { Clock, StateStore } from '../../ports.ts';
import { opaqueHash } from './hashing.ts';

/**
 * Remembers one-time identifiers (DPoP proof `jti`, client assertion `jti`) until they could no longer be
 * accepted anyway. Seen-before is one guarded create: two concurrent uses cannot both pass.
 */
export class ReplayCache {
  readonly #state: StateStore;
  readonly #clock: Clock;

  constructor(state: StateStore, clock: Clock) {
    this.#state = state;
    this.#clock = clock;
  }

  /** True the first time (scope, id) is seen before `untilSeconds`; false on every later try. */
  async firstUse(scope: string, id: string, untilSeconds: number): Promise<boolean> {
    const expiresAt = Math.max(Math.ceil(untilSeconds), Math.floor(this.#clock.now() / 1000) + 1);
    try {
      await this.#state.put({ PK: `JTI#${opaqueHash(`${scope}\0${id}`)}`, SK: 'JTI', expiresAt }, { absent: true });
      return true;
    } catch (error) {
      if (error instanceof ConflictError) return false;
      throw error;
    }
  }
}
