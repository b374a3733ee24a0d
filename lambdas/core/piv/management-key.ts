/**
 * The card-side cryptography of 9B (PIV Card Application Administration Key) authentication: one block of
 * 3DES or AES in ECB mode, exactly what SP 800-73-4 Appendix A and yubico-piv-tool compute.
 */
import { createCipheriv, createHash, timingSafeEqual } from 'node:crypto';
import type { ManagementAlgorithm } from './card-port.ts';
import { blockBytes, MANAGEMENT_KEY_BYTES } from './algorithms.ts';

const CIPHERS: Readonly<Record<ManagementAlgorithm, string>> = {
  '3des': 'des-ede3',
  aes128: 'aes-128-ecb',
  aes192: 'aes-192-ecb',
  aes256: 'aes-256-ecb',
};

/** Encrypts one block under the management key. */
export function encryptBlock(algorithm: ManagementAlgorithm, key: Uint8Array, block: Uint8Array): Uint8Array {
  if (key.length !== MANAGEMENT_KEY_BYTES[algorithm] || block.length !== blockBytes(algorithm)) {
    throw new RangeError('management key or block has the wrong size');
  }
  const cipher = createCipheriv(CIPHERS[algorithm], key, null).setAutoPadding(false);
  return new Uint8Array(Buffer.concat([cipher.update(block), cipher.final()]));
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

/** Compares a candidate with a stored SHA-256 in constant time. */
export function matchesHash(candidate: Uint8Array, expectedHash: Uint8Array): boolean {
  const actual = sha256(candidate);
  return actual.length === expectedHash.length && timingSafeEqual(actual, expectedHash);
}

/** The well-known factory management key (3DES 0102..08 three times), reported as "default" by GET METADATA. */
export const FACTORY_MANAGEMENT_KEY = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8);

export function isFactoryKey(key: Uint8Array): boolean {
  return key.length === FACTORY_MANAGEMENT_KEY.length && timingSafeEqual(key, FACTORY_MANAGEMENT_KEY);
}
