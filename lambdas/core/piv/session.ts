/**
 * The per-session security state of the PIV application. Consecutive APDUs of one card session land on
 * different Lambda instances, so the state travels with each call: plain JSON (booleans, numbers, base64
 * strings), bounded in size, and re-validated on the way in.
 *
 * What it holds and why:
 * - `pinVerified`: VERIFY of the PIN succeeded in this session (cleared by a wrong PIN, VERIFY P1=FF, RESET).
 * - `pinJustVerified`: the previous command was a successful VERIFY, the precondition of a key whose PIN
 *   policy is 'always' (9C). Any other complete command clears it; chain fragments and GET RESPONSE don't.
 * - `adminAuthenticated`: 9B management-key authentication succeeded (GENERATE, PUT DATA, SET MGMT KEY).
 * - `adminChallenge`: the 9B step in flight. Only a SHA-256 of the expected answer is kept, so whoever reads
 *   the stored session cannot complete the authentication without the key.
 * - `chain`: data of a command chain (CLA 10) being assembled, with the header it must keep.
 * - `pendingResponse`: the rest of a response waiting for GET RESPONSE.
 */

/** Total command bytes a chain may accumulate; more is answered 6A84. */
export const MAX_CHAIN_BYTES = 8 * 1024;
/** Response bytes that may wait for GET RESPONSE; a longer short-Le response is answered 6A84. */
export const MAX_PENDING_BYTES = 12 * 1024;

export interface PivSessionState {
  readonly version: 1;
  readonly pinVerified: boolean;
  readonly pinJustVerified: boolean;
  readonly adminAuthenticated: boolean;
  readonly adminChallenge?: {
    readonly step: 'witness' | 'challenge';
    /** PIV algorithm identifier the step was started with (P1). */
    readonly algorithm: number;
    /** base64 SHA-256 of the answer the host must send. */
    readonly expectedHash: string;
  };
  readonly chain?: {
    readonly ins: number;
    readonly p1: number;
    readonly p2: number;
    /** base64 of the data received so far. */
    readonly data: string;
  };
  /** base64 of the response bytes not yet fetched. */
  readonly pendingResponse?: string;
}

/** The state after power-on or a reset of the card by the agent. PIV is the default application. */
export function newSessionState(): PivSessionState {
  return { version: 1, pinVerified: false, pinJustVerified: false, adminAuthenticated: false };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64Within(value: unknown, maxBytes: number): value is string {
  return typeof value === 'string' && value.length <= Math.ceil(maxBytes / 3) * 4 && value.length % 4 === 0 && BASE64.test(value);
}

function isByte(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xff;
}

/**
 * Accepts a stored state only when it has exactly the expected shape and bounds; anything else (a state
 * from an older release, a corrupted item) is treated as a fresh power-on rather than trusted.
 */
export function validSessionState(candidate: unknown): PivSessionState | undefined {
  if (typeof candidate !== 'object' || candidate === null) return undefined;
  const s = candidate as Record<string, unknown>;
  const allowed = new Set(['version', 'pinVerified', 'pinJustVerified', 'adminAuthenticated', 'adminChallenge', 'chain', 'pendingResponse']);
  if (Object.keys(s).some((key) => !allowed.has(key))) return undefined;
  if (s.version !== 1) return undefined;
  if (typeof s.pinVerified !== 'boolean' || typeof s.pinJustVerified !== 'boolean' || typeof s.adminAuthenticated !== 'boolean') return undefined;
  if (s.adminChallenge !== undefined) {
    const c = s.adminChallenge as Record<string, unknown> | null;
    if (typeof c !== 'object' || c === null) return undefined;
    if ((c.step !== 'witness' && c.step !== 'challenge') || !isByte(c.algorithm) || !base64Within(c.expectedHash, 32)) return undefined;
  }
  if (s.chain !== undefined) {
    const c = s.chain as Record<string, unknown> | null;
    if (typeof c !== 'object' || c === null) return undefined;
    if (!isByte(c.ins) || !isByte(c.p1) || !isByte(c.p2) || !base64Within(c.data, MAX_CHAIN_BYTES)) return undefined;
  }
  if (s.pendingResponse !== undefined && !base64Within(s.pendingResponse, MAX_PENDING_BYTES)) return undefined;
  return candidate as PivSessionState;
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}
