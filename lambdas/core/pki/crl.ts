import { createHash } from 'node:crypto';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Clock, DirectoryStore, Item, ResidentKeys } from '../../ports.ts';
import { readAuthority, type TenantCa } from '../cards/authority.ts';
import { caFields } from './ca-fields.ts';
import { bitString, contextTag, encode, enumerated, explicit, octetString, oid, sequence, time, unsignedInteger } from './der.ts';
import { canonicalSerial, REVOCATION_REASONS, type CertificateRegistry, type RevokedEntry } from './registry.ts';

/** How long a CRL is valid (nextUpdate - thisUpdate), and how long before nextUpdate a fresh one is made. */
export const CRL_VALIDITY_SECONDS = 24 * 3600;
export const CRL_REFRESH_MARGIN_SECONDS = 3600;
/** Base64 characters per stored part: a 10,000-entry CRL (about 490 KB) does not fit one 400 KB item. */
const PART_CHARS = 300_000;
const OID_CRL_NUMBER = '2.5.29.20';
const OID_REASON_CODE = '2.5.29.21';
const OID_AUTHORITY_KEY_ID = '2.5.29.35';
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
/** KMS signs at most 4096 bytes as RAW; a larger CRL is signed as its SHA-256 digest. */
const MAX_RAW_MESSAGE = 4096;

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

/**
 * Builds and signs a v2 CRL (RFC 5280 §5) over the given entries with the CA's resident key (ECDSA P-256,
 * SHA-256): issuer = the CA's subject, AKI, CRL number, each entry with its reasonCode. Encoded here in one
 * linear pass (der.ts): a generic ASN.1 library took minutes for 10,000 entries.
 */
export async function buildCrl(ca: TenantCa, keys: ResidentKeys, entries: readonly RevokedEntry[], number: number, thisUpdate: Date): Promise<Uint8Array> {
  const fields = caFields(ca);
  const algorithm = sequence(oid(ECDSA_WITH_SHA256));
  const revoked = entries.map((entry) =>
    sequence(
      unsignedInteger(Buffer.from(canonicalSerial(entry.serial), 'hex')),
      time(entry.revokedAt),
      sequence(sequence(oid(OID_REASON_CODE), octetString(enumerated(REVOCATION_REASONS[entry.reason])))),
    ),
  );
  const extensions = explicit(
    0,
    sequence(
      sequence(oid(OID_AUTHORITY_KEY_ID), octetString(sequence(encode(contextTag(0, false), fields.keyIdentifier)))),
      sequence(oid(OID_CRL_NUMBER), octetString(unsignedInteger(bigEndian(number)))),
    ),
  );
  const tbs = sequence(
    unsignedInteger(Uint8Array.of(1)), // v2
    algorithm,
    fields.subject,
    time(thisUpdate),
    time(new Date(thisUpdate.getTime() + CRL_VALIDITY_SECONDS * 1000)),
    ...(revoked.length ? [sequence(...revoked)] : []),
    extensions,
  );
  const signature =
    tbs.length <= MAX_RAW_MESSAGE
      ? await keys.signMessage(ca.keyId, 'ECDSA_SHA_256', tbs, 'card-ca')
      : await keys.signDigest(ca.keyId, 'ECDSA_SHA_256', createHash('sha256').update(tbs).digest(), 'card-ca');
  return sequence(tbs, algorithm, bitString(signature));
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
      const next: CrlHead = {
        ...headKey(tenant),
        tenant,
        number,
        parts,
        thisUpdate: thisUpdate.toISOString(),
        nextUpdate: nextUpdate.toISOString(),
        entries: entries.length,
      };
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
