import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { ConflictError, UnavailableError } from '../errors.ts';
import type { Clock, DirectoryStore, Item } from '../../ports.ts';
import { tenantPartition } from '../directory/keys.ts';
import type { OidcSettings } from '../directory/tenant.ts';
import type { TenantKeys } from '../oidc/keys.ts';
import type { SigningKey } from './signature.ts';
import { loadX509 } from '../pki/x509-lib.ts';

type CertificateItem = Item & { certificatePem: string; kid: string; createdAt: string };
const certificateKey = (tenant: string, kid: string) => ({ PK: tenantPartition(tenant), SK: `SAMLCERT#${kid}` });

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
const VALIDITY_YEARS = 10;

/**
 * The tenant's SAML signing identity: its current token-signing key, with a self-signed X.509
 * certificate made once per key and stored in the directory, so the metadata (and every SP that pinned
 * it) stays stable until the key rotates. SAML signs with RSA keys only.
 */
export class IdpCertificates {
  readonly #keys: TenantKeys;
  readonly #directory: DirectoryStore;
  readonly #clock: Clock;

  constructor(keys: TenantKeys, directory: DirectoryStore, clock: Clock) {
    this.#keys = keys;
    this.#directory = directory;
    this.#clock = clock;
  }

  /** The private keys an SP may have encrypted to: the one our metadata publishes for encryption (PEM). */
  async decryptionKeys(tenant: string, settings: OidcSettings): Promise<string[]> {
    const current = await this.signingKey(tenant, settings);
    return [current.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string];
  }

  async signingKey(tenant: string, settings: OidcSettings): Promise<SigningKey & { kid: string }> {
    const current = await this.#keys.currentPrivateKey(tenant, settings);
    if (current.alg !== 'RS256') throw new UnavailableError('kms', 'SAML signing needs an RSA tenant key (signingAlgorithm RS256)');
    return { kid: current.kid, privateKey: current.privateKey, certificatePem: await this.#certificateFor(tenant, current.kid, current.privateKey) };
  }

  /**
   * The certificate of the key that signs after the next rotation, for the metadata: SPs that refresh
   * metadata trust it before it signs anything. Undefined when the ring has no (RSA) next key.
   */
  async nextCertificate(tenant: string, settings: OidcSettings): Promise<string | undefined> {
    const next = await this.#keys.nextPrivateKey(tenant, settings);
    if (!next || next.alg !== 'RS256') return undefined;
    return this.#certificateFor(tenant, next.kid, next.privateKey);
  }

  /** The stored certificate of a key, made and stored on first use (one put-if-absent: every caller publishes the same). */
  async #certificateFor(tenant: string, kid: string, privateKey: KeyObject): Promise<string> {
    const stored = await this.#directory.get<CertificateItem>(certificateKey(tenant, kid));
    if (stored) return stored.certificatePem;
    const certificatePem = await this.#issue(tenant, privateKey);
    try {
      await this.#directory.put(
        { ...certificateKey(tenant, kid), kid, certificatePem, createdAt: new Date(this.#clock.now()).toISOString() },
        { absent: true },
      );
      return certificatePem;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      return (await this.#directory.get<CertificateItem>(certificateKey(tenant, kid)))!.certificatePem;
    }
  }

  async #issue(tenant: string, privateKey: KeyObject): Promise<string> {
    const x509 = await loadX509();
    const signing = await webcrypto.subtle.importKey('pkcs8', privateKey.export({ format: 'der', type: 'pkcs8' }), RSA, false, ['sign']);
    const publicKey = await webcrypto.subtle.importKey('spki', createPublicKey(privateKey).export({ format: 'der', type: 'spki' }), RSA, true, ['verify']);
    const now = this.#clock.now();
    const notAfter = new Date(now);
    notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALIDITY_YEARS);
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      subject: `CN=${tenant.replace(/[,+="\\<>;#]/g, '')} SAML signing, O=cloudcard`,
      issuer: `CN=${tenant.replace(/[,+="\\<>;#]/g, '')} SAML signing, O=cloudcard`,
      notBefore: new Date(now - 60_000),
      notAfter,
      signingAlgorithm: RSA,
      publicKey,
      signingKey: signing,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
    });
    return certificate.toString('pem');
  }
}
