import { CardApiError, type CardApiClient, type DeviceKey, type PublicCard } from './sdk.ts';
import { nextRenewal } from './renewal.ts';
import type { VirtualCard } from './vpcd.ts';

const SW_OK = Uint8Array.of(0x90, 0x00);
const SW_NO_DIAGNOSIS = Uint8Array.of(0x6f, 0x00);
const SW_WRONG_LENGTH = Uint8Array.of(0x67, 0x00);
const SW_CONDITIONS = Uint8Array.of(0x69, 0x85);

const INS = {
  verify: 0x20,
  select: 0xa4,
  getData: 0xcb,
  getResponse: 0xc0,
  putData: 0xdb,
  generate: 0x47,
  reset: 0xfb,
  importKey: 0xfe,
  getVersion: 0xfd,
  getSerial: 0xf8,
} as const;
/** Commands whose answer never depends on the security state or on anything a host can change. */
const STATIC_INS = new Set<number>([INS.select, INS.getVersion, INS.getSerial]);
/** The Security Object (SP 800-73-4 5FC106): its hashes change with the objects they cover. */
const SECURITY_OBJECT = 0x5fc106;
/** Commands after whose success the cached objects may be stale. */
const CHANGES_OBJECTS = new Set<number>([INS.putData, INS.generate, INS.reset, INS.importKey]);
/** Objects whose content needs the PIN: never cached. */
const PIN_PROTECTED = new Set<number>([0x5fc103, 0x5fc108, 0x5fc109, 0x5fc121, 0x5fc123]);

export interface CloudCardEvents {
  /** The server says this client no longer holds the card: remove it from the reader. */
  readonly removed: (reason: string) => void;
  /**
   * The server ended a session whose PIN was verified (idle timeout, maximum, expiry): a new session is
   * open, and the reader must report a removal and re-insertion so middleware asks for the PIN again.
   */
  readonly reinserted?: (reason: string) => void;
  /** A renewal carried the verified PIN to this new expiry (epoch seconds). */
  readonly renewed?: (expiresAt: number) => void;
  /** `--verbose`: command byte and status word of each APDU, and whether it went to the server. */
  readonly trace?: (entry: { ins: number; sw: number; remote: boolean }) => void;
}

interface Parsed {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly data: Uint8Array;
  /** Ne: how many response bytes the host accepts (256 for a short Le of 00, 65536 for extended 0000). */
  readonly ne: number;
  readonly extended: boolean;
}

/**
 * One cloud card in the reader. It answers locally what it safely can — the ATR, SELECT and other
 * static answers it has seen once, the public objects fetched at insertion — absorbs command chaining
 * and GET RESPONSE (so each logical command costs one HTTPS request), and forwards the rest to the card
 * session. Power and reset events clear the server's security state with the next forwarded command.
 */
export class CloudCard implements VirtualCard {
  readonly #client: CardApiClient;
  readonly #device: DeviceKey;
  readonly #events: CloudCardEvents;
  #card: PublicCard;
  #session: string | undefined;
  #resetPending = false;
  #chain: { ins: number; p1: number; p2: number; parts: Uint8Array[] } | undefined;
  #pendingResponse: Uint8Array | undefined;
  readonly #staticAnswers = new Map<string, Uint8Array>();
  #objects = new Map<number, Uint8Array>();
  /** Public objects the server said are absent (6A82): answered locally until something changes. */
  readonly #absent = new Set<number>();
  #removed = false;
  /** PIN tries left as the server last reported them, and whether VERIFY succeeded since the last power-on. */
  #pinRemaining: number | undefined;
  #pinVerified = false;
  #renewTimer: NodeJS.Timeout | undefined;
  /** The last renewal no longer extended the session: it ends at its expiry (the tenant's maximum). */
  #atMaximum = false;
  /** HTTPS requests made for APDUs (the bench and tests read it). */
  requests = 0;

  constructor(client: CardApiClient, device: DeviceKey, card: PublicCard, events: CloudCardEvents) {
    this.#client = client;
    this.#device = device;
    this.#card = card;
    this.#events = events;
    this.#loadObjects(card);
  }

