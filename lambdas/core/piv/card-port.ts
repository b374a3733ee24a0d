/**
 * What the PIV card application needs from the card it runs on. The application (APDU parsing, the
 * command set, the per-session security state) is pure; everything stored — objects, PIN and PUK with
 * their counters, the management key, slot keys — sits behind this port. The service implements it over
 * the directory store and key custody (wrapped or KMS-resident); tests may implement it in memory.
 *
 * Each method that changes a counter does so with one guarded write, so concurrent APDUs on other
 * Lambda instances never consume more tries than the counter holds.
 */

/** Asymmetric algorithms a slot can hold. */
export type PivAlgorithm = 'rsa2048' | 'rsa3072' | 'rsa4096' | 'p256' | 'p384';

/** Management-key (9B) algorithms: 3DES (SP 800-78 legacy default) and AES. */
export type ManagementAlgorithm = '3des' | 'aes128' | 'aes192' | 'aes256';

/** Key references of the four standard PIV slots, plus the yubico attestation slot. */
export type PivSlot = '9a' | '9c' | '9d' | '9e' | 'f9';

/** PIN reference 80 (application PIN) and 81 (PUK). */
export type PinReference = 'pin' | 'puk';

export type PinOutcome =
  | { readonly kind: 'verified' }
  /** Wrong value; `remaining` tries are left (0 means it is now blocked). */
  | { readonly kind: 'wrong'; readonly remaining: number }
  /** Blocked before this attempt; nothing was compared. */
  | { readonly kind: 'blocked' }
  /** The new value breaks the tenant's PIN policy (length, characters); nothing was changed. */
  | { readonly kind: 'rejected'; readonly reason: string };

export interface PinStatus {
  readonly remaining: number;
  readonly maxTries: number;
  /** The PIN is still the one set at enrolment and the policy asks for a change on first use. */
  readonly mustChange: boolean;
}

/** How a slot's key may be used; mirrors yubico's metadata so `yubico-piv-tool -a status` reads well. */
export interface SlotInfo {
  readonly algorithm: PivAlgorithm;
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKey: Uint8Array;
  /** 'once' (PIN once per session), 'always' (9C: PIN right before each use), 'never'. */
  readonly pinPolicy: 'never' | 'once' | 'always';
  readonly origin: 'generated' | 'imported';
}

/**
 * One private-key operation. The card application has already checked the security state (PIN, 9C
 * PIN-always) and the input length; the port only does the cryptography.
 */
export type PrivateKeyOperation =
  /** Raw RSA (m^d mod n) on a block the host has padded, exactly the modulus length. */
  | { readonly kind: 'rsa-raw'; readonly block: Uint8Array }
  /**
   * ECDSA over a digest the host computed (left-truncated or zero-padded by the port as FIPS 186 says).
   * The output is the DER Ecdsa-Sig-Value (SEQUENCE { r, s }), which is what a PIV card returns in tag 82.
   */
  | { readonly kind: 'ecdsa'; readonly digest: Uint8Array }
  /** ECDH with the peer's uncompressed point (04 || X || Y); returns the shared secret X coordinate. */
  | { readonly kind: 'ecdh'; readonly peerPoint: Uint8Array };

/**
 * What the card's issuer lets its holder put on the card: GENERATE and SET MANAGEMENT KEY refuse anything
 * else (6A80). A cloud card takes these from its tenant's card settings when such a command runs.
 */
export interface HolderLimits {
  /** Algorithms GENERATE may create a slot key with. */
  readonly algorithms: readonly PivAlgorithm[];
  /** Algorithms SET MANAGEMENT KEY may give the 9B key. */
  readonly managementAlgorithms: readonly ManagementAlgorithm[];
}

/** The outcome of a private-key operation: the bytes, or a refusal the custody cannot perform. */
export type OperationResult =
  | { readonly kind: 'done'; readonly output: Uint8Array }
  /** e.g. raw RSA on a KMS-resident key that is not a PKCS#1 v1.5 signature block. */
  | { readonly kind: 'unsupported'; readonly reason: string };

export interface PivCard {
  /** The card's 32-bit serial number (GET SERIAL, CHUID). */
  readonly serial: number;
  /** Firmware version reported by GET VERSION, e.g. [5, 7, 1]. */
  readonly version: readonly [number, number, number];

  /** The stored content of a data object (what goes inside tag 53), or undefined when absent. */
  readObject(tag: number): Promise<Uint8Array | undefined>;
  /** Stores (or, with an empty value, deletes) a data object. */
  writeObject(tag: number, value: Uint8Array): Promise<void>;

  pinStatus(reference: PinReference): Promise<PinStatus>;
  /** Compares the PIN, spending one try first so parallel guesses cannot exceed the counter. */
  verifyPin(candidate: string): Promise<PinOutcome>;
  /** CHANGE REFERENCE DATA: checks `current` like verifyPin, then stores `next`. */
  changeReference(reference: PinReference, current: string, next: string): Promise<PinOutcome>;
  /** RESET RETRY COUNTER: checks the PUK (spending a PUK try), then sets a new PIN and resets its tries. */
  resetRetryCounter(puk: string, newPin: string): Promise<PinOutcome>;

  /** The management key, unwrapped for one 9B authentication and dropped by the caller right after. */
  managementKey(): Promise<{ readonly algorithm: ManagementAlgorithm; readonly key: Uint8Array }>;
  /** SET MANAGEMENT KEY (yubico extension, after 9B authentication). */
  setManagementKey(algorithm: ManagementAlgorithm, key: Uint8Array): Promise<void>;

  /** What a slot holds, or undefined when it is empty. */
  slot(slot: PivSlot): Promise<SlotInfo | undefined>;
  privateKeyOperation(slot: PivSlot, operation: PrivateKeyOperation): Promise<OperationResult>;
  /** Read only by the commands that change keys, so the issuer's current settings apply. */
  holderLimits(): Promise<HolderLimits>;
  /** GENERATE ASYMMETRIC KEY PAIR: replaces the slot's key; returns the new SubjectPublicKeyInfo (DER). */
  generateKey(slot: PivSlot, algorithm: PivAlgorithm, policy: { pinPolicy?: SlotInfo['pinPolicy'] }): Promise<Uint8Array>;
  /**
   * Yubico RESET: destroys every key and object and restores the default PIN, PUK and management key; the
   * application calls it only when both PIN and PUK are blocked. Absent on a card its holder may not wipe
   * (every issued cloud card: an administrator unblocks, or deletes and re-enrols it); RESET answers 6985.
   */
  reset?(): Promise<void>;
}
