/**
 * Signed PIV content (pure): the CHUID's issuer asymmetric signature (SP 800-73-4 Part 1 §3.3.2, tag 3E)
 * and the Security Object (Table 12, tags BA/BB), both CMS SignedData (RFC 5652) made with the tenant's
 * content-signing certificate (EKU id-PIV-content-signing). The signature itself comes from the caller
 * (`ContentSignature`), so the key stays wherever it lives (KMS).
 */
import { createHash } from 'node:crypto';
import { children, encode, explicit, octetString, oid, parse, sequence, time, TAG as DER } from '../pki/der.ts';
import { TAG } from './objects.ts';
import { concat, decodeAll, tlv } from './tlv.ts';

export const OID = {
  sha256: '2.16.840.1.101.3.4.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  /** id-PIV-CHUIDSecurityObject: the eContentType of the CHUID signature. */
  chuidSecurityObject: '2.16.840.1.101.3.6.1',
  /** id-icao-ldsSecurityObject: the eContentType of the Security Object. */
  ldsSecurityObject: '2.23.136.1.1.1',
  /** id-PIV-content-signing, the EKU of the signer's certificate. */
  pivContentSigning: '2.16.840.1.101.3.6.7',
} as const;

/** Signs the DER of the signed attributes with ECDSA P-256 / SHA-256; returns the DER ECDSA signature. */
export type ContentSignature = (toBeSigned: Uint8Array) => Promise<Uint8Array>;

export interface ContentSigner {
  /** The content-signing certificate (DER), carried in each SignedData. */
  readonly certificate: Uint8Array;
  readonly sign: ContentSignature;
}

/**
 * Container IDs (SP 800-73-4 Part 1 Table 2) of the objects the Security Object hashes, in data-group
 * order: the DG number is the index + 1, fixed, so a relying party's mapping never shifts.
 */
const HASHED: ReadonlyArray<readonly [tag: number, containerId: number]> = [
  [TAG.CHUID, 0x3000],
  [TAG.CCC, 0xdb00],
  [TAG.DISCOVERY, 0x6050],
  [TAG.KEY_HISTORY, 0x6060],
  [TAG.CERT_9A, 0x0101],
  [TAG.CERT_9C, 0x0100],
  [TAG.CERT_9D, 0x0102],
  [TAG.CERT_9E, 0x0500],
  [TAG.PRINTED_INFORMATION, 0x3001],
  [TAG.FINGERPRINTS, 0x6010],
  [TAG.FACIAL_IMAGE, 0x6030],
  ...Array.from({ length: 20 }, (_, i) => [TAG.RETIRED_FIRST + i, 0x1001 + i] as const),
];

/** Whether a change to this object makes the Security Object stale. */
export const isHashedObject = (tag: number): boolean => HASHED.some(([hashed]) => hashed === tag);

const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest());
const integer = (value: number): Uint8Array => encode(DER.integer, Uint8Array.of(value));
const sha256Algorithm = (): Uint8Array => sequence(oid(OID.sha256));
/** DER SET OF: elements sorted by their encodings (X.690 §11.6). */
const setOf = (...elements: Uint8Array[]): Uint8Array => encode(0x31, ...[...elements].sort((a, b) => Buffer.compare(a, b)));
const attribute = (type: string, value: Uint8Array): Uint8Array => sequence(oid(type), setOf(value));

/**
 * CMS SignedData (RFC 5652 §5) with one signer identified by issuer and serial number, signed attributes
 * content type, signing time and message digest, the signer's certificate, and the content either
 * encapsulated or detached (the CHUID signs the bytes in front of it, which travel beside it).
 */
export async function signedData(input: {
  contentType: string;
  content: Uint8Array;
  detached: boolean;
  signer: ContentSigner;
  signingTime: Date;
}): Promise<Uint8Array> {
  const { issuer, serial } = issuerAndSerial(input.signer.certificate);
  const signedAttributes = setOf(
    attribute(OID.contentType, oid(input.contentType)),
    attribute(OID.signingTime, time(input.signingTime)),
    attribute(OID.messageDigest, octetString(sha256(input.content))),
  );
  const signature = await input.signer.sign(signedAttributes);
  const signerInfo = sequence(
    integer(1),
    sequence(issuer, serial),
    sha256Algorithm(),
    encode(0xa0, parse(signedAttributes).value), // [0] IMPLICIT SET OF Attribute
    sequence(oid(OID.ecdsaWithSha256)),
    octetString(signature),
  );
  const encapsulated = sequence(oid(input.contentType), ...(input.detached ? [] : [explicit(0, octetString(input.content))]));
  const content = sequence(integer(3), setOf(sha256Algorithm()), encapsulated, encode(0xa0, input.signer.certificate), setOf(signerInfo));
  return sequence(oid(OID.signedData), explicit(0, content));
}

/** The CHUID with its issuer signature: every element before 3E is what the signature covers. */
export async function signChuid(unsignedChuid: Uint8Array, signer: ContentSigner, now: Date): Promise<Uint8Array> {
  const items = decodeAll(unsignedChuid);
  if (!items) throw new RangeError('CHUID is not BER-TLV');
  const signedPart = concat(...items.filter((item) => item.tag !== 0x3e && item.tag !== 0xfe).map((item) => tlv(item.tag, item.value)));
  const signature = await signedData({ contentType: OID.chuidSecurityObject, content: signedPart, detached: true, signer, signingTime: now });
  return concat(signedPart, tlv(0x3e, signature), tlv(0xfe));
}

/**
 * The Security Object (Table 12): BA the mapping of data groups to container IDs, BB a SignedData over
 * the LDSSecurityObject (ICAO 9303: version 0, SHA-256, one hash per data group) of the objects present
 * (each hashed as stored: its content without the 53 wrapper), FE.
 */
export async function buildSecurityObject(objects: ReadonlyMap<number, Uint8Array>, signer: ContentSigner, now: Date): Promise<Uint8Array> {
  const groups = HASHED.flatMap(([tag, containerId], index) => {
    const value = objects.get(tag);
    return value && value.length > 0 ? [{ number: index + 1, containerId, value }] : [];
  });
  const mapping = concat(...groups.map((g) => Uint8Array.of(g.number, g.containerId >> 8, g.containerId & 0xff)));
  const lds = sequence(integer(0), sha256Algorithm(), sequence(...groups.map((g) => sequence(integer(g.number), octetString(sha256(g.value))))));
  const cms = await signedData({ contentType: OID.ldsSecurityObject, content: lds, detached: false, signer, signingTime: now });
  return concat(tlv(0xba, mapping), tlv(0xbb, cms), tlv(0xfe));
}

/** The issuer Name and serialNumber INTEGER of a certificate, as DER, for IssuerAndSerialNumber. */
function issuerAndSerial(certificate: Uint8Array): { issuer: Uint8Array; serial: Uint8Array } {
  const [tbs] = children(parse(certificate));
  const fields = children(tbs!);
  const versioned = fields[0]!.tag === 0xa0 ? 1 : 0;
  return { serial: fields[versioned]!.raw, issuer: fields[versioned + 2]!.raw };
}
