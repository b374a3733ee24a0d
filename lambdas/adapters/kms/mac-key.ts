import { GenerateMacCommand, VerifyMacCommand, type KMSClient } from '@aws-sdk/client-kms';
import { UnavailableError } from '../../core/errors.ts';
import type { MacKey } from '../../ports.ts';

/**
 * A KMS HMAC_256 key (GENERATE_VERIFY_MAC) as the MacKey port. A subkey is one GenerateMac call per label
 * and container, kept for the container's life: per-request MACs are then computed locally, so an APDU
 * costs no KMS call. Only functions whose key policy grants kms:GenerateMac can derive the subkeys.
 * `mac` and `verifyMac` are one GenerateMac or VerifyMac call each, the key never leaving KMS.
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

  #generate(label: string): Promise<Uint8Array> {
    return this.mac(Buffer.from(label, 'utf8'));
  }

  async verifyMac(message: Uint8Array, mac: Uint8Array): Promise<boolean> {
    try {
      const { MacValid } = await this.#kms.send(new VerifyMacCommand({ KeyId: this.#keyId, MacAlgorithm: 'HMAC_SHA_256', Message: message, Mac: mac }));
      return MacValid === true;
    } catch (error) {
      // A MAC that does not verify is an answer, not an outage.
      if ((error as { name?: string }).name === 'KMSInvalidMacException') return false;
      throw new UnavailableError('kms', `KMS VerifyMac failed: ${(error as { name?: string }).name ?? 'Error'}`, { cause: error });
    }
  }

  async mac(message: Uint8Array): Promise<Uint8Array> {
    let mac: Uint8Array | undefined;
    try {
      ({ Mac: mac } = await this.#kms.send(new GenerateMacCommand({ KeyId: this.#keyId, MacAlgorithm: 'HMAC_SHA_256', Message: message })));
    } catch (error) {
      throw new UnavailableError('kms', `KMS GenerateMac failed: ${(error as { name?: string }).name ?? 'Error'}`, { cause: error });
    }
    if (!mac || mac.length !== 32) throw new UnavailableError('kms', 'KMS returned no 32-byte MAC');
    return mac;
  }
}
