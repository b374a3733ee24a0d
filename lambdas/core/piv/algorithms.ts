/**
 * Algorithm identifiers (SP 800-78-4 Table 6-2, plus yubico's RSA 3072/4096 codes) and the key facts the
 * card application checks inputs against.
 */
import { createPublicKey } from 'node:crypto';
import type { ManagementAlgorithm, PivAlgorithm } from './card-port.ts';
import { concat, tlv } from './tlv.ts';

export const ASYMMETRIC_IDS: Readonly<Record<PivAlgorithm, number>> = {
  rsa2048: 0x07,
  rsa3072: 0x05,
  rsa4096: 0x16,
  p256: 0x11,
  p384: 0x14,
};

export const MANAGEMENT_IDS: Readonly<Record<ManagementAlgorithm, number>> = {
  '3des': 0x03,
  aes128: 0x08,
  aes192: 0x0a,
  aes256: 0x0c,
};

/**
 * Identifiers we know but do not implement as such (RSA 1024, Ed25519, X25519, and 00, the legacy name of
 * the legacy 9B identifier): a P1 of these is "wrong data" for the key, not a bad parameter.
 */
const KNOWN_UNSUPPORTED = [0x06, 0xe0, 0xe1, 0x00];

export function asymmetricById(id: number): PivAlgorithm | undefined {
  return (Object.keys(ASYMMETRIC_IDS) as PivAlgorithm[]).find((name) => ASYMMETRIC_IDS[name] === id);
}

export function managementById(id: number): ManagementAlgorithm | undefined {
  return (Object.keys(MANAGEMENT_IDS) as ManagementAlgorithm[]).find((name) => MANAGEMENT_IDS[name] === id);
}

/** Whether P1 names any algorithm identifier at all (decides 6A80 "wrong for this key" vs 6A86 "bad P1"). */
export function isKnownAlgorithmId(id: number): boolean {
  return asymmetricById(id) !== undefined || managementById(id) !== undefined || KNOWN_UNSUPPORTED.includes(id);
}

export function isRsa(algorithm: PivAlgorithm): boolean {
  return algorithm.startsWith('rsa');
}

/** RSA modulus bytes, or the EC field size in bytes. */
export function keyBytes(algorithm: PivAlgorithm): number {
  switch (algorithm) {
    case 'rsa2048':
      return 256;
    case 'rsa3072':
      return 384;
    case 'rsa4096':
      return 512;
    case 'p256':
      return 32;
    case 'p384':
      return 48;
  }
}

export const MANAGEMENT_KEY_BYTES: Readonly<Record<ManagementAlgorithm, number>> = {
  '3des': 24,
  aes128: 16,
  aes192: 24,
  aes256: 32,
};

export function blockBytes(algorithm: ManagementAlgorithm): number {
  return algorithm === '3des' ? 8 : 16;
}

export type PublicKeyParts =
  { readonly kind: 'rsa'; readonly modulus: Uint8Array; readonly exponent: Uint8Array } | { readonly kind: 'ec'; readonly point: Uint8Array };

/** Splits a SubjectPublicKeyInfo into the raw parts PIV transmits; undefined when it cannot be read. */
export function publicKeyParts(spki: Uint8Array): PublicKeyParts | undefined {
  try {
    const jwk = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' });
    if (jwk.kty === 'RSA' && jwk.n && jwk.e) {
      return { kind: 'rsa', modulus: Buffer.from(jwk.n, 'base64url'), exponent: Buffer.from(jwk.e, 'base64url') };
    }
    if (jwk.kty === 'EC' && jwk.x && jwk.y) {
      return { kind: 'ec', point: concat(Uint8Array.of(0x04), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')) };
    }
    return undefined;
  } catch {
    return undefined;
  }
}

/** The public key data objects inside 7F49 (GENERATE) or yubico metadata tag 04: 81 n, 82 e or 86 point. */
export function publicKeyDataObjects(parts: PublicKeyParts): Uint8Array {
  return parts.kind === 'rsa' ? concat(tlv(0x81, parts.modulus), tlv(0x82, parts.exponent)) : tlv(0x86, parts.point);
}
