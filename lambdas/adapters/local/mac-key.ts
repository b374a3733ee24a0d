import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { MacKey } from '../../ports.ts';

/**
 * The embedded stack's stand-in for a KMS HMAC key: a key derived (HKDF-SHA-256) from the local key file's
 * key-encryption key under a name per use, so the key file keeps its format and each use has its own key.
 */
export class LocalMacKey implements MacKey {
  readonly #key: Buffer;

  constructor(fileKey: Uint8Array, name: string) {
    this.#key = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), `cloudcard local mac key: ${name}`, 32));
  }

  async deriveSubkey(label: string): Promise<Uint8Array> {
    return createHmac('sha256', this.#key).update(label, 'utf8').digest();
  }

  async mac(message: Uint8Array): Promise<Uint8Array> {
    return createHmac('sha256', this.#key).update(message).digest();
  }

  async verifyMac(message: Uint8Array, mac: Uint8Array): Promise<boolean> {
    const expected = await this.mac(message);
    return mac.length === expected.length && timingSafeEqual(mac, expected);
  }
}

/** The local stand-ins of the stack's two HMAC keys, both derived from the key file's key. */
export const localSessionKey = (fileKey: Uint8Array): MacKey => new LocalMacKey(fileKey, 'card-session');
export const localPinKey = (fileKey: Uint8Array): MacKey => new LocalMacKey(fileKey, 'card-pin');
