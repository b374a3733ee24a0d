/**
 * BER-TLV as PIV uses it (SP 800-73-4 Part 1 §3, ISO 7816-4 §5.2): tags of one to three bytes, definite
 * lengths in the short form or the long forms 81 xx / 82 xx xx. Decoding never throws: malformed input
 * yields undefined so each command can answer its own status word.
 */

export interface Tlv {
  readonly tag: number;
  readonly value: Uint8Array;
}

/** Encodes a length: short form below 128, then 81 xx, then 82 xx xx (PIV objects stay below 64 KiB). */
export function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  if (length <= 0xff) return Uint8Array.of(0x81, length);
  if (length <= 0xffff) return Uint8Array.of(0x82, length >> 8, length & 0xff);
  throw new RangeError(`TLV length ${length} exceeds 65535`);
}

/** The bytes of a tag number, most significant first (0x5FC102 -> 5F C1 02). */
export function tagBytes(tag: number): Uint8Array {
  if (tag <= 0xff) return Uint8Array.of(tag);
  if (tag <= 0xffff) return Uint8Array.of(tag >> 8, tag & 0xff);
  return Uint8Array.of((tag >> 16) & 0xff, (tag >> 8) & 0xff, tag & 0xff);
}

export function tlv(tag: number, ...values: Uint8Array[]): Uint8Array {
  const value = concat(...values);
  return concat(tagBytes(tag), encodeLength(value.length), value);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

interface Cursor {
  readonly bytes: Uint8Array;
  offset: number;
}

function readTag(cursor: Cursor): number | undefined {
  const first = cursor.bytes[cursor.offset];
  if (first === undefined) return undefined;
  cursor.offset++;
  let tag = first;
  // Low five bits all set: the tag continues while the next byte has its high bit set (at most 3 bytes).
  if ((first & 0x1f) === 0x1f) {
    for (let i = 0; i < 2; i++) {
      const next = cursor.bytes[cursor.offset];
      if (next === undefined) return undefined;
      cursor.offset++;
      tag = (tag << 8) | next;
      if ((next & 0x80) === 0) return tag;
    }
    return undefined;
  }
  return tag;
}

function readLength(cursor: Cursor): number | undefined {
  const first = cursor.bytes[cursor.offset];
  if (first === undefined) return undefined;
  cursor.offset++;
  if (first < 0x80) return first;
  const count = first & 0x7f;
  if (count === 0 || count > 2) return undefined;
  let length = 0;
  for (let i = 0; i < count; i++) {
    const next = cursor.bytes[cursor.offset];
    if (next === undefined) return undefined;
    cursor.offset++;
    length = (length << 8) | next;
  }
  return length;
}

/** Decodes a sequence of TLVs that must fill `bytes` exactly; undefined when anything is malformed. */
export function decodeAll(bytes: Uint8Array): Tlv[] | undefined {
  const cursor: Cursor = { bytes, offset: 0 };
  const out: Tlv[] = [];
  while (cursor.offset < bytes.length) {
    const tag = readTag(cursor);
    if (tag === undefined) return undefined;
    const length = readLength(cursor);
    if (length === undefined || cursor.offset + length > bytes.length) return undefined;
    out.push({ tag, value: bytes.subarray(cursor.offset, cursor.offset + length) });
    cursor.offset += length;
  }
  return out;
}

/** Decodes exactly one TLV filling `bytes`. */
export function decodeOne(bytes: Uint8Array): Tlv | undefined {
  const all = decodeAll(bytes);
  return all?.length === 1 ? all[0] : undefined;
}

/**
 * Decodes TLVs into a map, refusing duplicates and tags outside `allowed`; undefined when malformed.
 */
export function decodeMap(bytes: Uint8Array, allowed: readonly number[]): Map<number, Uint8Array> | undefined {
  const all = decodeAll(bytes);
  if (!all) return undefined;
  const map = new Map<number, Uint8Array>();
  for (const item of all) {
    if (!allowed.includes(item.tag) || map.has(item.tag)) return undefined;
    map.set(item.tag, item.value);
  }
  return map;
}
