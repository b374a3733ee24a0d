import { ConflictError, UnavailableError } from '../errors.ts';
import type {
  HolderLimits,
  ManagementAlgorithm,
  OperationResult,
  PinOutcome,
  PinReference,
  PinStatus,
  PivAlgorithm,
  PivCard,
  PivSlot,
  PrivateKeyOperation,
  SlotInfo,
} from '../piv/card-port.ts';
import type { Clock, DirectoryStore, KeyCustody, WrapContext } from '../../ports.ts';
import type { Tenant } from '../directory/tenant.ts';
import { SLOT_PIN_POLICY } from '../piv/slot-rules.ts';
import { buildSecurityObject, isHashedObject, type ContentSigner } from '../piv/content-signing.ts';
import { TAG } from '../piv/objects.ts';
import { cardKeys, objectAttribute, objectsOf, slotAttribute, type CardItem, type StoredSlot } from './card-item.ts';
import { checkPinPolicy } from './secrets.ts';
import type { PinHasher } from './pin-hash.ts';
import type { SlotKeys } from './slot-keys.ts';

/** Enough rounds for every concurrent attempt to either spend a try or see the counter at zero. */
const MAX_COUNTER_ROUNDS = 64;

export interface StoredCardDeps {
  readonly directory: DirectoryStore;
  readonly custody: KeyCustody;
  readonly slotKeys: SlotKeys;
  readonly clock: Clock;
  readonly pinPolicy: Tenant['pinPolicy'];
  /** What the tenant lets the holder generate and set, read when such a command runs. */
  readonly holderLimits: () => Promise<HolderLimits>;
  /** PIN and PUK hashes, keyed by a KMS-held key (one KMS call per check). */
  readonly pins: PinHasher;
  /** The tenant's PIV content signer, read when a write makes the Security Object stale. */
  readonly contentSigner?: () => Promise<ContentSigner | undefined>;
}

const COUNTERS = {
  pin: { hash: 'pinHash', remaining: 'pinRemaining', max: 'pinMaxTries' },
  puk: { hash: 'pukHash', remaining: 'pukRemaining', max: 'pukMaxTries' },
} as const;

/**
 * A card stored as one directory item, seen through the PIV card port. It starts from the item read for
 * this APDU and keeps its own copy current after each write it makes. A PIN or PUK check first spends a
 * try with one write guarded on the counter's current value, then compares: twenty parallel guesses can
 * never spend more tries than the counter holds. It offers no yubico RESET: an issued card's keys cannot be
 * remade by its holder, so a wipe is an administrator's card delete and a new enrolment.
 */
export class StoredPivCard implements PivCard {
  readonly serial: number;
  readonly version = [5, 7, 1] as const;
  #item: CardItem;
  readonly #deps: StoredCardDeps;

  constructor(item: CardItem, deps: StoredCardDeps) {
    this.#item = item;
    this.#deps = deps;
    this.serial = item.serial;
  }

  get item(): CardItem {
    return this.#item;
  }

  async readObject(tag: number): Promise<Uint8Array | undefined> {
    const value = this.#item[objectAttribute(tag)];
    return typeof value === 'string' ? Buffer.from(value, 'base64') : undefined;
  }

