import { X509Certificate } from 'node:crypto';
import { cardPartition } from '../cards/card-item.ts';
import { directoryKeys, tenantPartition } from '../directory/keys.ts';
import type { Tenants } from '../directory/tenant.ts';
import type { Clock, DirectoryStore, Item, TruststoreWriter } from '../../ports.ts';

/**
 * The mutual-TLS truststore: one PEM bundle of every CA whose certificates may open a TLS connection to
 * the certificate-login origin — each tenant's card CA and each tenant's trusted external CAs. The
 * gateway (API Gateway's truststore, or the local HTTPS listener) only checks that a client certificate
 * chains to one of them; which tenant the certificate belongs to, and everything else, the function
 * checks itself.
 */

/** The bundle's object key in the truststore bucket (AWS) and file name in the data directory (local). */
export const TRUSTSTORE_OBJECT_KEY = 'truststore.pem';

/**
 * Stands in when no tenant has a CA yet: API Gateway refuses an empty truststore. A self-signed CA
 * certificate whose private key was discarded when it was made, so no client certificate chains to it.
 */
export const TRUSTSTORE_PLACEHOLDER_PEM = `-----BEGIN CERTIFICATE-----
MIICGDCCAb6gAwIBAgIUSbIIpTISV7P6QTuA/yyqGuakMgEwCgYIKoZIzj0EAwIw
VzESMBAGA1UECgwJY2xvdWRjYXJkMUEwPwYDVQQDDDhjbG91ZGNhcmQgdHJ1c3Rz
dG9yZSBwbGFjZWhvbGRlciAobm8gcHJpdmF0ZSBrZXkgZXhpc3RzKTAgFw0yNjEy
MDQxOTE3NDFaGA8yMTI2MTExMDE5MTc0MVowVzESMBAGA1UECgwJY2xvdWRjYXJk
MUEwPwYDVQQDDDhjbG91ZGNhcmQgdHJ1c3RzdG9yZSBwbGFjZWhvbGRlciAobm8g
cHJpdmF0ZSBrZXkgZXhpc3RzKTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKIU
GTbjO5Z2uMJ1FWDzi50s0+rZLtzF2Q0x74tprtgkx9lG724Us3cxlhRPnGMWkr8c
cHBXVvVZ/SLEUfAOBCGjZjBkMB0GA1UdDgQWBBQcrGS/00B8S2gD1yrGwfhUsyLA
nTAfBgNVHSMEGDAWgBQcrGS/00B8S2gD1yrGwfhUsyLAnTASBgNVHRMBAf8ECDAG
AQH/AgEAMA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQDAgNIADBFAiEA9J2Bmvcn
9UdGjnqDAitZ/qkCIV/n/hpNvyKwGoBq0yACIAinswPR8EnKHwZf2CrS44n0KJFT
0/ytAulqrPVxqzzu
-----END CERTIFICATE-----
`;

export interface TruststoreBundle {
  /** The PEM text: certificates in canonical PEM, ordered by SHA-256 fingerprint, each once. */
  readonly pem: string;
  /** SHA-256 fingerprints of the certificates in it, in bundle order. */
  readonly fingerprints: readonly string[];
}

/**
 * The bundle for a set of PEM certificates: each parsed and re-encoded canonically, duplicates (same DER)
 * dropped, ordered by SHA-256 fingerprint, so the same set always gives the same bytes whatever the order
 * or formatting it was collected in. An empty set gives the placeholder. An unreadable certificate throws:
 * every source was checked when it was stored, so one here is a damaged item, not an input to skip.
 */
export function buildTruststoreBundle(pems: readonly string[]): TruststoreBundle {
  const byFingerprint = new Map<string, string>();
  for (const pem of pems.length > 0 ? pems : [TRUSTSTORE_PLACEHOLDER_PEM]) {
    const certificate = new X509Certificate(pem);
    byFingerprint.set(certificate.fingerprint256, certificate.toString());
  }
  const fingerprints = [...byFingerprint.keys()].sort();
  return { pem: fingerprints.map((fingerprint) => byFingerprint.get(fingerprint)!.trimEnd() + '\n').join(''), fingerprints };
}

/** What was last published, beside the admin clients (`PK=PLATFORM`): enrolment checks its CA is listed. */
type PublishedItem = Item & { fingerprints: string[]; publishedAt: string };
const publishedKey = directoryKeys.truststore();

type AuthorityItem = Item & { certificatePem: string };
type TrustedCasItem = Item & { certificates: { pem: string }[] };

/**
 * Collects the truststore from the directory and writes it (the admin path: the admin function rewrites
 * it when a tenant CA is created or a tenant's trusted CA list is replaced). After each write it records
 * the fingerprints written, so `ensureListed` can tell with one read whether a CA made earlier is in the
 * bundle (a publication that failed, or raced with another tenant's, is repaired by the next enrolment).
 */
export class TruststorePublisher {
  readonly #directory: DirectoryStore;
  readonly #tenants: Tenants;
  readonly #writer: TruststoreWriter;
  readonly #clock: Clock;

  constructor(directory: DirectoryStore, tenants: Tenants, writer: TruststoreWriter, clock: Clock) {
    this.#directory = directory;
    this.#tenants = tenants;
    this.#writer = writer;
    this.#clock = clock;
  }

  /** Every tenant's card CA certificate and trusted external CAs (disabled tenants too: the function refuses their logins). */
  async collect(): Promise<string[]> {
    const pems: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#tenants.list(cursor);
      for (const tenant of page.tenants) {
        const authority = await this.#directory.get<AuthorityItem>({ PK: cardPartition(tenant.id), SK: 'CARDCA' });
        if (authority) pems.push(authority.certificatePem);
        const trusted = await this.#directory.get<TrustedCasItem>({ PK: tenantPartition(tenant.id), SK: 'TRUSTEDCAS' });
        for (const certificate of trusted?.certificates ?? []) pems.push(certificate.pem);
      }
      cursor = page.cursor;
    } while (cursor);
    return pems;
  }

  /** Rebuilds the bundle, writes it, then records what it holds. */
  async publish(): Promise<TruststoreBundle> {
    const bundle = buildTruststoreBundle(await this.collect());
    await this.#writer.write(bundle.pem);
    await this.#directory.put({ ...publishedKey, fingerprints: [...bundle.fingerprints], publishedAt: new Date(this.#clock.now()).toISOString() });
    return bundle;
  }

  /** Publishes unless the last published bundle already holds this certificate. */
  async ensureListed(pem: string): Promise<void> {
    const published = await this.#directory.get<PublishedItem>(publishedKey);
    if (published?.fingerprints.includes(new X509Certificate(pem).fingerprint256)) return;
    await this.publish();
  }
}
