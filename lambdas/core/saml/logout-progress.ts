import { ConflictError } from '../errors.ts';
import type { Clock, Item, StateStore } from '../../ports.ts';
import type { SamlParticipant } from './session-participants.ts';

/** How long the browser may take to visit one participant and come back. */
export const LOGOUT_STEP_SECONDS = 300;

/** A front-channel logout in progress: whom to answer at the end, who is left, whether anyone failed. */
export interface LogoutProgress {
  readonly tenant: string;
  /** The SP whose LogoutRequest started it; absent when the IdP started it. */
  readonly initiator?: { readonly spEntityId: string; readonly requestId: string; readonly relayState?: string };
  readonly remaining: readonly SamlParticipant[];
  readonly partial: boolean;
  /** The participant the browser is visiting now, and our LogoutRequest's ID its response must name. */
  readonly pendingSp: string;
  readonly pendingRequestId: string;
}

type ProgressItem = Item & { progress: LogoutProgress; pendingSp: string; expiresAt: number };
const progressKey = (requestId: string) => ({ PK: `SAMLLOGOUT#${requestId}`, SK: 'SAMLLOGOUT' });

/**
 * The front-channel logout chain (Profiles §4.4.3.3): one state item per step, keyed by the ID of the
 * LogoutRequest we sent; the participant's LogoutResponse takes it by one conditional delete, so a
 * replayed or forged response cannot advance the chain twice.
 */
export class LogoutChain {
  readonly #state: StateStore;
  readonly #clock: Clock;

  constructor(state: StateStore, clock: Clock) {
    this.#state = state;
    this.#clock = clock;
  }

  async save(progress: LogoutProgress): Promise<void> {
    await this.#state.put(
      {
        ...progressKey(progress.pendingRequestId),
        progress,
        pendingSp: progress.pendingSp,
        expiresAt: Math.floor(this.#clock.now() / 1000) + LOGOUT_STEP_SECONDS,
      },
      { absent: true },
    );
  }

  async take(tenant: string, inResponseTo: string, from: string): Promise<LogoutProgress | undefined> {
    if (!/^[A-Za-z_][\w.-]{0,255}$/.test(inResponseTo)) return undefined;
    const item = await this.#state.get<ProgressItem>(progressKey(inResponseTo));
    if (!item || item.progress.tenant !== tenant || item.progress.pendingSp !== from) return undefined;
    try {
      await this.#state.delete(progressKey(inResponseTo), { equals: { pendingSp: from } });
    } catch (error) {
      if (error instanceof ConflictError) return undefined;
      throw error;
    }
    return item.progress;
  }
}