  /**
   * Writes one object; when the card has a Security Object that hashes it, a new Security Object is
   * signed over the objects as they will be and written in the same update, so it never goes stale.
   */
  async writeObject(tag: number, value: Uint8Array): Promise<void> {
    const changes: Record<string, string | null> = { [objectAttribute(tag)]: value.length ? Buffer.from(value).toString('base64') : null };
    if (isHashedObject(tag) && this.#item[objectAttribute(TAG.SECURITY_OBJECT)]) {
      const signer = await this.#deps.contentSigner?.();
      const objects = objectsOf(this.#item);
      if (value.length) objects.set(tag, value);
      else objects.delete(tag);
      // Without a signer (none in this deployment) a stale Security Object would be a false claim: it goes.
      changes[objectAttribute(TAG.SECURITY_OBJECT)] = signer
        ? Buffer.from(await buildSecurityObject(objects, signer, new Date(this.#deps.clock.now()))).toString('base64')
        : null;
    }
    await this.#update(changes);
  }

  async pinStatus(reference: PinReference): Promise<PinStatus> {
    const names = COUNTERS[reference];
    return {
      remaining: this.#item[names.remaining],
      maxTries: this.#item[names.max],
      mustChange: reference === 'pin' && this.#item.pinMustChange,
    };
  }

  verifyPin(candidate: string): Promise<PinOutcome> {
    return this.#check('pin', candidate);
  }

  async changeReference(reference: PinReference, current: string, next: string): Promise<PinOutcome> {
    const rejection = checkPinPolicy(reference, next, this.#deps.pinPolicy);
    if (rejection) return { kind: 'rejected', reason: rejection };
    const outcome = await this.#check(reference, current);
    if (outcome.kind !== 'verified') return outcome;
    const names = COUNTERS[reference];
    await this.#update({ [names.hash]: await this.#hash(reference, next), ...(reference === 'pin' ? { pinMustChange: false } : {}) });
    return outcome;
  }

  async resetRetryCounter(puk: string, newPin: string): Promise<PinOutcome> {
    const rejection = checkPinPolicy('pin', newPin, this.#deps.pinPolicy);
    if (rejection) return { kind: 'rejected', reason: rejection };
    const outcome = await this.#check('puk', puk);
    if (outcome.kind !== 'verified') return outcome;
    await this.#update({ pinHash: await this.#hash('pin', newPin), pinRemaining: this.#item.pinMaxTries, pinMustChange: false });
    return outcome;
  }

  async managementKey(): Promise<{ algorithm: ManagementAlgorithm; key: Uint8Array }> {
    return { algorithm: this.#item.managementAlgorithm, key: await this.#deps.custody.unwrap(this.#item.managementKey, this.#context('9b')) };
  }

  async setManagementKey(algorithm: ManagementAlgorithm, key: Uint8Array): Promise<void> {
    await this.#update({ managementAlgorithm: algorithm, managementKey: await this.#deps.custody.wrap(key, this.#context('9b')) });
  }

  async slot(slot: PivSlot): Promise<SlotInfo | undefined> {
    const stored = this.#item[slotAttribute(slot)];
    if (!stored) return undefined;
    return { algorithm: stored.algorithm, publicKey: Buffer.from(stored.publicKey, 'base64'), pinPolicy: stored.pinPolicy, origin: stored.origin };
  }

  async privateKeyOperation(slot: PivSlot, operation: PrivateKeyOperation): Promise<OperationResult> {
    const stored = this.#item[slotAttribute(slot)];
    if (!stored) return { kind: 'unsupported', reason: `slot ${slot} is empty` };
    return this.#deps.slotKeys.operate(stored.key, this.#context(slot), stored.algorithm, operation);
  }

  holderLimits(): Promise<HolderLimits> {
    return this.#deps.holderLimits();
  }

  async generateKey(slot: PivSlot, algorithm: PivAlgorithm, policy: { pinPolicy?: SlotInfo['pinPolicy'] }): Promise<Uint8Array> {
    const previous = this.#item[slotAttribute(slot)];
    const { record, publicKey } = await this.#deps.slotKeys.generate(algorithm, this.#context(slot));
    const stored: StoredSlot = {
      algorithm,
      publicKey: Buffer.from(publicKey).toString('base64'),
      pinPolicy: policy.pinPolicy ?? defaultPinPolicy(slot),
      origin: 'generated',
      key: record,
    };
    try {
      await this.#update({ [slotAttribute(slot)]: stored });
    } catch (error) {
      await this.#deps.slotKeys.destroy(record).catch(() => undefined);
      throw error;
    }
    if (previous) await this.#deps.slotKeys.destroy(previous.key).catch(() => undefined);
    return publicKey;
  }

  /** Spends one try (guarded on the counter), then compares; a match restores the counter. */
  async #check(reference: PinReference, candidate: string): Promise<PinOutcome> {
    const names = COUNTERS[reference];
    for (let round = 0; round < MAX_COUNTER_ROUNDS; round++) {
      const remaining = this.#item[names.remaining];
      if (remaining <= 0) return { kind: 'blocked' };
      try {
        await this.#update({ [names.remaining]: remaining - 1 }, { [names.remaining]: remaining });
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        await this.#reload();
        continue;
      }
      const hash = this.#item[names.hash];
      const checked = await this.#deps.pins.check(this.#owner(reference), candidate, hash);
      if (!checked.matches) return { kind: 'wrong', remaining: remaining - 1 };
      // Restore the counter unless the secret itself changed meanwhile (then the match is stale); a hash of
      // an older scheme is replaced by today's in the same write.
      try {
        await this.#update(
          { [names.remaining]: this.#item[names.max], ...(checked.rehashed ? { [names.hash]: checked.rehashed } : {}) },
          { [names.hash]: hash },
        );
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        await this.#reload();
        return { kind: 'wrong', remaining: this.#item[names.remaining] };
      }
      return { kind: 'verified' };
    }
    throw new UnavailableError('directory', 'the card counter is too contended; retry');
  }

  async #update(changes: Record<string, unknown>, equals?: Record<string, unknown>): Promise<void> {
    const key = cardKeys.card(this.#item.tenant, this.#item.id);
    const updatedAt = new Date(this.#deps.clock.now()).toISOString();
    this.#item = await this.#deps.directory.update<CardItem>(key, { ...changes, updatedAt }, { present: true, ...(equals ? { equals } : {}) });
  }

  async #reload(): Promise<void> {
    const item = await this.#deps.directory.get<CardItem>(cardKeys.card(this.#item.tenant, this.#item.id));
    if (!item) throw new ConflictError('the card was deleted');
    this.#item = item;
  }

  #owner(reference: PinReference) {
    return { tenant: this.#item.tenant, card: this.#item.id, reference };
  }

  #hash(reference: PinReference, value: string): Promise<string> {
    return this.#deps.pins.hash(this.#owner(reference), value);
  }

  #context(slot: string): WrapContext {
    return { tenant: this.#item.tenant, card: this.#item.id, slot };
  }
}

/** SP 800-73-4: 9C needs the PIN right before each use; 9E (card authentication) needs none. */
export function defaultPinPolicy(slot: PivSlot): SlotInfo['pinPolicy'] {
  return SLOT_PIN_POLICY[slot];
}
