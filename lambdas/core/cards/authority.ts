import { createHash, webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { derToJose } from '../crypto/ecdsa.ts';
import { ConflictError } from '../errors.ts';
import type { Clock, DirectoryStore, Item, ResidentKeys } from '../../ports.ts';
import type { PivSlot } from '../piv/card-port.ts';
import { cardAuthorityKey } from './card-item.ts';
import { listSignerKey, readListSigner, type ListSigner } from './list-signer.ts';
import { contentSignerKey, readContentSigner, type StoredContentSigner } from './content-signer.ts';
import { pkiUrls } from '../pki/urls.ts';
import type { TruststorePublisher } from '../pki/truststore.ts';
import { loadX509 } from '../pki/x509-lib.ts';

const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** The largest message KMS signs as RAW (MessageType RAW); larger ones are signed as a digest. */
const MAX_RAW_MESSAGE = 4096;
const CA_VALIDITY_YEARS = 10;
const CARD_VALIDITY_YEARS = 3;

/** OIDs of the extended key usages a PIV card certificate carries. */
const EKU = {
  clientAuth: '1.3.6.1.5.5.7.3.2',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  smartcardLogon: '1.3.6.1.4.1.311.20.2.2',
  pivCardAuth: '2.16.840.1.101.3.6.8',
  documentSigning: '1.3.6.1.4.1.311.10.3.12',
  pivContentSigning: '2.16.840.1.101.3.6.7',
} as const;

/** What each PIV slot's certificate is for (SP 800-73-4 §3.1; key usage as Windows and OpenSC expect). */
type KeyUsage = keyof typeof X509.KeyUsageFlags;
const SLOT_PROFILE: Record<Exclude<PivSlot, 'f9'>, { keyUsage: KeyUsage[]; eku: string[] }> = {
  '9a': { keyUsage: ['digitalSignature'], eku: [EKU.clientAuth, EKU.smartcardLogon] },
  '9c': { keyUsage: ['digitalSignature', 'nonRepudiation'], eku: [EKU.emailProtection, EKU.documentSigning] },
  '9d': { keyUsage: ['keyEncipherment', 'keyAgreement'], eku: [EKU.emailProtection] },
  // clientAuth beside PIV card authentication: NSS (Chromium, Firefox) offers a certificate for TLS client
  // authentication only with it (or with no EKU). The assurance comes from the slot, not the EKU (cert-login.ts).
  '9e': { keyUsage: ['digitalSignature'], eku: [EKU.pivCardAuth, EKU.clientAuth] },
};
const keyUsageFlags = (x509: typeof X509, usages: readonly KeyUsage[]): number => usages.reduce((flags, usage) => flags | x509.KeyUsageFlags[usage], 0);

type AuthorityItem = Item & { keyId: string; certificatePem: string; createdAt: string };
/** Beside the tenant's cards, so the same grant covers it (see cardPartition). */
const authorityKey = cardAuthorityKey;

export interface TenantCa {
  readonly keyId: string;
  readonly certificate: X509.X509Certificate;
}

/** The tenant's card CA if it exists (read only: the PKI endpoints never create one). */
export async function readAuthority(directory: DirectoryStore, tenant: string): Promise<TenantCa | undefined> {
  const stored = await directory.get<AuthorityItem>(authorityKey(tenant));
  return stored ? { keyId: stored.keyId, certificate: new (await loadX509()).X509Certificate(stored.certificatePem) } : undefined;
}

/** A certificate the CA issued, with what the register of issued certificates records. */
export interface IssuedCertificate {
  readonly der: Uint8Array;
  /** Lower-case hex. */
  readonly serial: string;
  readonly notAfter: Date;
}

export interface CardHolder {
  readonly tenant: string;
  readonly username: string;
  readonly displayName: string;
  readonly email?: string;
  /** The card the certificate is for: its label and id name the certificate (see `cardCommonName`). */
  readonly card: { readonly id: string; readonly label: string };
}

/** PKCS#11 token labels are 32 characters (CK_TOKEN_INFO.label); OpenSC cuts longer names there. */
const TOKEN_LABEL_LENGTH = 32;
/** How much of the card id the name carries: enough to tell a user's cards apart, short enough to read. */
const SHORT_ID_LENGTH = 6;

/**
 * The common name of a card's certificates: the card label and a short card id, e.g. "Alice laptop
 * (Xk3v9Q)". OpenSC's PIV emulation names the token after the CN of the first certificate on the card
 * (pkcs15-piv.c), so PIN prompts, `pkcs11-tool -L` and NSS nicknames show this: the label is cut so the
 * whole name fits the 32-character token label and the id always shows. The holder stays named by the
 * UID attribute and the UPN and e-mail alternative names.
 */
export function cardCommonName(label: string, id: string): string {
  const suffix = ` (${id.slice(0, SHORT_ID_LENGTH)})`;
  const clean = rdnValue(label).trim();
  return `${clean.slice(0, TOKEN_LABEL_LENGTH - suffix.length).trimEnd()}${suffix}`;
}

/** Strips the characters that would change an RDN's structure; names are display text, not syntax. */
// eslint-disable-next-line no-control-regex -- control characters are what this removes
const rdnValue = (value: string): string => value.replace(/[,+="\\<>;#\u0000-\u001f]/g, '').slice(0, 64) || '-';

/**
 * A WebCrypto stand-in whose only job is `sign`: @peculiar/x509 builds and encodes the certificate, the
 * signature comes from the CA's resident key (KMS in AWS), converted from DER to the form WebCrypto gives.
 */
export function residentSigningCrypto(keys: ResidentKeys, keyId: string): Parameters<typeof X509.X509CertificateGenerator.create>[1] {
  const subtle = {
    sign: async (_algorithm: unknown, _key: unknown, data: ArrayBuffer | Uint8Array) => {
      const message = new Uint8Array(data as ArrayBuffer);
      // KMS signs at most 4096 bytes as RAW; a larger to-be-signed (a CRL of more than a few dozen
      // entries) goes as its SHA-256 digest, the same rule as the stack signer's.
      const signature =
        message.length <= MAX_RAW_MESSAGE
          ? await keys.signMessage(keyId, 'ECDSA_SHA_256', message, 'card-ca')
          : await keys.signDigest(keyId, 'ECDSA_SHA_256', createHash('sha256').update(message).digest(), 'card-ca');
      return derToJose(signature, 32).buffer;
    },
  };
  return { subtle, getRandomValues: webcrypto.getRandomValues.bind(webcrypto) } as unknown as Parameters<typeof X509.X509CertificateGenerator.create>[1];
}

/** A reference to the CA's private key for the generator: its algorithm only; signing goes to KMS. */
export const residentKeyHandle = {
  algorithm: { name: 'ECDSA', namedCurve: 'P-256' },
  type: 'private',
  extractable: false,
  usages: ['sign'],
} as unknown as webcrypto.CryptoKey;

/** 127 random bits, positive, first octet never zero (so its hex is the canonical form). */
const randomSerial = (): string =>
  Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString('hex')
    .replace(/^(0|[89a-f])/, '1');

/**
 * Each tenant's card certificate authority, used by the admin function only (enrolment). Its key is a
 * resident key of purpose `card-ca` (a KMS ECC P-256 key in AWS) made on first use; its self-signed
 * certificate is stored in the directory. Certificates it issues carry the PIV slot's key usage and EKU
 * (smart-card logon and client authentication on 9A) and the holder's e-mail and UPN as subject
 * alternative names. It also issues the certificate of the tenant's card-list signing key, which the card
 * function signs card lists with: the CA key itself never signs anything but certificates.
 */
export class CardAuthority {
  readonly #directory: DirectoryStore;
  readonly #keys: ResidentKeys;
  readonly #clock: Clock;
  readonly #truststore: Pick<TruststorePublisher, 'ensureListed'> | undefined;

  /** With a truststore publisher, enrolment makes sure the tenant's CA is in the mutual-TLS truststore. */
  constructor(directory: DirectoryStore, keys: ResidentKeys, clock: Clock, truststore?: Pick<TruststorePublisher, 'ensureListed'>) {
    this.#directory = directory;
    this.#keys = keys;
    this.#clock = clock;
    this.#truststore = truststore;
  }

  /** The resident keys the CA key lives in (its CRL is signed with the same). */
  get residentKeys(): ResidentKeys {
    return this.#keys;
  }

  /** The tenant's CA, created once: a race makes two keys, the loser destroys its own. */
  async authority(tenant: string): Promise<TenantCa> {
    const stored = await readAuthority(this.#directory, tenant);
    if (stored) return stored;
    const x509 = await loadX509();
    const { keyId, publicKey } = await this.#keys.create('ECC_NIST_P256', { tenant, purpose: 'card-ca', label: 'card CA' });
    const name = `CN=${rdnValue(tenant)} card CA, O=cloudcard`;
    const now = this.#clock.now();
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: name,
        issuer: name,
        notBefore: new Date(now - 60_000),
        notAfter: yearsAfter(now, CA_VALIDITY_YEARS),
        signingAlgorithm: ECDSA_SHA256,
        publicKey: new x509.PublicKey(arrayBuffer(publicKey)),
        signingKey: residentKeyHandle,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(new x509.PublicKey(arrayBuffer(publicKey))),
        ],
      },
      residentSigningCrypto(this.#keys, keyId),
    );
    try {
      await this.#directory.put(
        { ...authorityKey(tenant), keyId, certificatePem: certificate.toString('pem'), createdAt: new Date(now).toISOString() },
        { absent: true },
      );
      return { keyId, certificate };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      await this.#keys.destroy(keyId);
      return this.authority(tenant);
    }
  }

  /**
   * Makes sure the tenant has its CA, its card-list signer (a `card-list` resident key with a
   * certificate from the CA) and its PIV content signer (the same key, a second certificate with
   * id-PIV-content-signing), creating what is missing: enrolment calls it once, so a tenant with cards
   * has all three. Racing creators each make a key; the one whose write loses destroys its own.
   */
  async prepare(tenant: string): Promise<{ listSigner: ListSigner; contentSigner: StoredContentSigner }> {
    const listSigner = await this.#listSigner(tenant);
    return { listSigner, contentSigner: await this.#contentSigner(tenant, listSigner) };
  }

  async #listSigner(tenant: string): Promise<ListSigner> {
    const ca = await this.authority(tenant);
    // One read when the CA is already published; a CA made now (or whose publication failed) is published.
    await this.#truststore?.ensureListed(ca.certificate.toString('pem'));
    const stored = await readListSigner(this.#directory, tenant);
    if (stored) return stored;
    const x509 = await loadX509();
    const { keyId, publicKey } = await this.#keys.create('ECC_NIST_P256', { tenant, purpose: 'card-list', label: 'card list signer' });
    const now = this.#clock.now();
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: `CN=${rdnValue(tenant)} card list, O=cloudcard`,
        issuer: ca.certificate.subjectName,
        notBefore: new Date(now - 60_000),
        notAfter: ca.certificate.notAfter,
        signingAlgorithm: ECDSA_SHA256,
        publicKey: new x509.PublicKey(arrayBuffer(publicKey)),
        signingKey: residentKeyHandle,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          await x509.SubjectKeyIdentifierExtension.create(new x509.PublicKey(arrayBuffer(publicKey))),
          await x509.AuthorityKeyIdentifierExtension.create(ca.certificate, false),
        ],
      },
      residentSigningCrypto(this.#keys, ca.keyId),
    );
    const signer: ListSigner = { keyId, certificatePem: certificate.toString('pem'), caCertificatePem: ca.certificate.toString('pem') };
    try {
      await this.#directory.put({ ...listSignerKey(tenant), ...signer, createdAt: new Date(now).toISOString() }, { absent: true });
      return signer;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      await this.#keys.destroy(keyId);
      return this.#listSigner(tenant);
    }
  }

  /**
   * The PIV content-signing certificate of the card-list key (EKU id-PIV-content-signing, SP 800-73-4
   * §3.3.2 and SP 800-76): a second certificate, so the card-list certificate stays as relying parties know it.
   * Racing creators each issue one; the first write stands and the others read it.
   */
  async #contentSigner(tenant: string, listSigner: ListSigner): Promise<StoredContentSigner> {
    const stored = await readContentSigner(this.#directory, tenant);
    if (stored) return stored;
    const ca = await this.authority(tenant);
    const x509 = await loadX509();
    const publicKey = new x509.X509Certificate(listSigner.certificatePem).publicKey;
    const now = this.#clock.now();
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: `CN=${rdnValue(tenant)} PIV content signer, O=cloudcard`,
        issuer: ca.certificate.subjectName,
        notBefore: new Date(now - 60_000),
        notAfter: ca.certificate.notAfter,
        signingAlgorithm: ECDSA_SHA256,
        publicKey,
        signingKey: residentKeyHandle,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([EKU.pivContentSigning], true),
          await x509.SubjectKeyIdentifierExtension.create(publicKey),
          await x509.AuthorityKeyIdentifierExtension.create(ca.certificate, false),
        ],
      },
      residentSigningCrypto(this.#keys, ca.keyId),
    );
    const signer: StoredContentSigner = { keyId: listSigner.keyId, certificatePem: certificate.toString('pem') };
    try {
      await this.#directory.put({ ...contentSignerKey(tenant), ...signer, createdAt: new Date(now).toISOString() }, { absent: true });
      return signer;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      return (await readContentSigner(this.#directory, tenant))!;
    }
  }

  /**
   * Issues the certificate of one card slot for a holder's public key (SubjectPublicKeyInfo DER). With
   * the public base URL, it names the tenant CA's CRL (distribution point) and OCSP responder and CA
   * certificate (authority information access), so relying parties can check it.
   */
  async issue(holder: CardHolder, slot: Exclude<PivSlot, 'f9'>, subjectPublicKey: Uint8Array, baseUrl?: string): Promise<IssuedCertificate> {
    const ca = await this.authority(holder.tenant);
    const x509 = await loadX509();
    const profile = SLOT_PROFILE[slot];
    const now = this.#clock.now();
    const urls = baseUrl ? pkiUrls(baseUrl, holder.tenant) : undefined;
    const serialNumber = randomSerial();
    const notAfter = yearsAfter(now, CARD_VALIDITY_YEARS);
    const names: X509.JsonGeneralName[] = [{ type: 'upn', value: `${holder.username}@${holder.tenant}` }];
    if (holder.email) names.push({ type: 'email', value: holder.email });
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber,
        subject: `CN=${cardCommonName(holder.card.label, holder.card.id)}, 0.9.2342.19200300.100.1.1=${rdnValue(holder.username)}, O=${rdnValue(holder.tenant)}`,
        issuer: ca.certificate.subjectName,
        notBefore: new Date(now - 60_000),
        notAfter,
        signingAlgorithm: ECDSA_SHA256,
        publicKey: new x509.PublicKey(arrayBuffer(subjectPublicKey)),
        signingKey: residentKeyHandle,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(keyUsageFlags(x509, profile.keyUsage), true),
          new x509.ExtendedKeyUsageExtension(profile.eku, false),
          new x509.SubjectAlternativeNameExtension(names, false),
          await x509.SubjectKeyIdentifierExtension.create(new x509.PublicKey(arrayBuffer(subjectPublicKey))),
          await x509.AuthorityKeyIdentifierExtension.create(ca.certificate, false),
          ...(urls
            ? [
                new x509.CRLDistributionPointsExtension([urls.crl], false),
                new x509.AuthorityInfoAccessExtension({ ocsp: [urls.ocsp], caIssuers: [urls.ca] }, false),
              ]
            : []),
        ],
      },
      residentSigningCrypto(this.#keys, ca.keyId),
    );
    return { der: new Uint8Array(certificate.rawData), serial: serialNumber, notAfter };
  }
}

/** A standalone ArrayBuffer copy of the bytes, which is what the x509 types accept. */
const arrayBuffer = (bytes: Uint8Array): ArrayBuffer => Uint8Array.from(bytes).buffer;

function yearsAfter(now: number, years: number): Date {
  const date = new Date(now);
  date.setUTCFullYear(date.getUTCFullYear() + years);
  return date;
}
