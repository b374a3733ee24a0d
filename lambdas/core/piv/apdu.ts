/**
 * ISO 7816-4 command and response APDUs (§5.1): the four cases in short and extended length, and the status
 * words this application answers. Parsing never throws; a malformed command is answered 6700.
 */

/** Status words (SW1 SW2) the PIV application answers. */
export const SW = {
  OK: 0x9000,
  /** 61xx: more response bytes wait for GET RESPONSE (xx = how many, 00 = 256 or more). */
  BYTES_REMAINING: 0x6100,
  /** 63Cx: wrong PIN/PUK, x tries left. */
  VERIFY_FAILED: 0x63c0,
  WRONG_LENGTH: 0x6700,
  /** Command chaining: the next command of the chain was expected. */
  LAST_COMMAND_EXPECTED: 0x6883,
  CHAINING_NOT_SUPPORTED: 0x6884,
  SECURITY_STATUS_NOT_SATISFIED: 0x6982,
  AUTH_METHOD_BLOCKED: 0x6983,
  REFERENCE_DATA_NOT_USABLE: 0x6984,
  CONDITIONS_NOT_SATISFIED: 0x6985,
  INCORRECT_DATA: 0x6a80,
  FUNCTION_NOT_SUPPORTED: 0x6a81,
  NOT_FOUND: 0x6a82,
  NOT_ENOUGH_MEMORY: 0x6a84,
  INCORRECT_P1P2: 0x6a86,
  REFERENCE_NOT_FOUND: 0x6a88,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
  NO_PRECISE_DIAGNOSIS: 0x6f00,
} as const;

export interface CommandApdu {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly data: Uint8Array;
  /** Ne, the most response bytes the host accepts; 0 when the command carries no Le field. */
  readonly ne: number;
  /** True when the command used the extended length fields. */
  readonly extended: boolean;
}

export type ParsedCommand = { readonly ok: true; readonly command: CommandApdu } | { readonly ok: false; readonly sw: number };

/**
 * Parses a command APDU (ISO 7816-4 §5.1, Table 1). Short form: Lc and Le one byte each, Le 00 = 256.
 * Extended form: a 00 byte then two-byte Lc/Le, Le 0000 = 65536. A lone P3 of 00 is a short Le of 256,
 * which is also how T=0 hosts send "no data" (VERIFY status, GET VERSION): the data field is then empty.
 */
export function parseCommand(bytes: Uint8Array): ParsedCommand {
  const fail = { ok: false, sw: SW.WRONG_LENGTH } as const;
  if (bytes.length < 4) return fail;
  const [cla, ins, p1, p2] = [bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!];
  const header = { cla, ins, p1, p2 };
  const body = bytes.length - 4;
  if (body === 0) return ok({ ...header, data: new Uint8Array(0), ne: 0, extended: false });
  const p3 = bytes[4]!;
  if (body === 1) return ok({ ...header, data: new Uint8Array(0), ne: p3 === 0 ? 256 : p3, extended: false });
  if (p3 !== 0) {
    // Short Lc: case 3S (data only) or 4S (data then one Le byte).
    const end = 5 + p3;
    if (bytes.length === end) return ok({ ...header, data: bytes.slice(5, end), ne: 0, extended: false });
    if (bytes.length === end + 1) {
      const le = bytes[end]!;
      return ok({ ...header, data: bytes.slice(5, end), ne: le === 0 ? 256 : le, extended: false });
    }
    return fail;
  }
  // Extended: 00 then two bytes.
  if (body < 3) return fail;
  const first = (bytes[5]! << 8) | bytes[6]!;
  if (body === 3) return ok({ ...header, data: new Uint8Array(0), ne: first === 0 ? 65536 : first, extended: true });
  if (first === 0) return fail;
  const end = 7 + first;
  if (bytes.length === end) return ok({ ...header, data: bytes.slice(7, end), ne: 0, extended: true });
  if (bytes.length === end + 2) {
    const le = (bytes[end]! << 8) | bytes[end + 1]!;
    return ok({ ...header, data: bytes.slice(7, end), ne: le === 0 ? 65536 : le, extended: true });
  }
  return fail;
}

function ok(command: CommandApdu): ParsedCommand {
  return { ok: true, command };
}

/** data || SW1 SW2 */
export function responseApdu(data: Uint8Array, sw: number): Uint8Array {
  const out = new Uint8Array(data.length + 2);
  out.set(data, 0);
  out[data.length] = (sw >> 8) & 0xff;
  out[data.length + 1] = sw & 0xff;
  return out;
}

/** 63Cx with x = tries left, capped at 15 (the nibble's range). */
export function triesLeftSw(remaining: number): number {
  return SW.VERIFY_FAILED | Math.max(0, Math.min(15, remaining));
}

/** Builds a command APDU (used by tests and the agent-side tooling): short form when it fits, else extended. */
export function buildCommand(
  header: { cla?: number; ins: number; p1: number; p2: number },
  data: Uint8Array = new Uint8Array(0),
  ne?: number,
  options: { extended?: boolean } = {},
): Uint8Array {
  const cla = header.cla ?? 0;
  const extended = options.extended ?? (data.length > 255 || (ne ?? 0) > 256);
  const parts: number[] = [cla, header.ins, header.p1, header.p2];
  if (!extended) {
    if (data.length > 0) parts.push(data.length, ...data);
    if (ne !== undefined) parts.push(ne === 256 ? 0 : ne);
    return Uint8Array.from(parts);
  }
  parts.push(0);
  if (data.length > 0) parts.push(data.length >> 8, data.length & 0xff, ...data);
  if (ne !== undefined) parts.push(...(ne === 65536 ? [0, 0] : [ne >> 8, ne & 0xff]));
  return Uint8Array.from(parts);
}
