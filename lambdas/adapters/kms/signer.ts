import { createHash } from 'node:crypto';
import { DescribeKeyCommand, GetPublicKeyCommand, SignCommand, type KMSClient, type SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import { calculateJwkThumbprint, exportJWK, importSPKI } from 'jose';
import { derToJose } from '../../core/crypto/ecdsa.ts';
import { UnavailableError } from '../../core/errors.ts';
import type { JwsAlgorithm, PublicJwk, Signer } from '../../ports.ts';

const KMS_ALGORITHM: Record<JwsAlgorithm, SigningAlgorithmSpec> = {
  RS256: 'RSASSA_PKCS1_V1_5_SHA_256',
  PS256: 'RSASSA_PSS_SHA_256',
  ES256: 'ECDSA_SHA_256',
};

/** KMS accepts at most 4096 bytes as a RAW message; longer inputs are hashed here and sent as DIGEST. */
const MAX_RAW_MESSAGE = 4096;

/**
 * Signs with a KMS asymmetric key: the private key never leaves KMS. ECDSA output (DER) is converted to
 * JOSE form. The public key is fetched once and cached for the life of the process.
 */
export class KmsSigner implements Signer {
  readonly keyId: string;
  readonly algorithm: JwsAlgorithm;
  readonly #kms: KMSClient;
  #jwk?: Promise<PublicJwk>;

  constructor(kms: KMSClient, keyId: string, algorithm: JwsAlgorithm = 'RS256') {
    this.#kms = kms;
    this.keyId = keyId;
    this.algorithm = algorithm;
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    const digest = data.length > MAX_RAW_MESSAGE;
    const out = await this.#call(() =>
      this.#kms.send(
        new SignCommand({
          KeyId: this.keyId,
          SigningAlgorithm: KMS_ALGORITHM[this.algorithm],
          MessageType: digest ? 'DIGEST' : 'RAW',
          Message: digest ? createHash('sha256').update(data).digest() : data,
        }),
      ),
    );
    if (!out.Signature) throw new UnavailableError('kms', 'KMS returned no signature');
    return this.algorithm === 'ES256' ? derToJose(out.Signature, 32) : out.Signature;
  }

  publicJwk(): Promise<PublicJwk> {
    this.#jwk ??= this.#fetchJwk().catch((error: unknown) => {
      this.#jwk = undefined; // do not cache a failure
      throw error;
    });
    return this.#jwk;
  }

  async ping(): Promise<void> {
    await this.#call(() => this.#kms.send(new DescribeKeyCommand({ KeyId: this.keyId })));
  }

  async #fetchJwk(): Promise<PublicJwk> {
    const out = await this.#call(() => this.#kms.send(new GetPublicKeyCommand({ KeyId: this.keyId })));
    if (!out.PublicKey) throw new UnavailableError('kms', 'KMS returned no public key');
    const pem = `-----BEGIN PUBLIC KEY-----\n${Buffer.from(out.PublicKey).toString('base64')}\n-----END PUBLIC KEY-----`;
    const jwk = await exportJWK(await importSPKI(pem, this.algorithm, { extractable: true }));
    // The kid is the RFC 7638 thumbprint: stable, and derived from the key rather than from its ARN.
    const kid = await calculateJwkThumbprint(jwk);
    return { ...jwk, kty: jwk.kty as 'RSA' | 'EC', kid, alg: this.algorithm, use: 'sig' };
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof UnavailableError) throw error;
      throw new UnavailableError('kms', `KMS unavailable: ${(error as { name?: string }).name ?? 'Error'}`, { cause: error });
    }
  }
}