  get id(): string {
    return this.#card.id;
  }

  /** Opens (or re-opens, taking the card back) the card session. */
  async insert(card: PublicCard = this.#card): Promise<void> {
    this.#card = card;
    this.#loadObjects(card);
    const opened = await this.#client.openSession(card.id, this.#device);
    this.#session = opened.session;
    this.#removed = false;
    this.#resetPending = false;
    this.#pinVerified = false;
    this.#atMaximum = false;
    this.#scheduleRenewal(opened.expiresAt);
  }

  /**
   * Renews the session before it expires, two thirds into what is left, while the PIN is verified (an
   * unverified session is simply re-opened when it expired: nothing is lost); once the tenant's maximum
   * caps it, once more just past the expiry (renewal.ts). The server decides within the tenant's policy;
   * when it ends the session, the card is re-inserted (see #endedByServer).
   */
  #scheduleRenewal(expiresAt: number, delayMs?: number, previousExpiresAt?: number): void {
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    const next = nextRenewal(previousExpiresAt, expiresAt, Date.now());
    if (previousExpiresAt !== undefined) this.#atMaximum = next.capped;
    this.#renewTimer = setTimeout(() => void this.#renew(expiresAt), delayMs ?? next.delayMs);
    this.#renewTimer.unref();
  }

  async #renew(expiresAt: number): Promise<void> {
    const session = this.#session;
    if (!session || this.#removed) return;
    if (!this.#pinVerified) return this.#scheduleRenewal(expiresAt, Math.max(1_000, expiresAt * 1000 - Date.now() - 1_000));
    try {
      const renewed = await this.#client.renew(session);
      if (session !== this.#session) return;
      this.#events.renewed?.(renewed.expiresAt);
      this.#scheduleRenewal(renewed.expiresAt, undefined, expiresAt);
    } catch (error) {
      if (session !== this.#session) return;
      if (error instanceof CardApiError && error.mustRemoveCard) {
        this.#removed = true;
        this.#events.removed(String(error.problem['detail'] ?? 'the card was taken over by another client'));
      } else if (error instanceof CardApiError && error.sessionExpired) {
        await this.#endedByServer(this.#endReason(error)).catch(() => undefined);
      } else {
        // Busy (another renewal won) or the network: try again shortly, while the session may still live.
        this.#scheduleRenewal(expiresAt, 2_000);
      }
    }
  }

  /** Why the session is gone: past a capped expiry it simply expired, at the tenant's maximum for a verified PIN. */
  #endReason(error: CardApiError): string {
    if (this.#atMaximum) return "the verified PIN reached the tenant's maximum lifetime (cardPinMaxSeconds)";
    return String(error.problem['detail'] ?? 'the card session ended');
  }

  /** The server ended a verified session: a new one is opened and the reader reports a re-insertion. */
  async #endedByServer(reason: string): Promise<void> {
    this.#chain = undefined;
    this.#pendingResponse = undefined;
    await this.insert();
    this.#events.reinserted?.(reason);
  }

  /** Closes the session (the card leaves the reader). */
  async eject(): Promise<void> {
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    const session = this.#session;
    this.#session = undefined;
    if (session) await this.#client.close(session).catch(() => undefined);
  }

  atr(): Uint8Array {
    return Buffer.from(this.#card.atr, 'hex');
  }

  control(): void {
    this.#chain = undefined;
    this.#pendingResponse = undefined;
    this.#resetPending = true;
    this.#pinVerified = false;
  }

  async transmit(bytes: Uint8Array): Promise<Uint8Array> {
    const command = parse(bytes);
    if (!command) return this.#local(bytes[1] ?? 0, SW_WRONG_LENGTH);
    if (command.ins === INS.getResponse && !this.#chain) return this.#getResponse(command);
    this.#pendingResponse = undefined;

    // Chaining: collect fragments locally, send the whole command once.
    if (command.cla & 0x10) {
      if (this.#chain && (this.#chain.ins !== command.ins || this.#chain.p1 !== command.p1 || this.#chain.p2 !== command.p2)) this.#chain = undefined;
      this.#chain ??= { ins: command.ins, p1: command.p1, p2: command.p2, parts: [] };
      this.#chain.parts.push(command.data);
      return this.#local(command.ins, SW_OK);
    }
    let full = command;
    if (this.#chain) {
      const chain = this.#chain;
      this.#chain = undefined;
      if (chain.ins !== command.ins || chain.p1 !== command.p1 || chain.p2 !== command.p2) return this.#local(command.ins, Uint8Array.of(0x68, 0x83));
      full = { ...command, cla: command.cla & ~0x10, data: Buffer.concat([...chain.parts, command.data]) };
    }

    const local = this.#answerLocally(full);
    if (local) return this.#deliver(full, local, false);
    const response = await this.#forward(full);
    return this.#deliver(full, response, true);
  }

  #answerLocally(command: Parsed): Uint8Array | undefined {
    const known = this.#staticAnswers.get(key(command));
    if (known) return known;
    // VERIFY without data asks for the PIN status: verified since power-on, or the tries left.
    if (command.ins === INS.verify && command.p1 === 0x00 && command.p2 === 0x80 && command.data.length === 0 && this.#pinRemaining !== undefined) {
      if (this.#pinVerified) return SW_OK;
      return this.#pinRemaining === 0 ? Uint8Array.of(0x69, 0x83) : Uint8Array.of(0x63, 0xc0 | Math.min(this.#pinRemaining, 15));
    }
    if (command.ins === INS.getData && command.p1 === 0x3f && command.p2 === 0xff) {
      const tag = requestedTag(command.data);
      if (tag === undefined || PIN_PROTECTED.has(tag)) return undefined;
      if (this.#absent.has(tag)) return Uint8Array.of(0x6a, 0x82);
      const content = this.#objects.get(tag);
      if (!content) return undefined;
      return Buffer.concat([tlv(tag === 0x7e || tag === 0x7f61 ? tag : 0x53, content), SW_OK]);
    }
    return undefined;
  }

  async #forward(command: Parsed): Promise<Uint8Array> {
    if (this.#removed || !this.#session) return SW_CONDITIONS;
    const wire = encodeExtended(command);
    for (let attempt = 0; ; attempt++) {
      try {
        this.requests++;
        const { response, pinRemaining } = await this.#client.exchange(this.#session, wire, { reset: this.#resetPending });
        this.#resetPending = false;
        const sw = (response[response.length - 2]! << 8) | response[response.length - 1]!;
        this.#notePin(command, sw, pinRemaining);
        // SELECT answers (found or not) and "not supported" never change for this card.
        if (STATIC_INS.has(command.ins) || sw === 0x6d00 || sw === 0x6e00) this.#staticAnswers.set(key(command), response);
        if (CHANGES_OBJECTS.has(command.ins) && sw === 0x9000) this.#afterChange(command);
        if (command.ins === INS.getData && command.p1 === 0x3f && command.p2 === 0xff) {
          const tag = requestedTag(command.data);
          if (sw === 0x6a82 && tag !== undefined && !PIN_PROTECTED.has(tag)) this.#absent.add(tag);
          if (sw === 0x9000) this.#remember(command, response);
        }
        return response;
      } catch (error) {
        if (error instanceof CardApiError) {
          if (error.mustRemoveCard) {
            this.#removed = true;
            this.#events.removed(String(error.problem['detail'] ?? 'the card was taken over by another client'));
            return SW_NO_DIAGNOSIS;
          }
          if (error.sessionExpired && attempt === 0) {
            // A verified PIN is gone with the session: the host must learn it (re-insertion), not see
            // "security status not satisfied" behind a login it still believes in.
            if (this.#pinVerified) {
              await this.#endedByServer(this.#endReason(error));
              return SW_NO_DIAGNOSIS;
            }
            await this.insert();
            continue;
          }
          if (error.status === 409 && attempt < 2) continue; // busy: another command on this session
          return SW_NO_DIAGNOSIS;
        }
        if (attempt < 2) {
          await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
          continue;
        }
        return SW_NO_DIAGNOSIS; // network down: the host sees a card error, the agent keeps trying later
      }
    }
  }

  /** Tracks the PIN state the host may ask about: the tries the server reports, and VERIFY outcomes. */
  #notePin(command: Parsed, sw: number, remaining: number | undefined): void {
    if (remaining !== undefined) this.#pinRemaining = remaining;
    if (command.ins === INS.verify && command.p2 === 0x80) {
      if (command.p1 === 0xff) this.#pinVerified = false;
      else if (command.data.length > 0) this.#pinVerified = sw === 0x9000;
      else this.#pinVerified = sw === 0x9000;
    }
    if (command.ins === INS.reset && sw === 0x9000) this.#pinVerified = false;
  }

  /**
   * A written object is read from the server next time, and so is the Security Object (the card re-signs
   * it when an object it hashes changes); a reset or key change drops whatever may be stale.
   */
  #afterChange(command: Parsed): void {
    this.#absent.clear();
    const tag = command.ins === INS.putData ? requestedTag(command.data) : undefined;
    if (tag !== undefined) {
      this.#objects.delete(tag);
      this.#objects.delete(SECURITY_OBJECT);
    }
    if (command.ins === INS.reset) this.#objects.clear();
  }

  /** A public object the server returned is kept for the next read (its content inside 53 / 7E). */
  #remember(command: Parsed, response: Uint8Array): void {
    const tag = requestedTag(command.data);
    if (tag === undefined || PIN_PROTECTED.has(tag)) return;
    const content = unwrap(response.subarray(0, response.length - 2), tag === 0x7e || tag === 0x7f61 ? tag : 0x53);
    if (content) this.#objects.set(tag, content);
  }

  /** Hands the host at most what its Le allows; keeps the rest for GET RESPONSE (61xx). */
  #deliver(command: Parsed, response: Uint8Array, remote: boolean): Uint8Array {
    const sw = response.subarray(response.length - 2);
    const data = response.subarray(0, response.length - 2);
    const limit = command.extended ? 65_536 : 256;
    // No Le at all (T=1 hosts often omit it) still takes a short response, like Le 00.
    const ne = command.ne < 0 ? limit : Math.min(command.ne, limit);
    let out: Uint8Array;
    if (data.length > ne && sw[0] === 0x90) {
      this.#pendingResponse = data.subarray(ne);
      out = Buffer.concat([data.subarray(0, ne), moreAvailable(this.#pendingResponse.length)]);
    } else out = response;
    this.#events.trace?.({ ins: command.ins, sw: (out[out.length - 2]! << 8) | out[out.length - 1]!, remote });
    return out;
  }

  #getResponse(command: Parsed): Uint8Array {
    const pending = this.#pendingResponse;
    if (!pending) return this.#local(command.ins, SW_CONDITIONS);
    const ne = command.ne === 0 ? 256 : Math.min(command.ne, 256);
    const chunk = pending.subarray(0, ne);
    const rest = pending.subarray(chunk.length);
    this.#pendingResponse = rest.length ? rest : undefined;
    const out = Buffer.concat([chunk, rest.length ? moreAvailable(rest.length) : SW_OK]);
    this.#events.trace?.({ ins: command.ins, sw: (out[out.length - 2]! << 8) | out[out.length - 1]!, remote: false });
    return out;
  }

  #local(ins: number, sw: Uint8Array): Uint8Array {
    this.#events.trace?.({ ins, sw: (sw[0]! << 8) | sw[1]!, remote: false });
    return sw;
  }

  #loadObjects(card: PublicCard): void {
    this.#objects = new Map(Object.entries(card.objects).map(([tag, content]) => [Number.parseInt(tag, 16), Buffer.from(content, 'base64')]));
  }
}

const key = (command: Parsed): string => Buffer.from([command.ins, command.p1, command.p2, ...command.data]).toString('hex');
const moreAvailable = (remaining: number): Uint8Array => Uint8Array.of(0x61, remaining >= 256 ? 0 : remaining);

/** ISO 7816-4 command APDU cases 1-4, short and extended; undefined when malformed. */
export function parse(bytes: Uint8Array): Parsed | undefined {
  if (bytes.length < 4) return undefined;
  const [cla, ins, p1, p2] = [bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!];
  const body = bytes.subarray(4);
  const header = { cla, ins, p1, p2 };
  if (body.length === 0) return { ...header, data: new Uint8Array(0), ne: -1, extended: false };
  if (body.length === 1) return { ...header, data: new Uint8Array(0), ne: body[0] === 0 ? 256 : body[0]!, extended: false };
  if (body[0] !== 0) {
    const lc = body[0]!;
    if (body.length === 1 + lc) return { ...header, data: body.subarray(1), ne: -1, extended: false };
    if (body.length === 2 + lc) return { ...header, data: body.subarray(1, 1 + lc), ne: body[1 + lc] === 0 ? 256 : body[1 + lc]!, extended: false };
    return undefined;
  }
  if (body.length === 3) {
    const le = (body[1]! << 8) | body[2]!;
    return { ...header, data: new Uint8Array(0), ne: le === 0 ? 65_536 : le, extended: true };
  }
  const lc = (body[1]! << 8) | body[2]!;
  if (lc === 0 || body.length < 3 + lc) return undefined;
  if (body.length === 3 + lc) return { ...header, data: body.subarray(3, 3 + lc), ne: -1, extended: true };
  if (body.length === 5 + lc) {
    const le = (body[3 + lc]! << 8) | body[4 + lc]!;
    return { ...header, data: body.subarray(3, 3 + lc), ne: le === 0 ? 65_536 : le, extended: true };
  }
  return undefined;
}

/** The command as one extended APDU asking for every response byte (Le 0000), so the server answers once. */
function encodeExtended(command: Parsed): Uint8Array {
  const head = [command.cla & ~0x10, command.ins, command.p1, command.p2];
  const wantsData = command.ne !== -1;
  if (command.data.length === 0) return Uint8Array.from(wantsData ? [...head, 0, 0, 0] : head);
  const lc = command.data.length;
  return Buffer.concat([Buffer.from([...head, 0, lc >> 8, lc & 0xff]), command.data, Buffer.from(wantsData ? [0, 0] : [])]);
}

function requestedTag(data: Uint8Array): number | undefined {
  if (data[0] !== 0x5c) return undefined;
  const length = data[1] ?? 0;
  if (length < 1 || length > 3 || data.length < 2 + length) return undefined;
  let tag = 0;
  for (let i = 0; i < length; i++) tag = (tag << 8) | data[2 + i]!;
  return tag;
}

/** The value of a TLV with this (one- or two-byte) tag spanning all of `bytes`, or undefined. */
function unwrap(bytes: Uint8Array, tag: number): Uint8Array | undefined {
  const tagLength = tag > 0xff ? 2 : 1;
  if (tagLength === 2 ? ((bytes[0]! << 8) | bytes[1]!) !== tag : bytes[0] !== tag) return undefined;
  let offset = tagLength;
  let length = bytes[offset] ?? 0;
  offset++;
  if (length === 0x81) length = bytes[offset++] ?? 0;
  else if (length === 0x82) {
    length = ((bytes[offset] ?? 0) << 8) | (bytes[offset + 1] ?? 0);
    offset += 2;
  } else if (length > 0x82) return undefined;
  return offset + length === bytes.length ? bytes.subarray(offset) : undefined;
}

function tlv(tag: number, value: Uint8Array): Uint8Array {
  const tagBytes = tag > 0xffff ? [tag >> 16, (tag >> 8) & 0xff, tag & 0xff] : tag > 0xff ? [tag >> 8, tag & 0xff] : [tag];
  const n = value.length;
  const length = n < 0x80 ? [n] : n <= 0xff ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([...tagBytes, ...length]), value]);
}
