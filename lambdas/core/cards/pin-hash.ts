import { createHmac } from 'node:crypto';
import { hashSecret, verifySecret } from '../crypto/password.ts';
import type { MacKey } from '../../ports.ts';
import type { PinReference } from '../piv/card-port.ts';

/** The label the PIN subkey is derived under (a MAC key the card and admin functions alone may use). */
export const PIN_HASH_LABEL = 'cloudcard/card-pin/v1';
/** Marks a keyed hash; a stored value without it (an unkeyed hash from before) never verifies. */
const SCHEME = 'hmac-sha256+';

/** Which card's which secret: the keyed hash binds both, so a hash copied to another card does not verify. */
export interface PinOwner {
  readonly tenant: string;
  readonly card: string;
  readonly reference: PinReference;
}

/**
 * PIN and PUK hashes keyed by a secret held in KMS: the stored value is scrypt (random salt) of
 * HMAC-SHA-256(subkey, [tenant, card, reference, value]). A PIN is 6-8 digits, so an unkeyed hash falls to
 * an offline search by anyone who can read the directory; without the key, a stored value cannot be
 * reproduced from any guess. The subkey is derived once per container (one GenerateMac), and scrypt
 * stays as the second layer should the key ever leak.
 */
export class PinHasher {
  readonly #key: MacKey;

  constructor(key: MacKey) {
    this.#key = key;
  }

  async hash(owner: PinOwner, value: string): Promise<string> {
    return SCHEME + (await hashSecret(await this.#keyed(owner, value)));
  }

  async verify(owner: PinOwner, value: string, stored: unknown): Promise<boolean> {
    if (typeof stored !== 'string' || !stored.startsWith(SCHEME)) return false;
    return verifySecret(await this.#keyed(owner, value), stored.slice(SCHEME.length));
  }

  async #keyed(owner: PinOwner, value: string): Promise<string> {
    const subkey = await this.#key.deriveSubkey(PIN_HASH_LABEL);
    return createHmac('sha256', subkey).update(JSON.stringify(['card-pin', owner.tenant, owner.card, owner.reference, value.normalize('NFKC')])).digest('base64url');
  }
}
