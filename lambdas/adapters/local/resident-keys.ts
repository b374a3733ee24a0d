import { constants, createHash, createPrivateKey, createPublicKey, generateKeyPair, privateEncrypt, randomUUID, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { ecdhRawPoint, ecdsaSignDigest, PKCS1_DIGEST_INFO } from '../../core/crypto/raw-signatures.ts';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import type {
  DirectoryStore,
  Item,
  KeyCustody,
  ResidentKeyOwner,
  ResidentKeyPurpose,
  ResidentKeys,
  ResidentKeySpec,
  ResidentSigningAlgorithm,
  WrappedKey,
} from '../../ports.ts';

const generate = promisify(generateKeyPair);

type ResidentKeyItem = Item & {
  spec: ResidentKeySpec;
  tenant: string;
  purpose: ResidentKeyPurpose;
  usage?: 'sign' | 'key-agreement';
  wrapped: WrappedKey;
  destroyed?: boolean;
};
/** A partition of their own: only the functions that hold resident keys (card, admin) may reach them (lib/grants.ts). */
const itemKey = (keyId: string) => ({ PK: `RESIDENTKEY#${keyId}`, SK: 'RESIDENTKEY' });
const wrapContext = (item: { tenant: string }, keyId: string) => ({ tenant: item.tenant, card: 'resident-key', slot: keyId });

const HASH_OF: Record<ResidentSigningAlgorithm, keyof typeof PKCS1_DIGEST_INFO> = {
  RSASSA_PKCS1_V1_5_SHA_256: 'sha256',
  RSASSA_PKCS1_V1_5_SHA_384: 'sha384',
  RSASSA_PKCS1_V1_5_SHA_512: 'sha512',
  ECDSA_SHA_256: 'sha256',
  ECDSA_SHA_384: 'sha384',
};

/**
 * The embedded stack's stand-in for KMS asymmetric keys: the private key is kept in the directory store,
 * wrapped by the local key custody, and unwrapped for each operation. Same contract as KmsResidentKeys;
 * since the item records the key's purpose, a use naming another purpose is refused here (what the IAM
 * purpose condition does in AWS).
 */
export class LocalResidentKeys implements ResidentKeys {
  readonly #directory: DirectoryStore;
  readonly #custody: KeyCustody;

  constructor(directory: DirectoryStore, custody: KeyCustody) {
    this.#directory = directory;
    this.#custody = custody;
  }

  async create(spec: ResidentKeySpec, owner: ResidentKeyOwner): Promise<{ keyId: string; publicKey: Uint8Array }> {
    const { privateKey } = spec.startsWith('RSA')
      ? await generate('rsa', { modulusLength: Number(spec.slice(4)) })
      : await generate('ec', { namedCurve: spec === 'ECC_NIST_P256' ? 'P-256' : 'P-384' });
    const keyId = `local-resident-${randomUUID()}`;
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    const wrapped = await this.#custody.wrap(pkcs8, wrapContext(owner, keyId));
    pkcs8.fill(0);
    await this.#directory.put(
      { ...itemKey(keyId), spec, tenant: owner.tenant, purpose: owner.purpose, usage: owner.usage ?? 'sign', wrapped },
      { absent: true },
    );
    return { keyId, publicKey: spkiOf(privateKey) };
  }

  async publicKey(keyId: string): Promise<Uint8Array> {
    return spkiOf(await this.#privateKey(keyId));
  }

  async signMessage(keyId: string, algorithm: ResidentSigningAlgorithm, message: Uint8Array, purpose: ResidentKeyPurpose): Promise<Uint8Array> {
    if (message.length > 4096) throw new ValidationError('a message to sign must be at most 4096 bytes');
    return this.signDigest(keyId, algorithm, createHash(HASH_OF[algorithm]).update(message).digest(), purpose);
  }

  async signDigest(keyId: string, algorithm: ResidentSigningAlgorithm, digest: Uint8Array, purpose: ResidentKeyPurpose): Promise<Uint8Array> {
    const key = await this.#privateKey(keyId, purpose);
    const hash = HASH_OF[algorithm];
    if (digest.length !== createHash(hash).digest().length) throw new ValidationError(`${algorithm} needs a ${hash} digest`);
    if (algorithm.startsWith('ECDSA')) {
      if (key.asymmetricKeyType !== 'ec') throw new ValidationError(`${algorithm} needs an EC key`);
      return ecdsaSignDigest(key, digest);
    }
    if (key.asymmetricKeyType !== 'rsa') throw new ValidationError(`${algorithm} needs an RSA key`);
    // PKCS#1 v1.5 over a ready digest: privateEncrypt pads type 1 around the DigestInfo we give it.
    const digestInfo = Buffer.concat([Buffer.from(PKCS1_DIGEST_INFO[hash], 'hex'), digest]);
    // privateEncrypt with PKCS#1 padding is the v1.5 signature primitive over an encoded DigestInfo.
    return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, digestInfo);
  }

  async deriveSharedSecret(keyId: string, peerPublicKey: Uint8Array): Promise<Uint8Array> {
    const key = await this.#privateKey(keyId, 'card-key');
    let peer: KeyObject;
    try {
      peer = createPublicKey({ key: Buffer.from(peerPublicKey), format: 'der', type: 'spki' });
    } catch {
      throw new ValidationError('the peer public key is not a SubjectPublicKeyInfo');
    }
    const jwk = peer.export({ format: 'jwk' });
    if (!jwk.x || !jwk.y) throw new ValidationError('the peer public key is not an EC key');
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
    return ecdhRawPoint(key, point);
  }

  async destroy(keyId: string): Promise<void> {
    await this.#directory.delete(itemKey(keyId));
  }

  async #privateKey(keyId: string, purpose?: ResidentKeyPurpose): Promise<KeyObject> {
    const item = await this.#directory.get<ResidentKeyItem>(itemKey(keyId));
    if (!item) throw new NotFoundError(`resident key ${keyId} does not exist`);
    if (purpose && item.purpose !== purpose) throw new ValidationError(`resident key ${keyId} is a ${item.purpose} key, not a ${purpose} key`);
    const pkcs8 = await this.#custody.unwrap(item.wrapped, wrapContext(item, keyId));
    try {
      return createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
    } finally {
      pkcs8.fill(0);
    }
  }
}

const spkiOf = (key: KeyObject): Uint8Array => createPublicKey(key).export({ format: 'der', type: 'spki' });
