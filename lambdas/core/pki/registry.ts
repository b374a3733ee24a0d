import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { Clock, DirectoryStore, Item } from '../../ports.ts';
import { cardPartition } from '../cards/card-item.ts';

/** RFC 5280 §5.3.1 CRLReason values an administrator (or the system) may give; 7 is unused, 8 is delta-only. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;
export const REVOCATION_REASON_NAMES = Object.keys(REVOCATION_REASONS) as RevocationReason[];

export function parseReason(value: unknown): RevocationReason {
  if (typeof value === 'string' && Object.hasOwn(REVOCATION_REASONS, value)) return value as RevocationReason;
  throw new ValidationError('invalid revocation reason', [`reason: one of ${REVOCATION_REASON_NAMES.join(', ')}`]);
}

/**
 * What the tenant CA issued: one item per certificate, beside the cards (`CARDS#{tenant}`, `SK=CERT#{serial}`),
 * written at issuance. Revoking sets `status`, `revokedAt`, `reason` and puts the item in the sparse GSI1
 * partition `CARDS#{tenant}#REVOKED`, which is exactly what a CRL lists: the CRL is one index query, OCSP
 * one GetItem, a revocation one guarded update.
 */
export type CertificateRecord = Item & {
  type: 'certificate';
  tenant: string;
  /** Lower-case hex of the serial number's magnitude, no leading zero octets. */
  serial: string;
  card: string;
  slot: string;
  notAfter: string;
  issuedAt: string;
  status: 'good' | 'revoked';
  revokedAt?: string;
  reason?: RevocationReason;
};

/** Serial numbers as one canonical text: lower-case hex, leading zero octets dropped. */
export function canonicalSerial(hex: string): string {
  const clean = hex.toLowerCase().replace(/[^0-9a-f]/g, '');
  const even = clean.length % 2 ? `0${clean}` : clean;
  return even.replace(/^(00)+(?=..)/, '') || '00';
}

export const certificateKeys = {
  record: (tenant: string, serial: string) => ({ PK: cardPartition(tenant), SK: `CERT#${canonicalSerial(serial)}` }),
  revokedPartition: (tenant: string) => `${cardPartition(tenant)}#REVOKED`,
};

export interface RevokedEntry {
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

/** The tenant CA's register of issued and revoked certificates. */
export class CertificateRegistry {
  readonly #directory: DirectoryStore;
  readonly #clock: Clock;

  constructor(directory: DirectoryStore, clock: Clock) {
    this.#directory = directory;
    this.#clock = clock;
  }

  async recordIssued(input: { tenant: string; serial: string; card: string; slot: string; notAfter: Date }): Promise<void> {
    const record: CertificateRecord = {
      ...certificateKeys.record(input.tenant, input.serial),
      type: 'certificate',
      tenant: input.tenant,
      serial: canonicalSerial(input.serial),
      card: input.card,
      slot: input.slot,
      notAfter: input.notAfter.toISOString(),
      issuedAt: new Date(this.#clock.now()).toISOString(),
      status: 'good',
    };
    await this.#directory.put(record, { absent: true });
  }

  /** Forgets a record whose certificate never reached a card (a failed enrolment). */
  async forget(tenant: string, serial: string): Promise<void> {
    await this.#directory.delete(certificateKeys.record(tenant, serial)).catch(() => undefined);
  }

  async get(tenant: string, serial: string): Promise<CertificateRecord | undefined> {
    return this.#directory.get<CertificateRecord>(certificateKeys.record(tenant, serial));
  }

  /**
   * Revokes one certificate: one update guarded on `status` = good. An already revoked certificate keeps
   * its first revocation (time and reason): a CRL entry never changes. Returns the record as it stands.
   */
  async revoke(tenant: string, serial: string, reason: RevocationReason): Promise<{ record: CertificateRecord; changed: boolean }> {
    const current = await this.get(tenant, serial);
    if (!current) throw new NotFoundError(`certificate ${canonicalSerial(serial)} was not issued by the card CA of tenant ${tenant}`);
    if (current.status === 'revoked') return { record: current, changed: false };
    const revokedAt = new Date(Math.floor(this.#clock.now() / 1000) * 1000).toISOString();
    try {
      const record = await this.#directory.update<CertificateRecord>(
        certificateKeys.record(tenant, serial),
        { status: 'revoked', revokedAt, reason, GSI1PK: certificateKeys.revokedPartition(tenant), GSI1SK: current.serial },
        { present: true, equals: { status: 'good' } },
      );
      return { record, changed: true };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const raced = await this.get(tenant, serial);
      if (!raced) throw error;
      return { record: raced, changed: false };
    }
  }

  /** Every revoked certificate of the tenant, page by page (the CRL's entries). */
  async revoked(tenant: string): Promise<RevokedEntry[]> {
    const entries: RevokedEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#directory.query<CertificateRecord>({
        index: 'GSI1',
        partition: certificateKeys.revokedPartition(tenant),
        limit: 1000,
        ...(cursor ? { cursor } : {}),
      });
      for (const item of page.items) {
        if (item.status === 'revoked' && item.revokedAt && item.reason)
          entries.push({ serial: item.serial, revokedAt: new Date(item.revokedAt), reason: item.reason });
      }
      cursor = page.cursor;
    } while (cursor);
    return entries;
  }
}
