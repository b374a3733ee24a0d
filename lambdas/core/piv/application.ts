/**
 * The PIV card application (NIST SP 800-73-4 Part 2) as a pure function of one command APDU and the
 * session's security state. Transport concerns live here: CLA checks, command chaining (CLA 10), and
 * 61xx + GET RESPONSE for responses longer than a short Le; the commands live in ./commands.
 *
 * `handleApdu` answers every byte string with a well-formed response APDU. It throws only what the card
 * port throws as a DomainError (UnavailableError when the store or key custody is down, ConflictError when a
 * guarded write lost a race): the service turns those into its own error and the agent retries or reports.
 * Any other failure inside a command is answered 6F00 and leaves the state as the command found it.
 */
import { DomainError } from '../errors.ts';
import { parseCommand, responseApdu, SW, type CommandApdu } from './apdu.ts';
import { generalAuthenticate } from './commands/authenticate.ts';
import { status, type CommandContext, type Outcome, type PivDeps } from './commands/context.ts';
import { getData, putData } from './commands/data.ts';
import { generateKeyPair } from './commands/generate.ts';
import { changeReferenceData, resetRetryCounter, verify } from './commands/pin.ts';
import { select } from './commands/select.ts';
import { getMetadata, getSerial, getVersion, reset, setManagementKey } from './commands/yubico.ts';
import { fromBase64, MAX_CHAIN_BYTES, MAX_PENDING_BYTES, newSessionState, toBase64, validSessionState, type PivSessionState } from './session.ts';

export type { PivDeps } from './commands/context.ts';

export interface ApduResult {
  readonly response: Uint8Array;
  readonly state: PivSessionState;
  readonly trace: { readonly ins: number; readonly sw: number };
}

const CHAINING_BIT = 0x10;
const GET_RESPONSE = 0xc0;

/**
 * Commands that may not be chained (6884): those carrying PINs, the PUK or key material, whose data must
 * never sit in the stored session between two requests, and SELECT and GET RESPONSE, which are never long.
 */
const NEVER_CHAINED = new Set([0x20, 0x24, 0x2c, 0xff, GET_RESPONSE, 0xa4]);

type Handler = (context: CommandContext) => Outcome | Promise<Outcome>;

const HANDLERS: ReadonlyMap<number, Handler> = new Map<number, Handler>([
  [0xa4, select],
  [0xcb, getData],
  [0xdb, putData],
  [0x20, verify],
  [0x24, changeReferenceData],
  [0x2c, resetRetryCounter],
  [0x87, generalAuthenticate],
  [0x47, generateKeyPair],
  [0xfd, getVersion],
  [0xf8, getSerial],
  [0xf7, getMetadata],
  [0xff, setManagementKey],
  [0xfb, reset],
]);

/** What survives into the next command: everything but the one-command state. */
function carried(state: PivSessionState): PivSessionState {
  return { version: 1, pinVerified: state.pinVerified, pinJustVerified: false, adminAuthenticated: state.adminAuthenticated };
}

function result(data: Uint8Array, sw: number, state: PivSessionState, ins: number): ApduResult {
  return { response: responseApdu(data, sw), state, trace: { ins, sw } };
}

export async function handleApdu(command: Uint8Array, state: PivSessionState, deps: PivDeps): Promise<ApduResult> {
  const previous = validSessionState(state) ?? newSessionState();
  const ins = command[1] ?? 0;
  const parsed = parseCommand(command);
  if (!parsed.ok) return result(new Uint8Array(0), parsed.sw, carried(previous), ins);
  const apdu = parsed.command;
  if ((apdu.cla & ~CHAINING_BIT) !== 0) return result(new Uint8Array(0), SW.CLA_NOT_SUPPORTED, carried(previous), ins);

  if (apdu.ins === GET_RESPONSE && apdu.cla === 0x00 && !previous.chain) return getResponse(apdu, previous);

  const joined = joinChain(apdu, previous);
  if (joined.kind === 'answer') return result(new Uint8Array(0), joined.sw, joined.state, ins);

  const outcome = await run(joined.command, previous, deps);
  return shape(joined.command, outcome, ins);
}

type Joined = { kind: 'answer'; sw: number; state: PivSessionState } | { kind: 'complete'; command: CommandApdu };

/**
 * Command chaining (ISO 7816-4 §5.1.1.1): fragments with CLA 10 accumulate, the fragment without it
 * completes the command. A different command in the middle abandons the chain and is itself refused with
 * 6883 (last command of the chain expected), so the host sees that its earlier fragments were dropped.
 */
