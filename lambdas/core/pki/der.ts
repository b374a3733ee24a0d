/**
 * A minimal DER reader and writer for the few structures the PKI endpoints read and build themselves
 * (OCSP requests and responses, RFC 6960; the CRL number): definite lengths only, at most 4 length
 * bytes, no indefinite forms. Certificates and CRLs are built by @peculiar/x509.
 */

export const TAG = {
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  enumerated: 0x0a,
  sequence: 0x30,
  utcTime: 0x17,
  generalizedTime: 0x18,
} as const;

/** A context-specific tag number: constructed (EXPLICIT or a constructed IMPLICIT type) or primitive. */
export const contextTag = (n: number, constructed = true): number => (constructed ? 0xa0 : 0x80) | n;

export class DerError extends Error {}

export interface DerNode {
  readonly tag: number;
  /** The content octets. */
  readonly value: Uint8Array;
  /** The whole encoding, tag and length included. */
  readonly raw: Uint8Array;
}

/** Reads one element at `offset`; throws DerError on anything malformed or truncated. */
export function readNode(bytes: Uint8Array, offset = 0): { node: DerNode; next: number } {
  if (offset + 2 > bytes.length) throw new DerError('truncated element');
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used here');
  let length = bytes[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new DerError('unsupported length form');
    if (start + count > bytes.length) throw new DerError('truncated length');
    length = 0;
    for (let i = 0; i < count; i += 1) length = length * 256 + bytes[start + i]!;
    if (length < 0x80 || bytes[start] === 0) throw new DerError('length not minimally encoded');
    start += count;
  }
  const end = start + length;
  if (end > bytes.length) throw new DerError('truncated content');
  return { node: { tag, value: bytes.subarray(start, end), raw: bytes.subarray(offset, end) }, next: end };
}

/** Parses exactly one element spanning the whole input. */
export function parse(bytes: Uint8Array): DerNode {
  const { node, next } = readNode(bytes);
  if (next !== bytes.length) throw new DerError('trailing bytes after the element');
  return node;
}

/** The elements inside a constructed element. */
export function children(node: DerNode): DerNode[] {
  if (!(node.tag & 0x20)) throw new DerError('not a constructed element');
  const out: DerNode[] = [];
  for (let offset = 0; offset < node.value.length;) {
    const { node: child, next } = readNode(node.value, offset);
    out.push(child);
    offset = next;
  }
  return out;
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node || node.tag !== tag) throw new DerError(`${what} expected`);
  return node;
}

export function decodeOid(node: DerNode): string {
  const bytes = expectTag(node, TAG.oid, 'object identifier').value;
  if (bytes.length === 0) throw new DerError('empty object identifier');
  const arcs: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

// ---------------------------------------------------------------------------------------------- writer

function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function encode(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const total = contents.reduce((sum, part) => sum + part.length, 0);
  const length = encodeLength(total);
  const out = new Uint8Array(1 + length.length + total);
  out[0] = tag;
  out.set(length, 1);
  let offset = 1 + length.length;
  for (const part of contents) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export const sequence = (...contents: Uint8Array[]): Uint8Array => encode(TAG.sequence, ...contents);
export const explicit = (n: number, content: Uint8Array): Uint8Array => encode(contextTag(n), content);
export const octetString = (bytes: Uint8Array): Uint8Array => encode(TAG.octetString, bytes);
export const bitString = (bytes: Uint8Array): Uint8Array => encode(TAG.bitString, Uint8Array.of(0), bytes);
export const enumerated = (value: number): Uint8Array => encode(TAG.enumerated, Uint8Array.of(value));

/** A non-negative INTEGER from its big-endian magnitude (a leading zero added when the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start += 1;
  const trimmed = magnitude.subarray(start);
  return encode(TAG.integer, trimmed[0]! & 0x80 ? Uint8Array.of(0, ...trimmed) : trimmed);
}

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const body: number[] = [];
  const push = (value: number) => {
    const groups = [value & 0x7f];
    for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) groups.unshift((rest & 0x7f) | 0x80);
    body.push(...groups);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) push(arc);
  return encode(TAG.oid, Uint8Array.from(body));
}

/** RFC 5280 §4.1.2.5 Time: UTCTime through 2049, GeneralizedTime from 2050, whole seconds. */
export function time(date: Date): Uint8Array {
  if (date.getUTCFullYear() >= 2050) return generalizedTime(date);
  const text = date
    .toISOString()
    .slice(2)
    .replace(/[-:T]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return encode(TAG.utcTime, new TextEncoder().encode(text));
}

/** GeneralizedTime in UTC, whole seconds (RFC 5280 §4.1.2.5.2). */
export function generalizedTime(date: Date): Uint8Array {
  const text = date
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return encode(TAG.generalizedTime, new TextEncoder().encode(text));
}
