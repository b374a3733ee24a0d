import { constants, createPrivateKey, createPublicKey, diffieHellman, privateDecrypt, type KeyObject } from 'node:crypto';
import { p256, p384 } from '@noble/curves/nist.js';
import { ValidationError } from '../errors.ts';

/**
 * The private-key primitives a smart card performs, which node:crypto's sign() does not offer as such:
 * raw RSA on a block the host padded, ECDSA over a digest the host computed, and ECDH with a raw point.
 */

/** DigestInfo prefixes (RFC 8017 §9.2 note 1): what a PKCS#1 v1.5 signature block carries before the digest. */
export const PKCS1_DIGEST_INFO = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
} as const;

/** m^d mod n: "decrypting" without padding is exactly the raw RSA private operation. */
export function rawRsa(privateKey: KeyObject, block: Uint8Array): Uint8Array {
  const modulusBytes = Math.ceil((privateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  if (block.length !== modulusBytes) throw new ValidationError(`raw RSA input must be ${modulusBytes} bytes`);
  return privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, block);
}

const CURVES = { prime256v1: { curve: p256, size: 32 }, secp384r1: { curve: p384, size: 48 } } as const;

function curveOf(key: KeyObject) {
  const named = key.asymmetricKeyDetails?.namedCurve as keyof typeof CURVES | undefined;
  const entry = named ? CURVES[named] : undefined;
  if (!entry) throw new ValidationError(`unsupported curve ${String(named)}`);
  return entry;
}

/**
 * ECDSA over a precomputed digest, DER-encoded. FIPS 186-5 takes the leftmost bits of a longer digest;
 * a shorter one is used as the integer it is (noble does both), so hosts may send SHA-1..SHA-512 digests.
 */
export function ecdsaSignDigest(privateKey: KeyObject, digest: Uint8Array): Uint8Array {
  const { curve } = curveOf(privateKey);
  if (digest.length === 0 || digest.length > 64) throw new ValidationError('ECDSA digest must be 1-64 bytes');
  const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  try {
    return curve.sign(digest, d, { prehash: false, format: 'der', lowS: false });
  } finally {
    d.fill(0);
  }
}

/** ECDH with an uncompressed peer point (04 || X || Y) on the key's curve; returns X of the shared point. */
export function ecdhRawPoint(privateKey: KeyObject, peerPoint: Uint8Array): Uint8Array {
  const { size } = curveOf(privateKey);
  if (peerPoint.length !== 1 + 2 * size || peerPoint[0] !== 0x04) throw new ValidationError('peer point must be an uncompressed point on the key curve');
  const crv = size === 32 ? 'P-256' : 'P-384';
  let peer: KeyObject;
  try {
    peer = createPublicKey({
      key: {
        kty: 'EC',
        crv,
        x: Buffer.from(peerPoint.subarray(1, 1 + size)).toString('base64url'),
        y: Buffer.from(peerPoint.subarray(1 + size)).toString('base64url'),
      },
      format: 'jwk',
    });
  } catch {
    throw new ValidationError('peer point is not on the curve');
  }
  return diffieHellman({ privateKey, publicKey: peer });
}

/** Loads a private key from PKCS#8 DER (how wrapped card keys are stored). */
export const privateKeyFromPkcs8 = (der: Uint8Array): KeyObject => createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
