/**
 * Builders for the data objects written at enrolment (pure). Each returns the value the card stores with
 * `PivCard.writeObject`: the content GET DATA wraps in 53 (in 7E for Discovery).
 */
import { gunzipSync } from 'node:zlib';
import { PIV_AID } from './aid.ts';
import { concat, decodeAll, decodeOne, tlv } from './tlv.ts';

// ------------------------------------------------------------------------------------------------ FASC-N

export interface FascnFields {
  /** Four digits each; 9999/9999/999999 marks a non-federal issuer (SP 800-73-4 Part 1 §3.3). */
  readonly agencyCode: string;
  readonly systemCode: string;
  readonly credentialNumber: string;
  readonly credentialSeries: string;
  readonly individualCredentialIssue: string;
  readonly personIdentifier: string;
  readonly organizationalCategory: string;
  readonly organizationalIdentifier: string;
  readonly personAssociationCategory: string;
}

/** The FASC-N a non-federal issuer uses: every field nines, so relying parties key on the GUID instead. */
export const NON_FEDERAL_FASCN: FascnFields = {
  agencyCode: '9999',
  systemCode: '9999',
  credentialNumber: '999999',
  credentialSeries: '9',
  individualCredentialIssue: '9',
  personIdentifier: '9999999999',
  organizationalCategory: '9',
  organizationalIdentifier: '9999',
  personAssociationCategory: '9',
};

const FIELD_WIDTHS: ReadonlyArray<[keyof FascnFields, number]> = [
  ['agencyCode', 4],
  ['systemCode', 4],
  ['credentialNumber', 6],
  ['credentialSeries', 1],
  ['individualCredentialIssue', 1],
  ['personIdentifier', 10],
  ['organizationalCategory', 1],
  ['organizationalIdentifier', 4],
  ['personAssociationCategory', 1],
];

const START_SENTINEL = 0xb;
const FIELD_SEPARATOR = 0xd;
const END_SENTINEL = 0xf;

/**
 * Encodes a FASC-N (TIG SCEPACS): 40 characters of 4-bit BCD, least significant bit first, each followed
 * by an odd-parity bit, ending with a longitudinal redundancy character: 200 bits, 25 bytes.
 */
export function encodeFascn(fields: FascnFields): Uint8Array {
  const chars: number[] = [START_SENTINEL];
  FIELD_WIDTHS.forEach(([name, width], index) => {
    const value = fields[name];
    if (value.length !== width || !/^[0-9]+$/.test(value)) throw new RangeError(`FASC-N ${name} must be ${width} digits`);
    chars.push(...[...value].map(Number));
    // Separators come after the first five fields; PI, OC, OI and POA run together up to the end sentinel.
    if (index < 5) chars.push(FIELD_SEPARATOR);
  });
  chars.push(END_SENTINEL);
  chars.push(chars.reduce((lrc, c) => lrc ^ c, 0));
  const bits: number[] = [];
  for (const c of chars) {
    const data = [c & 1, (c >> 1) & 1, (c >> 2) & 1, (c >> 3) & 1];
    const ones = data.reduce((a, b) => a + b, 0);
    bits.push(...data, ones % 2 === 0 ? 1 : 0);
  }
  const out = new Uint8Array(25);
  bits.forEach((bit, i) => {
    if (bit) out[i >> 3]! |= 0x80 >> (i & 7);
  });
  return out;
}

/** Decodes a FASC-N, checking every parity bit, the sentinels, separators and the LRC. */
export function decodeFascn(bytes: Uint8Array): FascnFields | undefined {
  if (bytes.length !== 25) return undefined;
  const chars: number[] = [];
  for (let c = 0; c < 40; c++) {
    let value = 0;
    let ones = 0;
    for (let b = 0; b < 5; b++) {
      const i = c * 5 + b;
      const bit = (bytes[i >> 3]! >> (7 - (i & 7))) & 1;
      ones += bit;
      if (b < 4) value |= bit << b;
    }
    if (ones % 2 !== 1) return undefined;
    chars.push(value);
  }
  const lrc = chars.slice(0, 39).reduce((a, c) => a ^ c, 0);
  if (chars[0] !== START_SENTINEL || chars[38] !== END_SENTINEL || chars[39] !== lrc) return undefined;
  const out: Partial<Record<keyof FascnFields, string>> = {};
  let position = 1;
  for (const [index, [name, width]] of FIELD_WIDTHS.entries()) {
    const digits = chars.slice(position, position + width);
    if (digits.some((d) => d > 9)) return undefined;
    out[name] = digits.join('');
    position += width;
    if (index < 5) {
      if (chars[position] !== FIELD_SEPARATOR) return undefined;
      position++;
    }
  }
  return out as FascnFields;
}

// ------------------------------------------------------------------------------------------------ CHUID

export interface ChuidInput {
  /** The card's 16-byte GUID (an RFC 4122 UUID), unique per card. */
  readonly guid: Uint8Array;
  /** Expiration date of the card (the CHUID carries YYYYMMDD). */
  readonly expires: Date;
  /** Defaults to the non-federal FASC-N. */
  readonly fascn?: FascnFields;
}

/**
 * CHUID (SP 800-73-4 Part 1 Table 9): 30 FASC-N, 34 GUID, 35 expiration date, 3E issuer signature and FE
 * error detection code. The signature is left empty here; enrolment fills it with `signChuid`
 * (content-signing.ts).
 */
