/**
 * An in-memory PivCard: the port's reference implementation for unit tests. Real node:crypto keys, real
 * counters (a try is spent before comparing, as the port requires), a tenant-style PIN policy, holder
 * limits, and the yubico RESET semantics (or none, like an issued cloud card). The store-backed card must
 * pass the same sequences.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { ecdhRawPoint, ecdsaSignDigest, rawRsa } from '../../lambdas/core/crypto/raw-signatures.ts';
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
} from '../../lambdas/core/piv/card-port.ts';

export const DEFAULT_PIN = '123456';
export const DEFAULT_PUK = '12345678';
export const FACTORY_MANAGEMENT_KEY = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8);

/** Default PIN policies of the standard slots (SP 800-73-4: 9C needs the PIN before each use, 9E none). */
const DEFAULT_PIN_POLICY: Readonly<Record<PivSlot, SlotInfo['pinPolicy']>> = {
  '9a': 'once',
  '9c': 'always',
  '9d': 'once',
  '9e': 'never',
  f9: 'never',
};

interface Secret {
  value: string;
  remaining: number;
  readonly maxTries: number;
  mustChange: boolean;
}

interface HeldKey {
  readonly info: SlotInfo;
  readonly privateKey: KeyObject;
}

export interface MemoryCardOptions {
  readonly serial?: number;
  readonly pin?: string;
  readonly puk?: string;
  readonly pinTries?: number;
  readonly pukTries?: number;
  readonly mustChange?: boolean;
  readonly management?: { algorithm: ManagementAlgorithm; key: Uint8Array };
  /** false: the card offers no yubico RESET, as an issued cloud card. Default: it does, as a YubiKey. */
  readonly wipeable?: boolean;
  /** What the holder may generate and set. Default: every algorithm, as on a YubiKey. */
  readonly limits?: HolderLimits;
  /** The tenant's PIN rule: a reason when the value is refused. Default: 6 to 8 digits. */
  readonly policy?: (value: string, reference: PinReference) => string | undefined;
}

const EVERY_ALGORITHM: HolderLimits = {
  algorithms: ['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384'],
  managementAlgorithms: ['3des', 'aes128', 'aes192', 'aes256'],
};

const digitsPolicy = (value: string): string | undefined => (/^[0-9]{6,8}$/.test(value) ? undefined : 'PIN must be 6 to 8 digits');

function generate(algorithm: PivAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (algorithm) {
    case 'rsa2048':
    case 'rsa3072':
    case 'rsa4096':
      return generateKeyPairSync('rsa', { modulusLength: Number(algorithm.slice(3)), publicExponent: 65537 });
    case 'p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
  }
}

