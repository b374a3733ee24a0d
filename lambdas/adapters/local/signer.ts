import { createPrivateKey, createPublicKey, sign as cryptoSign, constants, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { JwsAlgorithm, PublicJwk, Signer } from '../../ports.ts';

/** Signs in-process with a key from the local key file: the embedded stack's stand-in for KmsSigner. */
export class LocalSigner implements Signer {
  readonly keyId: string;
  readonly algorithm: JwsAlgorithm;
  readonly #privateKey: KeyObject;
  #jwk?: Promise<PublicJwk>;

  constructor(keyId: string, privateKeyPem: string, algorithm: JwsAlgorithm = 'RS256') {
    this.keyId = keyId;
    this.algorithm = algorithm;
    this.#privateKey = createPrivateKey(privateKeyPem);
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    switch (this.algorithm) {
      case 'RS256':
        return cryptoSign('sha256', data, this.#privateKey);
      case 'PS256':
        return cryptoSign('sha256', data, { key: this.#privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
      case 'ES256':
        return cryptoSign('sha256', data, { key: this.#privateKey, dsaEncoding: 'ieee-p1363' });
    }
  }

  publicJwk(): Promise<PublicJwk> {
    this.#jwk ??= (async () => {
      const jwk = createPublicKey(this.#privateKey).export({ format: 'jwk' }) as JWK;
      const kid = await calculateJwkThumbprint(jwk);
      return { ...jwk, kty: jwk.kty as 'RSA' | 'EC', kid, alg: this.algorithm, use: 'sig' as const };
    })();
    return this.#jwk;
  }

  async ping(): Promise<void> {}
}