export function buildChuid(input: ChuidInput): Uint8Array {
  if (input.guid.length !== 16) throw new RangeError('GUID must be 16 bytes');
  const date = input.expires.toISOString().slice(0, 10).replaceAll('-', '');
  return concat(
    tlv(0x30, encodeFascn(input.fascn ?? NON_FEDERAL_FASCN)),
    tlv(0x34, input.guid),
    tlv(0x35, new TextEncoder().encode(date)),
    tlv(0x3e),
    tlv(0xfe),
  );
}

export interface ChuidContent {
  readonly fascn: FascnFields | undefined;
  readonly guid: Uint8Array;
  readonly expires: string;
}

export function parseChuid(content: Uint8Array): ChuidContent | undefined {
  const items = decodeAll(content);
  const get = (tag: number): Uint8Array | undefined => items?.find((item) => item.tag === tag)?.value;
  const fascn = get(0x30);
  const guid = get(0x34);
  const expires = get(0x35);
  if (!fascn || !guid || guid.length !== 16 || !expires) return undefined;
  return { fascn: decodeFascn(fascn), guid, expires: new TextDecoder().decode(expires) };
}

// -------------------------------------------------------------------------------------------------- CCC

/**
 * Card Capability Container (Table 8). F0 is the card identifier: the GSC-IS RID A0 00 00 01 16, a
 * manufacturer byte (FF: not a registered maker), the card type (01: file-system style card, so OpenSC does
 * not take it for a Java CAC applet) and 14 bytes unique to the card.
 */
export function buildCcc(cardId: Uint8Array): Uint8Array {
  if (cardId.length !== 14) throw new RangeError('CCC card identifier must be 14 bytes');
  return concat(
    tlv(0xf0, Uint8Array.of(0xa0, 0x00, 0x00, 0x01, 0x16, 0xff, 0x01), cardId),
    tlv(0xf1, Uint8Array.of(0x21)),
    tlv(0xf2, Uint8Array.of(0x21)),
    tlv(0xf3),
    tlv(0xf4, Uint8Array.of(0x00)),
    tlv(0xf5, Uint8Array.of(0x10)),
    tlv(0xf6),
    tlv(0xf7),
    tlv(0xfa),
    tlv(0xfb),
    tlv(0xfc),
    tlv(0xfd),
    tlv(0xfe),
  );
}

// ------------------------------------------------------------------------------------------- Discovery

/**
 * Discovery object (Table 18), the content of tag 7E: the full PIV AID and the PIN usage policy 40 00 (the
 * PIV Card Application PIN satisfies the access rules; no global PIN, no OCC, no VCI). The same for every
 * card, so every read is byte-identical.
 */
export function buildDiscovery(): Uint8Array {
  return concat(tlv(0x4f, PIV_AID), tlv(0x5f2f, Uint8Array.of(0x40, 0x00)));
}

// ----------------------------------------------------------------------------------------- Key History

export interface KeyHistoryInput {
  /** Retired key-management keys whose certificates are on the card. */
  readonly onCard: number;
  /** Retired keys whose certificates are only at `offCardUrl`. */
  readonly offCard: number;
  readonly offCardUrl?: string;
}

/** Key History object (Table 19): C1, C2, optional F3 URL (required when C2 > 0), FE. */
export function buildKeyHistory(input: KeyHistoryInput): Uint8Array {
  const inRange = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 20;
  if (!inRange(input.onCard) || !inRange(input.offCard) || input.onCard + input.offCard > 20) {
    throw new RangeError('key history counts must be 0..20 in total');
  }
  if (input.offCard > 0 && !input.offCardUrl) throw new RangeError('off-card certificates need a URL');
  return concat(
    tlv(0xc1, Uint8Array.of(input.onCard)),
    tlv(0xc2, Uint8Array.of(input.offCard)),
    ...(input.offCardUrl ? [tlv(0xf3, new TextEncoder().encode(input.offCardUrl))] : []),
    tlv(0xfe),
  );
}

// ---------------------------------------------------------------------------------------- Certificates

/** Certificate object (Table 10 ff.): 70 certificate DER, 71 CertInfo 00 (not compressed), FE empty. */
export function buildCertificateObject(certificateDer: Uint8Array): Uint8Array {
  if (certificateDer.length === 0) throw new RangeError('certificate is empty');
  return concat(tlv(0x70, certificateDer), tlv(0x71, Uint8Array.of(0x00)), tlv(0xfe));
}

/** Decompressed certificates larger than this are refused (a gzip bomb guard; PIV objects are small). */
const MAX_CERTIFICATE_BYTES = 64 * 1024;

/**
 * The certificate inside a certificate object, gunzipped when CertInfo says it is compressed (yubico-piv-tool
 * may write those); undefined when the object is malformed.
 */
export function parseCertificateObject(content: Uint8Array): Uint8Array | undefined {
  const items = decodeAll(content);
  if (!items) return undefined;
  const certificate = items.find((item) => item.tag === 0x70)?.value;
  const info = items.find((item) => item.tag === 0x71)?.value;
  if (!certificate || certificate.length === 0) return undefined;
  const compressed = info !== undefined && info.length === 1 && (info[0]! & 0x01) === 1;
  if (!compressed) return decodeOne(certificate) ? certificate : undefined;
  try {
    return new Uint8Array(gunzipSync(certificate, { maxOutputLength: MAX_CERTIFICATE_BYTES }));
  } catch {
    return undefined;
  }
}
