/** What every command handler receives and returns. */
import type { Random } from '../../../ports.ts';
import type { CommandApdu } from '../apdu.ts';
import type { PivCard } from '../card-port.ts';
import type { PivSessionState } from '../session.ts';

export interface PivDeps {
  readonly card: PivCard;
  readonly random: Random;
}

export interface CommandContext {
  /** The complete command (a chain already joined). */
  readonly command: CommandApdu;
  /** The state as this command found it. */
  readonly previous: PivSessionState;
  /**
   * The state to build on: `previous` minus what lasts for one command only (PIN-always permission, a 9B
   * challenge in flight, a pending response, a chain).
   */
  readonly base: PivSessionState;
  readonly deps: PivDeps;
}

export interface Outcome {
  readonly sw: number;
  readonly data?: Uint8Array;
  readonly state: PivSessionState;
}

export function status(sw: number, state: PivSessionState): Outcome {
  return { sw, state };
}
