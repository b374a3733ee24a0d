import { DecryptCommand, DescribeKeyCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import { UnavailableError, ValidationError } from '../../core/errors.ts';
import type { KeyCustody, WrapContext, WrappedKey } from '../../ports.ts';
import { KMS_REJECTIONS } from './client.ts';

/**
 * Wraps card keys with KMS Encrypt under the card key-encryption key (which may live in a CloudHSM custom
 * key store). The encryption context {tenant, card, slot} is authenticated by KMS, so a blob copied to
 * another card or slot does not decrypt, and it appears in CloudTrail for every unwrap.
 */
export class KmsKeyCustody implements KeyCustody {
  readonly #kms: KMSClient;
  readonly #keyId: string;

  constructor(kms: KMSClient, keyId: string) {
    this.#kms = kms;
    this.#keyId = keyId;
  }

  async wrap(plaintext: Uint8Array, context: WrapContext): Promise<WrappedKey> {
    if (plaintext.length > 4096) throw new ValidationError('a key to wrap must be at most 4096 bytes');
    const out = await this.#call(() =>
      this.#kms.send(new EncryptCommand({ KeyId: this.#keyId, Plaintext: plaintext, EncryptionContext: encryptionContext(context) })),
    );
    if (!out.CiphertextBlob) throw new UnavailableError('kms', 'KMS returned no ciphertext');
    return { provider: 'kms', keyId: out.KeyId ?? this.#keyId, blob: Buffer.from(out.CiphertextBlob).toString('base64') };
  }

  async unwrap(wrapped: WrappedKey, context: WrapContext): Promise<Uint8Array> {
    if (wrapped.provider !== 'kms') throw new ValidationError(`a ${wrapped.provider} blob cannot be unwrapped by KMS`);
    const out = await this.#call(() =>
      this.#kms.send(
        new DecryptCommand({
          // Naming the key stops KMS from trying a different key a forged blob might point at.
          KeyId: wrapped.keyId,
          CiphertextBlob: Buffer.from(wrapped.blob, 'base64'),
          EncryptionContext: encryptionContext(context),
        }),
      ),
    );
    if (!out.Plaintext) throw new UnavailableError('kms', 'KMS returned no plaintext');
    return out.Plaintext;
  }

  async ping(): Promise<void> {
    await this.#call(() => this.#kms.send(new DescribeKeyCommand({ KeyId: this.#keyId })));
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof ValidationError || error instanceof UnavailableError) throw error;
      const name = (error as { name?: string }).name ?? 'Error';
      if (KMS_REJECTIONS.has(name)) throw new ValidationError('the wrapped key does not open under this key and context');
      throw new UnavailableError('kms', `KMS unavailable: ${name}`, { cause: error });
    }
  }
}

export function encryptionContext(context: WrapContext): Record<string, string> {
  return { tenant: context.tenant, card: context.card, slot: context.slot };
}
