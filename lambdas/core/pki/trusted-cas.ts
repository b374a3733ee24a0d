import { X509Certificate } from 'node:crypto';
import * as z from '../zod.ts';
import { ValidationError } from '../errors.ts';
import { OutboundUrlError } from '../outbound/url-policy.ts';
import { parseInput } from '../validation.ts';
import type { Clock, DirectoryStore, Item, OutboundHttp } from '../../ports.ts';
import type { Tenants } from '../directory/tenant.ts';
import type { TruststorePublisher } from './truststore.ts';

/** A tenant's list is short: each entry is a root or issuing CA, not a bundle of the web PKI. */
const MAX_CAS = 20;
const MAX_PEM_CHARS = 16_384;

const DOMAIN = z.string().check(z.regex(/^[A-Za-z0-9.-]{1,253}$/, 'a domain name'));
const mappingSchema = z.discriminatedUnion('source', [
  z.strictObject({ source: z.literal('upn'), domain: DOMAIN }),
  z.strictObject({ source: z.literal('email'), domain: DOMAIN }),
  z.strictObject({ source: z.literal('subject'), attribute: z.optional(z.enum(['CN', 'UID', 'emailAddress'])) }),
]);
/** Where the CA publishes its CRL: an https URL the administrator gives (never one read from a certificate). */
const crlSchema = z.strictObject({ url: z.url().check(z.maxLength(2_000)) });
/**
 * An entry is a PEM certificate, or one with the rule mapping its certificates to users (certificate login)
 * and, optionally, the CA's CRL, checked at every sign-in with one of its certificates.
 */
const pemText = z.string().check(z.maxLength(MAX_PEM_CHARS));
const entrySchema = z.union([pemText, z.strictObject({ certificate: pemText, mapping: mappingSchema, crl: z.optional(crlSchema) })]);
export const trustedCasUpdateSchema = z.strictObject({ certificates: z.array(entrySchema).check(z.maxLength(MAX_CAS)) });

/**
 * How a certificate from an external CA names a user of the tenant: `upn` — the UPN SAN in `domain`, its
 * local part is the username; `email` — the e-mail SAN in `domain` is the user's directory e-mail address;
 * `subject` — a subject attribute (default CN) is the username. Without a rule, the CA signs no one in.
 */
export type MappingRule = { source: 'upn' | 'email'; domain: string } | { source: 'subject'; attribute?: 'CN' | 'UID' | 'emailAddress' };

export interface TrustedCa {
  readonly pem: string;
  readonly subject: string;
  readonly issuer: string;
  /** SHA-256 of the DER, colon-separated hex (as `openssl x509 -fingerprint -sha256` prints it). */
  readonly sha256: string;
  readonly notAfter: string;
  /** How its certificates map to users for certificate login (absent: they sign no one in). */
  readonly mapping?: MappingRule;
  /** The CA's CRL (RFC 5280 §5): with it, a sign-in with a certificate it lists, or with no usable CRL, is refused. */
  readonly crl?: { readonly url: string };
}

type TrustedCasItem = Item & { tenant: string; certificates: TrustedCa[]; updatedAt: string };

/**
 * The tenant's list of trusted external CAs (for certificate login with cards or smart cards this
 * platform did not issue). One item beside the tenant (`PK=T#{tenant}`, `SK=TRUSTEDCAS`), so the portal,
 * which reads the tenant partition, can use it; written whole by a PUT. Every entry must be a CA
 * certificate (basicConstraints cA) that is valid now.
 */
export class TrustedCas {
  readonly #directory: DirectoryStore;
  readonly #tenants: Tenants;
  readonly #clock: Clock;
  readonly #truststore: Pick<TruststorePublisher, 'publish'> | undefined;
  readonly #outbound: Pick<OutboundHttp, 'check'>;

  /**
   * With a truststore publisher, every replacement rewrites the mutual-TLS truststore. CRL URLs pass the
   * outbound URL policy (`outbound.check`) when they are written, as every URL the platform will call.
   */
  constructor(
    directory: DirectoryStore,
    tenants: Tenants,
    clock: Clock,
    options: { truststore?: Pick<TruststorePublisher, 'publish'> | undefined; outbound: Pick<OutboundHttp, 'check'> },
  ) {
    this.#directory = directory;
    this.#tenants = tenants;
    this.#clock = clock;
    this.#truststore = options.truststore;
    this.#outbound = options.outbound;
  }

  async list(tenant: string): Promise<TrustedCa[]> {
    await this.#tenants.get(tenant);
    const item = await this.#directory.get<TrustedCasItem>(key(tenant));
    return item?.certificates ?? [];
  }

  async replace(tenant: string, input: unknown): Promise<TrustedCa[]> {
    const request = parseInput(trustedCasUpdateSchema, input, 'trusted CA list');
    await this.#tenants.get(tenant);
    const now = this.#clock.now();
    const issues: string[] = [];
    const certificates: TrustedCa[] = [];
    for (const [index, entry] of request.certificates.entries()) {
      const checked = checkCa(typeof entry === 'string' ? entry : entry.certificate, now);
      if (typeof checked === 'string') issues.push(`certificates.${index}: ${checked}`);
      else if (certificates.some((c) => c.sha256 === checked.sha256)) issues.push(`certificates.${index}: listed twice`);
      else if (typeof entry === 'string') certificates.push(checked);
      else {
        const crlIssue = entry.crl ? await this.#crlUrlProblem(entry.crl.url) : undefined;
        if (crlIssue) issues.push(`certificates.${index}.crl.url: ${crlIssue}`);
        else certificates.push({ ...checked, mapping: entry.mapping as MappingRule, ...(entry.crl ? { crl: { url: entry.crl.url } } : {}) });
      }
    }
    if (issues.length) throw new ValidationError('invalid trusted CA list', issues);
    await this.#directory.put({ ...key(tenant), tenant, certificates, updatedAt: new Date(now).toISOString() });
    // The list is written first: if publishing fails the caller gets the error, and repeating the same
    // PUT (idempotent) publishes again.
    await this.#truststore?.publish();
    return certificates;
  }

  /** Why the outbound URL policy refuses a CRL URL (https, a public address; loopback only where the local stack allows it), if it does. */
  async #crlUrlProblem(url: string): Promise<string | undefined> {
    try {
      await this.#outbound.check(url);
      return undefined;
    } catch (error) {
      if (error instanceof OutboundUrlError) return error.message;
      throw error;
    }
  }
}

const key = (tenant: string) => ({ PK: `T#${tenant}`, SK: 'TRUSTEDCAS' });

/** One PEM certificate checked as a CA valid now, or why it is not. */
export function checkCa(pem: string, now: number): TrustedCa | string {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) return 'exactly one PEM certificate (-----BEGIN CERTIFICATE-----) per entry';
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch {
    return 'not a readable X.509 certificate';
  }
  if (!certificate.ca) return 'not a CA certificate (basicConstraints cA is not set)';
  if (Date.parse(certificate.validTo) <= now) return `expired on ${new Date(certificate.validTo).toISOString()}`;
  if (Date.parse(certificate.validFrom) > now) return `not valid before ${new Date(certificate.validFrom).toISOString()}`;
  return {
    pem: certificate.toString(),
    subject: certificate.subject.replace(/\n/g, ', '),
    issuer: certificate.issuer.replace(/\n/g, ', '),
    sha256: certificate.fingerprint256,
    notAfter: new Date(certificate.validTo).toISOString(),
  };
}