function same(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

export class MemoryPivCard implements PivCard {
  readonly serial: number;
  readonly version = [5, 7, 1] as const;
  readonly objects = new Map<number, Uint8Array>();
  private readonly keys = new Map<PivSlot, HeldKey>();
  private pin: Secret;
  private puk: Secret;
  private management: { algorithm: ManagementAlgorithm; key: Uint8Array };
  private readonly policy: (value: string, reference: PinReference) => string | undefined;
  private readonly limits: HolderLimits;
  /** yubico RESET (absent when made with `wipeable: false`). */
  readonly reset?: () => Promise<void>;

  constructor(options: MemoryCardOptions = {}) {
    this.serial = options.serial ?? 12345678;
    this.policy = options.policy ?? digitsPolicy;
    this.limits = options.limits ?? EVERY_ALGORITHM;
    if (options.wipeable !== false) this.reset = async () => this.wipe();
    this.pin = {
      value: options.pin ?? DEFAULT_PIN,
      remaining: options.pinTries ?? 3,
      maxTries: options.pinTries ?? 3,
      mustChange: options.mustChange ?? false,
    };
    this.puk = { value: options.puk ?? DEFAULT_PUK, remaining: options.pukTries ?? 3, maxTries: options.pukTries ?? 3, mustChange: false };
    this.management = options.management ?? { algorithm: '3des', key: FACTORY_MANAGEMENT_KEY };
  }

  async readObject(tag: number): Promise<Uint8Array | undefined> {
    const value = this.objects.get(tag);
    return value ? value.slice() : undefined;
  }

  async writeObject(tag: number, value: Uint8Array): Promise<void> {
    if (value.length === 0) this.objects.delete(tag);
    else this.objects.set(tag, value.slice());
  }

  async pinStatus(reference: PinReference): Promise<PinStatus> {
    const secret = reference === 'pin' ? this.pin : this.puk;
    return { remaining: secret.remaining, maxTries: secret.maxTries, mustChange: secret.mustChange };
  }

  /** Spends a try, then compares; a match restores the counter. */
  private check(secret: Secret, candidate: string): PinOutcome {
    if (secret.remaining === 0) return { kind: 'blocked' };
    secret.remaining--;
    if (!same(secret.value, candidate)) return { kind: 'wrong', remaining: secret.remaining };
    secret.remaining = secret.maxTries;
    return { kind: 'verified' };
  }

  async verifyPin(candidate: string): Promise<PinOutcome> {
    return this.check(this.pin, candidate);
  }

  async changeReference(reference: PinReference, current: string, next: string): Promise<PinOutcome> {
    const secret = reference === 'pin' ? this.pin : this.puk;
    const reason = this.policy(next, reference);
    if (reason) return { kind: 'rejected', reason };
    const outcome = this.check(secret, current);
    if (outcome.kind === 'verified') {
      secret.value = next;
      secret.mustChange = false;
    }
    return outcome;
  }

  async resetRetryCounter(puk: string, newPin: string): Promise<PinOutcome> {
    const reason = this.policy(newPin, 'pin');
    if (reason) return { kind: 'rejected', reason };
    const outcome = this.check(this.puk, puk);
    if (outcome.kind === 'verified') {
      this.pin.value = newPin;
      this.pin.remaining = this.pin.maxTries;
    }
    return outcome;
  }

  async managementKey(): Promise<{ algorithm: ManagementAlgorithm; key: Uint8Array }> {
    return { algorithm: this.management.algorithm, key: this.management.key.slice() };
  }

  async setManagementKey(algorithm: ManagementAlgorithm, key: Uint8Array): Promise<void> {
    this.management = { algorithm, key: key.slice() };
  }

  async slot(slot: PivSlot): Promise<SlotInfo | undefined> {
    return this.keys.get(slot)?.info;
  }

  async privateKeyOperation(slot: PivSlot, operation: PrivateKeyOperation): Promise<OperationResult> {
    const held = this.keys.get(slot);
    if (!held) throw new Error(`slot ${slot} is empty`);
    switch (operation.kind) {
      case 'rsa-raw':
        return { kind: 'done', output: new Uint8Array(rawRsa(held.privateKey, operation.block)) };
      case 'ecdsa':
        return { kind: 'done', output: ecdsaSignDigest(held.privateKey, operation.digest) };
      case 'ecdh':
        return { kind: 'done', output: new Uint8Array(ecdhRawPoint(held.privateKey, operation.peerPoint)) };
    }
  }

  async holderLimits(): Promise<HolderLimits> {
    return this.limits;
  }

  async generateKey(slot: PivSlot, algorithm: PivAlgorithm, policy: { pinPolicy?: SlotInfo['pinPolicy'] }): Promise<Uint8Array> {
    const { privateKey, publicKey } = generate(algorithm);
    return this.hold(slot, algorithm, privateKey, publicKey, policy.pinPolicy ?? DEFAULT_PIN_POLICY[slot], 'generated');
  }

  /** Test setup: put a known private key in a slot (what a key import would do). */
  importKey(slot: PivSlot, algorithm: PivAlgorithm, privateKeyPem: string | KeyObject, pinPolicy?: SlotInfo['pinPolicy']): Uint8Array {
    const privateKey = typeof privateKeyPem === 'string' ? createPrivateKey(privateKeyPem) : privateKeyPem;
    return this.hold(slot, algorithm, privateKey, createPublicKey(privateKey), pinPolicy ?? DEFAULT_PIN_POLICY[slot], 'imported');
  }

  private hold(
    slot: PivSlot,
    algorithm: PivAlgorithm,
    privateKey: KeyObject,
    publicKey: KeyObject,
    pinPolicy: SlotInfo['pinPolicy'],
    origin: SlotInfo['origin'],
  ): Uint8Array {
    const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    this.keys.set(slot, { info: { algorithm, publicKey: spki, pinPolicy, origin }, privateKey });
    return spki.slice();
  }

  private wipe(): void {
    this.objects.clear();
    this.keys.clear();
    this.pin = { value: DEFAULT_PIN, remaining: this.pin.maxTries, maxTries: this.pin.maxTries, mustChange: false };
    this.puk = { value: DEFAULT_PUK, remaining: this.puk.maxTries, maxTries: this.puk.maxTries, mustChange: false };
    this.management = { algorithm: '3des', key: FACTORY_MANAGEMENT_KEY };
  }
}
