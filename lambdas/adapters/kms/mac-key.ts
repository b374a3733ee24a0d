import { GenerateMacCommand, type KMSClient } from '@aws-sdk/client-kms';
import { UnavailableError } from '../../core/errors.ts';
import type { MacKey } from '../../ports.ts';

/**
 * A KMS HMAC_256 key (GENERATE_VERIFY_MAC) as the MacKey port. A subkey is one GenerateMac call per label
 * and container, kept for the container's life: per-request MACs are then computed locally, so an APDU
 * costs no KMS call. Only functions whose key policy grants kms:GenerateMac can derive the subkeys.
 */
export class KmsMacKey implements MacKey {
  readonly #kms: KMSClient;
  readonly #keyId: string;
  readonly #subkeys = new Map<string, Promise<Uint8Array>>();

  constructor(kms: KMSClient, keyId: string) {
    this.#kms = kms;
    this.#keyId = keyId;
  }

  deriveSubkey(label: string): Promise<Uint8Array> {
    let subkey = this.#subkeys.get(label);
    if (!subkey) {
      subkey = this.#generate(label);
      // A failed call is not remembered: the next request tries again.
      subkey.catch(() => this.#subkeys.delete(label));
      this.#subkeys.set(label, subkey);
    }
    return subkey;
  }

  async #generate(label: string): Promise<Uint8Array> {
    let mac: Uint8Array | undefined;
    try {
      ({ Mac: mac } = await this.#kms.send(new GenerateMacCommand({ KeyId: this.#keyId, MacAlgorithm: 'HMAC_SHA_256', Message: Buffer.from(label, 'utf8') })));
    } catch (error) {
      throw new UnavailableError('kms', `KMS GenerateMac failed: ${(error as { name?: string }).name ?? 'Error'}`, { cause: error });
    }
    if (!mac || mac.length !== 32) throw new UnavailableError('kms', 'KMS returned no 32-byte MAC');
    return mac;
  }
}
