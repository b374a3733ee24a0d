import { createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { ecdhRawPoint, ecdsaSignDigest, PKCS1_DIGEST_INFO, privateKeyFromPkcs8, rawRsa } from '../crypto/raw-signatures.ts';
import { ValidationError } from '../errors.ts';
import type { OperationResult, PivAlgorithm, PrivateKeyOperation } from '../piv/card-port.ts';
import type { KeyCustody, ResidentKeys, ResidentKeySpec, ResidentSigningAlgorithm, WrapContext, WrappedKey } from '../../ports.ts';

const generate = promisify(generateKeyPair);

/** Where a slot's private key lives: wrapped in our store, or resident in KMS. */
export type SlotKeyRecord = { readonly custody: 'wrapped'; readonly wrapped: WrappedKey } | { readonly custody: 'kms-resident'; readonly keyId: string };

/** Key generation and use for one custody mode. The card application has checked PIN and input already. */
export interface SlotKeys {
  readonly mode: SlotKeyRecord['custody'];
  generate(algorithm: PivAlgorithm, context: WrapContext): Promise<{ record: SlotKeyRecord; publicKey: Uint8Array }>;
  operate(record: SlotKeyRecord, context: WrapContext, algorithm: PivAlgorithm, operation: PrivateKeyOperation): Promise<OperationResult>;
  destroy(record: SlotKeyRecord): Promise<void>;
}

const spki = (key: KeyObject): Uint8Array => createPublicKey(key).export({ format: 'der', type: 'spki' });

async function newKeyPair(algorithm: PivAlgorithm): Promise<KeyObject> {
  switch (algorithm) {
    case 'rsa2048':
    case 'rsa3072':
    case 'rsa4096':
      return (await generate('rsa', { modulusLength: Number(algorithm.slice(3)), publicExponent: 0x10001 })).privateKey;
    case 'p256':
      return (await generate('ec', { namedCurve: 'P-256' })).privateKey;
    case 'p384':
      return (await generate('ec', { namedCurve: 'P-384' })).privateKey;
  }
}

/**
 * Wrapped custody (the default): keys are made here, stored only wrapped by the key-encryption key under
 * the context {tenant, card, slot}, and unwrapped for exactly one operation. Every PIV operation works.
 */
export class WrappedSlotKeys implements SlotKeys {
  readonly mode = 'wrapped';
  readonly #custody: KeyCustody;

  constructor(custody: KeyCustody) {
    this.#custody = custody;
  }

  async generate(algorithm: PivAlgorithm, context: WrapContext): Promise<{ record: SlotKeyRecord; publicKey: Uint8Array }> {
    const privateKey = await newKeyPair(algorithm);
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    try {
      return { record: { custody: 'wrapped', wrapped: await this.#custody.wrap(pkcs8, context) }, publicKey: spki(privateKey) };
    } finally {
      pkcs8.fill(0);
    }
  }

  async operate(record: SlotKeyRecord, context: WrapContext, _algorithm: PivAlgorithm, operation: PrivateKeyOperation): Promise<OperationResult> {
    if (record.custody !== 'wrapped') throw new ValidationError('not a wrapped slot key');
    const pkcs8 = await this.#custody.unwrap(record.wrapped, context);
    let key: KeyObject;
    try {
      key = privateKeyFromPkcs8(pkcs8);
    } finally {
      pkcs8.fill(0);
    }
    switch (operation.kind) {
      case 'rsa-raw':
        if (key.asymmetricKeyType !== 'rsa') return { kind: 'unsupported', reason: 'the slot key is not RSA' };
        return { kind: 'done', output: rawRsa(key, operation.block) };
      case 'ecdsa':
        if (key.asymmetricKeyType !== 'ec') return { kind: 'unsupported', reason: 'the slot key is not EC' };
        return { kind: 'done', output: ecdsaSignDigest(key, operation.digest) };
      case 'ecdh':
        if (key.asymmetricKeyType !== 'ec') return { kind: 'unsupported', reason: 'the slot key is not EC' };
        return { kind: 'done', output: ecdhRawPoint(key, operation.peerPoint) };
    }
  }

  /** Nothing outside the card item holds the key: deleting the item destroys it. */
  async destroy(): Promise<void> {}
}

const RESIDENT_SPEC: Record<PivAlgorithm, ResidentKeySpec> = {
  rsa2048: 'RSA_2048',
  rsa3072: 'RSA_3072',
  rsa4096: 'RSA_4096',
  p256: 'ECC_NIST_P256',
  p384: 'ECC_NIST_P384',
};

/** Each DigestInfo prefix → the KMS algorithm that signs that digest. */
const DIGEST_INFOS: ReadonlyArray<{ prefix: string; algorithm: ResidentSigningAlgorithm; length: number }> = [
  { prefix: PKCS1_DIGEST_INFO.sha256, algorithm: 'RSASSA_PKCS1_V1_5_SHA_256', length: 32 },
  { prefix: PKCS1_DIGEST_INFO.sha384, algorithm: 'RSASSA_PKCS1_V1_5_SHA_384', length: 48 },
  { prefix: PKCS1_DIGEST_INFO.sha512, algorithm: 'RSASSA_PKCS1_V1_5_SHA_512', length: 64 },
];

/**
 * Recovers the digest from a host-padded PKCS#1 v1.5 signature block (00 01 FF..FF 00 DigestInfo), the
 * only raw-RSA input KMS can serve; anything else (decryption, PSS, SHA-1) is undefined.
 */
export function digestFromPkcs1Block(block: Uint8Array): { algorithm: ResidentSigningAlgorithm; digest: Uint8Array } | undefined {
  if (block[0] !== 0x00 || block[1] !== 0x01) return undefined;
  let index = 2;
  while (index < block.length && block[index] === 0xff) index++;
  if (index < 10 || block[index] !== 0x00) return undefined; // at least 8 bytes of FF padding
  const digestInfo = Buffer.from(block.subarray(index + 1));
  for (const known of DIGEST_INFOS) {
    const prefix = Buffer.from(known.prefix, 'hex');
    if (digestInfo.length === prefix.length + known.length && digestInfo.subarray(0, prefix.length).equals(prefix)) {
      return { algorithm: known.algorithm, digest: digestInfo.subarray(prefix.length) };
    }
  }
  return undefined;
}

/**
 * KMS-resident custody: each slot key is a non-exportable KMS key. ECDSA, ECDH and PKCS#1 v1.5
 * signatures run in KMS; raw RSA that is not a v1.5 signature block (decryption, PSS) is refused.
 */
export class ResidentSlotKeys implements SlotKeys {
  readonly mode = 'kms-resident';
  readonly #keys: ResidentKeys;

  constructor(keys: ResidentKeys) {
    this.#keys = keys;
  }

  async generate(algorithm: PivAlgorithm, context: WrapContext): Promise<{ record: SlotKeyRecord; publicKey: Uint8Array }> {
    const usage = residentUsage(context.slot, algorithm);
    const created = await this.#keys.create(RESIDENT_SPEC[algorithm], {
      tenant: context.tenant,
      purpose: 'card-key',
      usage,
      label: `card ${context.card} slot ${context.slot}`,
    });
    return { record: { custody: 'kms-resident', keyId: created.keyId }, publicKey: created.publicKey };
  }

  async operate(record: SlotKeyRecord, context: WrapContext, algorithm: PivAlgorithm, operation: PrivateKeyOperation): Promise<OperationResult> {
    if (record.custody !== 'kms-resident') throw new ValidationError('not a KMS-resident slot key');
    // Refuse here what KMS would refuse for the key's fixed usage, so the host gets a status word.
    const usage = residentUsage(context.slot, algorithm);
    if (operation.kind === 'ecdh' && usage !== 'key-agreement')
      return { kind: 'unsupported', reason: `the KMS-resident key of slot ${context.slot} signs; only an EC key in 9D agrees keys` };
    if (operation.kind !== 'ecdh' && usage !== 'sign')
      return { kind: 'unsupported', reason: `the KMS-resident key of slot ${context.slot} is a key-agreement key; it cannot sign` };
    switch (operation.kind) {
      case 'rsa-raw': {
        const recovered = digestFromPkcs1Block(operation.block);
        if (!recovered) return { kind: 'unsupported', reason: 'KMS-resident RSA keys sign PKCS#1 v1.5 SHA-256/384/512 blocks only' };
        return { kind: 'done', output: await this.#keys.signDigest(record.keyId, recovered.algorithm, recovered.digest, 'card-key') };
      }
      case 'ecdsa': {
        const { digest } = operation;
        const wanted = algorithm === 'p384' ? 48 : 32;
        if (digest.length !== wanted) return { kind: 'unsupported', reason: `KMS-resident ${algorithm} keys sign ${wanted}-byte digests only` };
        return {
          kind: 'done',
          output: await this.#keys.signDigest(record.keyId, algorithm === 'p384' ? 'ECDSA_SHA_384' : 'ECDSA_SHA_256', digest, 'card-key'),
        };
      }
      case 'ecdh': {
        const peer = pointToSpki(operation.peerPoint, algorithm);
        if (!peer) return { kind: 'unsupported', reason: 'the peer point is not on the slot key curve' };
        return { kind: 'done', output: await this.#keys.deriveSharedSecret(record.keyId, peer) };
      }
    }
  }

  async destroy(record: SlotKeyRecord): Promise<void> {
    if (record.custody === 'kms-resident') await this.#keys.destroy(record.keyId);
  }
}

/** KMS fixes a key's usage at creation: the key-management slot's EC key agrees keys, the others sign. */
function residentUsage(slot: string, algorithm: PivAlgorithm): 'sign' | 'key-agreement' {
  return slot === '9d' && !algorithm.startsWith('rsa') ? 'key-agreement' : 'sign';
}

/** An uncompressed point as SubjectPublicKeyInfo DER (what KMS DeriveSharedSecret takes), or undefined. */
function pointToSpki(point: Uint8Array, algorithm: PivAlgorithm): Uint8Array | undefined {
  const size = algorithm === 'p256' ? 32 : algorithm === 'p384' ? 48 : 0;
  if (!size || point.length !== 1 + 2 * size || point[0] !== 0x04) return undefined;
  try {
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: size === 32 ? 'P-256' : 'P-384',
        x: Buffer.from(point.subarray(1, 1 + size)).toString('base64url'),
        y: Buffer.from(point.subarray(1 + size)).toString('base64url'),
      },
      format: 'jwk',
    }).export({ format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}
