import { createHmac } from 'node:crypto';
import { verifySecret } from '../crypto/password.ts';
import type { MacKey } from '../../ports.ts';
import type { PinReference } from '../piv/card-port.ts';

/** The label the PIN subkey of the first scheme was derived under (read only, to check and upgrade old hashes). */
export const PIN_HASH_LABEL = 'cloudcard/card-pin/v1';
/** The stored form: this prefix and the key's HMAC of the owner and value, base64url. */
const SCHEME = 'mac-v2$';
/** The first scheme: scrypt (random salt) of a local HMAC under a subkey of the same key. */
const SCRYPT_SCHEME = 'hmac-sha256+';

/** Which card's which secret: the keyed hash binds both, so a hash copied to another card does not verify. */
export interface PinOwner {
  readonly tenant: string;
  readonly card: string;
  readonly reference: PinReference;
}

/** A check's answer; `rehashed`: the value's hash in today's scheme, to store in place of an older one. */
export type PinCheck = { readonly matches: false } | { readonly matches: true; readonly rehashed?: string };

/**
 * PIN and PUK hashes keyed by a secret held in KMS: the stored value is HMAC-SHA-256 under the KMS key
 * itself of [tenant, card, reference, value], made by `GenerateMac` and checked by `VerifyMac`, so a VERIFY
 * is one KMS call and no memory-hard work. A PIN is 6-8 digits, so an unkeyed hash falls to an offline
 * search by anyone who can read the directory; a keyed one cannot be reproduced from any guess without
 * the key, and the key never leaves KMS (no subkey in a function's memory to leak, every guess a logged,
 * throttled KMS call). That is also why the scrypt layer of the first scheme went: it only mattered if the
 * key leaked, and against 10^6-10^8 PINs it bought hours, not safety.
 *
 * Hashes of the first scheme still verify (through the subkey and scrypt, ~130 ms and 32 MiB) and come
 * back `rehashed`, so each card moves to the new scheme on its next right PIN; nothing else reads them.
 */
export class PinHasher {
  readonly #key: MacKey;

  constructor(key: MacKey) {
    this.#key = key;
  }

  async hash(owner: PinOwner, value: string): Promise<string> {
    return SCHEME + Buffer.from(await this.#key.mac(message(owner, value))).toString('base64url');
  }

  async check(owner: PinOwner, value: string, stored: unknown): Promise<PinCheck> {
    if (typeof stored !== 'string') return { matches: false };
    if (stored.startsWith(SCHEME)) {
      const mac = Buffer.from(stored.slice(SCHEME.length), 'base64url');
      return { matches: mac.length === 32 && (await this.#key.verifyMac(message(owner, value), mac)) };
    }
    if (stored.startsWith(SCRYPT_SCHEME)) {
      if (!(await verifySecret(await this.#subkeyed(owner, value), stored.slice(SCRYPT_SCHEME.length)))) return { matches: false };
      return { matches: true, rehashed: await this.hash(owner, value) };
    }
    // An unkeyed hash from before either scheme never verifies (such cards are re-enrolled).
    return { matches: false };
  }

  async verify(owner: PinOwner, value: string, stored: unknown): Promise<boolean> {
    return (await this.check(owner, value, stored)).matches;
  }

  async #subkeyed(owner: PinOwner, value: string): Promise<string> {
    const subkey = await this.#key.deriveSubkey(PIN_HASH_LABEL);
    return createHmac('sha256', subkey).update(message(owner, value)).digest('base64url');
  }
}

const message = (owner: PinOwner, value: string): Buffer =>
  Buffer.from(JSON.stringify(['card-pin', owner.tenant, owner.card, owner.reference, value.normalize('NFKC')]), 'utf8');
