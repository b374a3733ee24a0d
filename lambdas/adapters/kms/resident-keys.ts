import {
  CreateKeyCommand,
  GetPublicKeyCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  DeriveSharedSecretCommand,
  type KMSClient,
  type KeySpec,
} from '@aws-sdk/client-kms';
import { UnavailableError, ValidationError } from '../../core/errors.ts';
import type { ResidentKeyOwner, ResidentKeyPurpose, ResidentKeys, ResidentKeySpec, ResidentSigningAlgorithm } from '../../ports.ts';
import { KMS_REJECTIONS } from './client.ts';

/** The tag the stack's IAM policies match on: functions may use only keys tagged with their own stack. */
export const RESIDENT_KEY_TAG = 'cloudcard:stack';
/** The tag's value for a stage; the CDK stack grants on exactly this value. */
export const residentKeyStackTag = (stage: string): string => `cloudcard-${stage}`;
/** The tag the stack's IAM policies match each function's allowed purposes on (kms:Sign, DeriveSharedSecret). */
export const RESIDENT_PURPOSE_TAG = 'cloudcard:purpose';

/**
 * Card keys, card CA keys and card-list keys as KMS asymmetric keys, created on demand. Signing keys are
 * SIGN_VERIFY; EC card keys meant for key agreement (slot 9D) are KEY_AGREEMENT, since KMS fixes a key's
 * usage. The purpose a use names is not checked here (KMS has no per-call tag check): the function's IAM
 * policy allows kms:Sign only on keys whose `cloudcard:purpose` tag it was granted.
 */
export class KmsResidentKeys implements ResidentKeys {
  readonly #kms: KMSClient;
  readonly #stackTag: string;

  constructor(kms: KMSClient, stackTag: string) {
    this.#kms = kms;
    this.#stackTag = stackTag;
  }

  async create(spec: ResidentKeySpec, owner: ResidentKeyOwner): Promise<{ keyId: string; publicKey: Uint8Array }> {
    const out = await this.#call(() =>
      this.#kms.send(
        new CreateKeyCommand({
          KeySpec: spec as KeySpec,
          KeyUsage: owner.usage === 'key-agreement' ? 'KEY_AGREEMENT' : 'SIGN_VERIFY',
          Description: `cloudcard ${owner.purpose}${owner.label ? ` ${owner.label}` : ''} for tenant ${owner.tenant}`.slice(0, 8192),
          Tags: [
            { TagKey: RESIDENT_KEY_TAG, TagValue: this.#stackTag },
            { TagKey: 'cloudcard:tenant', TagValue: owner.tenant },
            { TagKey: RESIDENT_PURPOSE_TAG, TagValue: owner.purpose },
          ],
        }),
      ),
    );
    const keyId = out.KeyMetadata?.KeyId;
    if (!keyId) throw new UnavailableError('kms', 'KMS returned no key id');
    return { keyId, publicKey: await this.publicKey(keyId) };
  }

  async publicKey(keyId: string): Promise<Uint8Array> {
    const out = await this.#call(() => this.#kms.send(new GetPublicKeyCommand({ KeyId: keyId })));
    if (!out.PublicKey) throw new UnavailableError('kms', 'KMS returned no public key');
    return out.PublicKey;
  }

  async signMessage(keyId: string, algorithm: ResidentSigningAlgorithm, message: Uint8Array, _purpose: ResidentKeyPurpose): Promise<Uint8Array> {
    if (message.length > 4096) throw new ValidationError('a message to sign must be at most 4096 bytes');
    return this.#sign(keyId, algorithm, message, 'RAW');
  }

  signDigest(keyId: string, algorithm: ResidentSigningAlgorithm, digest: Uint8Array, _purpose: ResidentKeyPurpose): Promise<Uint8Array> {
    return this.#sign(keyId, algorithm, digest, 'DIGEST');
  }

  async deriveSharedSecret(keyId: string, peerPublicKey: Uint8Array): Promise<Uint8Array> {
    const out = await this.#call(() =>
      this.#kms.send(new DeriveSharedSecretCommand({ KeyId: keyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peerPublicKey })),
    );
    if (!out.SharedSecret) throw new UnavailableError('kms', 'KMS returned no shared secret');
    return out.SharedSecret;
  }

  /** Idempotent: a key already pending deletion (an interrupted tenant delete run again) counts as destroyed. */
  async destroy(keyId: string): Promise<void> {
    try {
      await this.#kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    } catch (error) {
      if ((error as { name?: string }).name === 'KMSInvalidStateException' && /pending ?deletion/i.test(String((error as Error).message))) return;
      await this.#call(() => Promise.reject(error));
    }
  }

  async #sign(keyId: string, algorithm: ResidentSigningAlgorithm, message: Uint8Array, type: 'RAW' | 'DIGEST'): Promise<Uint8Array> {
    const out = await this.#call(() => this.#kms.send(new SignCommand({ KeyId: keyId, SigningAlgorithm: algorithm, MessageType: type, Message: message })));
    if (!out.Signature) throw new UnavailableError('kms', 'KMS returned no signature');
    return out.Signature;
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      const name = (error as { name?: string }).name ?? 'Error';
      if (KMS_REJECTIONS.has(name) || name === 'ValidationException' || name === 'NotFoundException' || name === 'KMSInvalidStateException') {
        throw new ValidationError(`KMS refused the operation: ${name}`);
      }
      throw new UnavailableError('kms', `KMS unavailable: ${name}`, { cause: error });
    }
  }
}