function joinChain(apdu: CommandApdu, previous: PivSessionState): Joined {
  const chained = (apdu.cla & CHAINING_BIT) !== 0;
  const chain = previous.chain;
  if (chain && (chain.ins !== apdu.ins || chain.p1 !== apdu.p1 || chain.p2 !== apdu.p2)) {
    return { kind: 'answer', sw: SW.LAST_COMMAND_EXPECTED, state: carried(previous) };
  }
  if (!chain && !chained) return { kind: 'complete', command: apdu };
  if (chained && NEVER_CHAINED.has(apdu.ins)) return { kind: 'answer', sw: SW.CHAINING_NOT_SUPPORTED, state: carried(previous) };
  const soFar = chain ? fromBase64(chain.data) : new Uint8Array(0);
  if (soFar.length + apdu.data.length > MAX_CHAIN_BYTES) return { kind: 'answer', sw: SW.NOT_ENOUGH_MEMORY, state: carried(previous) };
  const data = new Uint8Array(soFar.length + apdu.data.length);
  data.set(soFar);
  data.set(apdu.data, soFar.length);
  if (chained) {
    // A fragment in the middle: acknowledge and wait. The PIN-always permission and a 9B exchange in
    // flight belong to the chained command, so they are kept until it completes.
    const next: PivSessionState = {
      ...carriedKeepingVerify(previous),
      ...(previous.adminChallenge ? { adminChallenge: previous.adminChallenge } : {}),
      chain: { ins: apdu.ins, p1: apdu.p1, p2: apdu.p2, data: toBase64(data) },
    };
    return { kind: 'answer', sw: SW.OK, state: next };
  }
  return { kind: 'complete', command: { ...apdu, cla: apdu.cla & ~CHAINING_BIT, data } };
}

function carriedKeepingVerify(previous: PivSessionState): PivSessionState {
  return { ...carried(previous), pinJustVerified: previous.pinJustVerified };
}

async function run(command: CommandApdu, previous: PivSessionState, deps: PivDeps): Promise<Outcome> {
  const base = carried(previous);
  const handler = HANDLERS.get(command.ins);
  if (!handler) return status(SW.INS_NOT_SUPPORTED, base);
  // The previous state minus its chain is what the command sees (a joined chain is now its data).
  const context: CommandContext = { command, previous: { ...previous, chain: undefined }, base, deps };
  try {
    return await handler(context);
  } catch (error) {
    if (error instanceof DomainError) throw error;
    return status(SW.NO_PRECISE_DIAGNOSIS, base);
  }
}

/**
 * Fits the response to the host's Ne. A short command gets at most Ne bytes (256 when it sent no Le, as
 * PC/SC T=1 hosts often do) and 61xx announcing the rest; an extended one gets up to 65536 bytes at once,
 * because the agent carries one logical command per HTTPS request.
 */
function shape(command: CommandApdu, outcome: Outcome, ins: number): ApduResult {
  const data = outcome.data ?? new Uint8Array(0);
  const limit = command.ne !== 0 ? command.ne : command.extended ? 65536 : 256;
  if (data.length <= limit || outcome.sw !== SW.OK) return result(data, outcome.sw, outcome.state, ins);
  const rest = data.subarray(limit);
  if (rest.length > MAX_PENDING_BYTES) return result(new Uint8Array(0), SW.NOT_ENOUGH_MEMORY, outcome.state, ins);
  const state = { ...outcome.state, pendingResponse: toBase64(rest) };
  return result(data.subarray(0, limit), remainingSw(rest.length), state, ins);
}

function remainingSw(remaining: number): number {
  return SW.BYTES_REMAINING | (remaining >= 256 ? 0 : remaining);
}

/** GET RESPONSE (ISO 7816-4 §11.4.3): the next Ne bytes of the pending response. */
function getResponse(apdu: CommandApdu, previous: PivSessionState): ApduResult {
  const keep = { ...carried(previous), pinJustVerified: previous.pinJustVerified };
  if (apdu.p1 !== 0x00 || apdu.p2 !== 0x00) return result(new Uint8Array(0), SW.INCORRECT_P1P2, keep, GET_RESPONSE);
  if (apdu.data.length !== 0) return result(new Uint8Array(0), SW.WRONG_LENGTH, keep, GET_RESPONSE);
  if (!previous.pendingResponse) return result(new Uint8Array(0), SW.CONDITIONS_NOT_SATISFIED, keep, GET_RESPONSE);
  const pending = fromBase64(previous.pendingResponse);
  const limit = apdu.ne !== 0 ? apdu.ne : apdu.extended ? 65536 : 256;
  const chunk = pending.subarray(0, limit);
  const rest = pending.subarray(chunk.length);
  if (rest.length === 0) return result(chunk, SW.OK, keep, GET_RESPONSE);
  return result(chunk, remainingSw(rest.length), { ...keep, pendingResponse: toBase64(rest) }, GET_RESPONSE);
}
