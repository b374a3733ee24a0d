/**
 * PIV data objects (SP 800-73-4 Part 1 Table 3) and the yubico objects yubico-piv-tool reads: their BER-TLV
 * tags, who may read them, and whether PUT DATA may write them.
 */

export const TAG = {
  CCC: 0x5fc107,
  CHUID: 0x5fc102,
  CERT_9A: 0x5fc105,
  FINGERPRINTS: 0x5fc103,
  SECURITY_OBJECT: 0x5fc106,
  FACIAL_IMAGE: 0x5fc108,
  PRINTED_INFORMATION: 0x5fc109,
  CERT_9C: 0x5fc10a,
  CERT_9D: 0x5fc10b,
  CERT_9E: 0x5fc101,
  DISCOVERY: 0x7e,
  KEY_HISTORY: 0x5fc10c,
  /** Retired key-management certificates 1..20 are 5FC10D..5FC120. */
  RETIRED_FIRST: 0x5fc10d,
  RETIRED_LAST: 0x5fc120,
  IRIS_IMAGES: 0x5fc121,
  BIOMETRIC_GROUP_TEMPLATE: 0x7f61,
  SM_CERT_SIGNER: 0x5fc122,
  PAIRING_CODE: 0x5fc123,
  /** yubico: admin data (PUK-blocked flag, salt, mgmt-key-protected flag). */
  YUBICO_ADMIN: 0x5fff00,
  /** yubico: attestation certificate of slot F9. */
  YUBICO_ATTESTATION: 0x5fff01,
  /** yubico: Microsoft container map and roots (5FFF10..5FFF15). */
  YUBICO_MSCMAP: 0x5fff10,
  YUBICO_MSROOTS_LAST: 0x5fff15,
} as const;

export interface ObjectRule {
  /** Reading needs the PIN verified in this session (SP 800-73-4: biometrics, printed information). */
  readonly pinToRead: boolean;
  /** PUT DATA may write it (always behind 9B authentication). */
  readonly writable: boolean;
}

const PIN_PROTECTED = new Set<number>([TAG.FINGERPRINTS, TAG.FACIAL_IMAGE, TAG.PRINTED_INFORMATION, TAG.IRIS_IMAGES, TAG.PAIRING_CODE]);

/** The rule for a tag, or undefined when the tag names no object this card knows. */
export function objectRule(tag: number): ObjectRule | undefined {
  const known =
    (tag >= 0x5fc101 && tag <= TAG.PAIRING_CODE) ||
    tag === TAG.DISCOVERY ||
    tag === TAG.BIOMETRIC_GROUP_TEMPLATE ||
    tag === TAG.YUBICO_ADMIN ||
    tag === TAG.YUBICO_ATTESTATION ||
    (tag >= TAG.YUBICO_MSCMAP && tag <= TAG.YUBICO_MSROOTS_LAST);
  if (!known) return undefined;
  // Discovery describes the application itself: it is fixed, never written by PUT DATA.
  return { pinToRead: PIN_PROTECTED.has(tag), writable: tag !== TAG.DISCOVERY };
}

/** The tag GET DATA wraps an object's content in: 7E and 7F61 answer under their own tag, the rest in 53. */
export function responseTag(tag: number): number {
  return tag === TAG.DISCOVERY || tag === TAG.BIOMETRIC_GROUP_TEMPLATE ? tag : 0x53;
}

/** Certificate object of each standard slot. */
export const CERT_TAG_OF_SLOT = {
  '9a': TAG.CERT_9A,
  '9c': TAG.CERT_9C,
  '9d': TAG.CERT_9D,
  '9e': TAG.CERT_9E,
  f9: TAG.YUBICO_ATTESTATION,
} as const;
