import 'reflect-metadata'; // @peculiar/x509 2.x needs a Reflect polyfill (tsyringe), imported before it
import * as x509 from '@peculiar/x509';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Clock, DirectoryStore, Item, ResidentKeys } from '../../ports.ts';
import { readAuthority, residentKeyHandle, residentSigningCrypto, type TenantCa } from '../cards/authority.ts';
import { unsignedInteger } from './der.ts';
import { REVOCATION_REASONS, type CertificateRegistry, type RevokedEntry } from './registry.ts';

/** How long a CRL is valid (nextUpdate - thisUpdate), and how long before nextUpdate a fresh one is made. */
export const CRL_VALIDITY_SECONDS = 24 * 3600;
export const CRL_REFRESH_MARGIN_SECONDS = 3600;
/** Base64 characters per stored part: a 10,000-entry CRL (about 530 KB) does not fit one 400 KB item. */
const PART_CHARS = 300_000;
const OID_CRL_NUMBER = '2.5.29.20';

/**
 * The published CRL of a tenant, in its own partition (`CRL#{tenant}`), so the public PKI function may
 * write it without any write access to cards. The head item names the current CRL number and its parts
 * (`SK=PART#{number}#{i}`, base64 DER); a new CRL writes its parts first, then moves the head with one
 * write guarded on the number it replaces. Every function instance serves the CRL the head names.
 */
type CrlHead = Item & { tenant: string; number: number; parts: number; thisUpdate: string; nextUpdate: string; entries: number };
type CrlPart = Item & { data: string };
const crlPartition = (tenant: string) => `CRL#${tenant}`;
const headKey = (tenant: string) => ({ PK: crlPartition(tenant), SK: 'HEAD' });
const partKey = (tenant: string, number: number, index: number) => ({ PK: crlPartition(tenant), SK: `PART#${number}#${index}` });

export interface PublishedCrl {
  readonly der: Uint8Array;
  readonly number: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}

/** Builds and signs a CRL over the given entries with the CA's resident key (ECDSA P-256, SHA-256). */
export async function buildCrl(ca: TenantCa, keys: ResidentKeys, entries: readonly RevokedEntry[], number: number, thisUpdate: Date): Promise<Uint8Array> {
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: ca.certificate.subjectName,
      thisUpdate,
      nextUpdate: new Date(thisUpdate.getTime() + CRL_VALIDITY_SECONDS * 1000),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as Parameters<typeof x509.X509CrlGenerator.create>[0]['signingAlgorithm'],
      signingKey: residentKeyHandle,
      extensions: [
        await x509.AuthorityKeyIdentifierExtension.create(ca.certificate, false),
        new x509.Extension(OID_CRL_NUMBER, false, unsignedInteger(bigEndian(number))),
      ],
      entries: entries.map((entry) => ({ serialNumber: entry.serial, revocationDate: entry.revokedAt, reason: REVOCATION_REASONS[entry.reason] as x509.X509CrlReason })),
    },
    residentSigningCrypto(keys, ca.keyId),
  );
  return new Uint8Array(crl.rawData);
}

const bigEndian = (value: number): Uint8Array => {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Uint8Array.from(bytes.length ? bytes : [0]);
};

/**
 * Publishes and serves each tenant CA's CRL. `publish` (after a revocation, or when the current CRL nears
 * its nextUpdate) lists the revoked certificates and signs CRL number n+1; `current` serves the stored
 * CRL while it is fresh, keeping the bytes of the last number read in memory.
 */
export class CrlPublisher {
  readonly #directory: DirectoryStore;
  readonly #keys: ResidentKeys;
  readonly #registry: CertificateRegistry;
  readonly #clock: Clock;
  readonly #cache = new Map<string, PublishedCrl>();

  constructor(directory: DirectoryStore, keys: ResidentKeys, registry: CertificateRegistry, clock: Clock) {
    this.#directory = directory;
    this.#keys = keys;
    this.#registry = registry;
    this.#clock = clock;
  }

  /** The CRL to serve: the stored one while more than the refresh margin is left, else a new one. */
  async current(tenant: string, retries = 2): Promise<PublishedCrl> {
    const head = await this.#directory.get<CrlHead>(headKey(tenant));
    const fresh = head && Date.parse(head.nextUpdate) - CRL_REFRESH_MARGIN_SECONDS * 1000 > this.#clock.now();
    if (!head || !fresh) return this.publish(tenant);
    const cached = this.#cache.get(tenant);
    if (cached?.number === head.number) return cached;
    const loaded = await this.#load(tenant, head);
    // Its parts were replaced under us by a newer CRL: read the head again.
    if (!loaded) return retries > 0 ? this.current(tenant, retries - 1) : this.publish(tenant);
    this.#cache.set(tenant, loaded);
    return loaded;
  }

  /**
   * Signs and stores the next CRL. A racing publisher that moved the head first makes this one retry
   * with a fresh list, so the last CRL written was always built after every revocation written before it.
   */
  async publish(tenant: string): Promise<PublishedCrl> {
    const ca = await readAuthority(this.#directory, tenant);
    if (!ca) throw new NotFoundError(`tenant ${tenant} has no card CA yet`);
    for (let attempt = 0; ; attempt += 1) {
      const head = await this.#directory.get<CrlHead>(headKey(tenant));
      const number = (head?.number ?? 0) + 1;
      const entries = await this.#registry.revoked(tenant);
      const thisUpdate = new Date(Math.floor(this.#clock.now() / 1000) * 1000);
      const der = await buildCrl(ca, this.#keys, entries, number, thisUpdate);
      const data = Buffer.from(der).toString('base64');
      const parts = Math.max(1, Math.ceil(data.length / PART_CHARS));
      for (let i = 0; i < parts; i += 1) await this.#directory.put({ ...partKey(tenant, number, i), data: data.slice(i * PART_CHARS, (i + 1) * PART_CHARS) });
      const nextUpdate = new Date(thisUpdate.getTime() + CRL_VALIDITY_SECONDS * 1000);
      const next: CrlHead = { ...headKey(tenant), tenant, number, parts, thisUpdate: thisUpdate.toISOString(), nextUpdate: nextUpdate.toISOString(), entries: entries.length };
      try {
        await this.#directory.put(next, head ? { equals: { number: head.number } } : { absent: true });
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 4) throw error;
        continue; // another publisher moved the head: build again over the current list
      }
      if (head) await this.#dropParts(tenant, head);
      const published = { der, number, thisUpdate, nextUpdate };
      this.#cache.set(tenant, published);
      return published;
    }
  }

  async #load(tenant: string, head: CrlHead): Promise<PublishedCrl | undefined> {
    const chunks: string[] = [];
    for (let i = 0; i < head.parts; i += 1) {
      const part = await this.#directory.get<CrlPart>(partKey(tenant, head.number, i));
      if (!part) return undefined;
      chunks.push(part.data);
    }
    return { der: Buffer.from(chunks.join(''), 'base64'), number: head.number, thisUpdate: new Date(head.thisUpdate), nextUpdate: new Date(head.nextUpdate) };
  }

  /** The replaced CRL's parts; a reader still holding its head finds them gone and reads again. */
  async #dropParts(tenant: string, head: CrlHead): Promise<void> {
    for (let i = 0; i < head.parts; i += 1) await this.#directory.delete(partKey(tenant, head.number, i)).catch(() => undefined);
  }
}
