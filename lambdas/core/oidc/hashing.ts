import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Opaque credentials (codes, refresh tokens, registration tokens, client secrets) are 256-bit random
 * values, so a plain SHA-256 is a safe stored form: there is nothing to brute-force, and it keeps the token
 * endpoint fast. Human-chosen secrets (passwords, PINs) use the memory-hard hash instead.
 */
export const opaqueHash = (value: string): string => createHash('sha256').update(value, 'utf8').digest('base64url');

export const newOpaque = (prefix: string): string => `${prefix}${randomBytes(32).toString('base64url')}`;

export function sameHash(value: string, hash: string): boolean {
  const a = Buffer.from(opaqueHash(value));
  const b = Buffer.from(hash);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** base64url(SHA-256(ascii)) as PKCE S256 and DPoP ath use. */
export const s256 = (value: string): string => createHash('sha256').update(value, 'ascii').digest('base64url');
