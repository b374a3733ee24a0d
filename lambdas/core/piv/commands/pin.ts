/**
 * VERIFY (20), CHANGE REFERENCE DATA (24) and RESET RETRY COUNTER (2C), SP 800-73-4 Part 2 §3.2.
 * Counters and the tenant's PIN policy live behind the port; this module checks the format and maps the
 * outcomes to status words.
 */
import { SW, triesLeftSw } from '../apdu.ts';
import type { PinOutcome, PinReference } from '../card-port.ts';
import type { PivSessionState } from '../session.ts';
import { status, type CommandContext, type Outcome } from './context.ts';

const PIN_REFERENCE = 0x80;
const PUK_REFERENCE = 0x81;

/**
 * A PIN or PUK block: 8 bytes, the value (6 to 8 printable ASCII characters) padded with FF. Which characters
 * a tenant allows beyond that (digits only, ...) is the port's policy.
 */
export function parsePinBlock(block: Uint8Array): string | undefined {
  if (block.length !== 8) return undefined;
  let length = block.indexOf(0xff);
  if (length === -1) length = 8;
  if (length < 6) return undefined;
  for (let i = length; i < 8; i++) if (block[i] !== 0xff) return undefined;
  const value = block.subarray(0, length);
  if (value.some((byte) => byte < 0x20 || byte > 0x7e)) return undefined;
  return String.fromCharCode(...value);
}

function outcomeSw(outcome: PinOutcome): number {
  switch (outcome.kind) {
    case 'verified':
      return SW.OK;
    case 'wrong':
      return triesLeftSw(outcome.remaining);
    case 'blocked':
      return SW.AUTH_METHOD_BLOCKED;
    case 'rejected':
      return SW.INCORRECT_DATA;
  }
}

export async function verify(context: CommandContext): Promise<Outcome> {
  const { command, base, deps } = context;
  if (command.p1 !== 0x00 && command.p1 !== 0xff) return status(SW.INCORRECT_P1P2, base);
  // Only the PIV Card Application PIN: no global PIN (00), OCC (96/97) or pairing code (98) on this card.
  if (command.p2 !== PIN_REFERENCE) return status(SW.REFERENCE_NOT_FOUND, base);
  if (command.p1 === 0xff) {
    // Reset the PIN's security status (SP 800-73-4 §3.2.1).
    if (command.data.length !== 0) return status(SW.WRONG_LENGTH, base);
    return status(SW.OK, { ...base, pinVerified: false });
  }
  if (command.data.length === 0) {
    // Status query: 9000 when verified in this session, else the tries left (6983 when blocked).
    if (base.pinVerified) return status(SW.OK, base);
    const { remaining } = await deps.card.pinStatus('pin');
    return status(remaining === 0 ? SW.AUTH_METHOD_BLOCKED : triesLeftSw(remaining), base);
  }
  const pin = parsePinBlock(command.data);
  if (pin === undefined) return status(SW.INCORRECT_DATA, base);
  const outcome = await deps.card.verifyPin(pin);
  if (outcome.kind === 'verified') return status(SW.OK, { ...base, pinVerified: true, pinJustVerified: true });
  return status(outcomeSw(outcome), outcome.kind === 'rejected' ? base : { ...base, pinVerified: false });
}

function referenceOf(p2: number): PinReference | undefined {
  if (p2 === PIN_REFERENCE) return 'pin';
  if (p2 === PUK_REFERENCE) return 'puk';
  return undefined;
}

/** Two PIN blocks (current and new, or PUK and new PIN), 16 bytes in all. */
function twoBlocks(data: Uint8Array): [string, string] | undefined {
  if (data.length !== 16) return undefined;
  const first = parsePinBlock(data.subarray(0, 8));
  const second = parsePinBlock(data.subarray(8));
  return first === undefined || second === undefined ? undefined : [first, second];
}

/** A failed PIN comparison drops the PIN's verified status, as a wrong VERIFY does. */
function afterPinCheck(base: PivSessionState, reference: PinReference, outcome: PinOutcome): PivSessionState {
  return reference === 'pin' && (outcome.kind === 'wrong' || outcome.kind === 'blocked') ? { ...base, pinVerified: false } : base;
}

export async function changeReferenceData(context: CommandContext): Promise<Outcome> {
  const { command, base, deps } = context;
  if (command.p1 !== 0x00) return status(SW.INCORRECT_P1P2, base);
  const reference = referenceOf(command.p2);
  if (!reference) return status(SW.REFERENCE_NOT_FOUND, base);
  const blocks = twoBlocks(command.data);
  if (!blocks) return status(SW.INCORRECT_DATA, base);
  const outcome = await deps.card.changeReference(reference, blocks[0], blocks[1]);
  return status(outcomeSw(outcome), afterPinCheck(base, reference, outcome));
}

export async function resetRetryCounter(context: CommandContext): Promise<Outcome> {
  const { command, base, deps } = context;
  if (command.p1 !== 0x00) return status(SW.INCORRECT_P1P2, base);
  if (command.p2 !== PIN_REFERENCE) return status(SW.REFERENCE_NOT_FOUND, base);
  const blocks = twoBlocks(command.data);
  if (!blocks) return status(SW.INCORRECT_DATA, base);
  const outcome = await deps.card.resetRetryCounter(blocks[0], blocks[1]);
  // A new PIN is set: whatever was verified before no longer stands.
  return status(outcomeSw(outcome), outcome.kind === 'verified' ? { ...base, pinVerified: false } : base);
}
