import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ValidationError } from '../../core/errors.ts';
import type { KeyCustody, WrapContext, WrappedKey } from '../../ports.ts';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM wrapping under the local key-encryption key. The context {tenant, card, slot} is the
 * additional authenticated data, mirroring KMS's encryption context: a blob moved elsewhere fails to open.
 */
export class LocalKeyCustody implements KeyCustody {
  readonly #keyId: string;
  readonly #kek: Buffer;

  constructor(keyId: string, kek: Uint8Array) {
    if (kek.length !== 32) throw new Error('the local key-encryption key must be 32 bytes');
    this.#keyId = keyId;
    this.#kek = Buffer.from(kek);
  }

  async wrap(plaintext: Uint8Array, context: WrapContext): Promise<WrappedKey> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#kek, iv);
    cipher.setAAD(additionalData(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { provider: 'local', keyId: this.#keyId, blob: Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64') };
  }

  async unwrap(wrapped: WrappedKey, context: WrapContext): Promise<Uint8Array> {
    if (wrapped.provider !== 'local' || wrapped.keyId !== this.#keyId) {
      throw new ValidationError('the wrapped key was not wrapped by this custody');
    }
    const blob = Buffer.from(wrapped.blob, 'base64');
    if (blob.length < IV_BYTES + TAG_BYTES) throw new ValidationError('the wrapped key is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.#kek, blob.subarray(0, IV_BYTES));
    decipher.setAAD(additionalData(context));
    decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(blob.subarray(IV_BYTES, blob.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new ValidationError('the wrapped key does not open under this key and context');
    }
  }

  async ping(): Promise<void> {}
}

/** Canonical (fixed order) encoding, so the same context always authenticates the same bytes. */
function additionalData(context: WrapContext): Buffer {
  return Buffer.from(JSON.stringify([context.tenant, context.card, context.slot]), 'utf8');
}
