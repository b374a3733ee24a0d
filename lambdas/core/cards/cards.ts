import { X509Certificate } from 'node:crypto';
import * as z from '../zod.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { LIST_PAGE, pageLimit, parseInput, type PageRequest } from '../validation.ts';
import type { Clock, DirectoryStore, KeyCustody, Random } from '../../ports.ts';
import { cardSettingsOf, type CardSettings, type Tenant, type Tenants } from '../directory/tenant.ts';
import type { AccessEndings } from '../access/revocation.ts';
import type { Users } from '../directory/user.ts';
import type { HolderLimits, ManagementAlgorithm, PivAlgorithm, PivSlot } from '../piv/card-port.ts';
import { readAuthority, type CardAuthority, type TenantCa } from './authority.ts';
import { CrlPublisher, type PublishedCrl } from '../pki/crl.ts';
import { CertificateRegistry, parseReason, type CertificateRecord, type RevocationReason } from '../pki/registry.ts';
import { CARD_ID, cardKeys, clearActiveSession, objectAttribute, objectsOf, slotAttribute, slotsOf, type CardItem, type StoredSlot } from './card-item.ts';
import { chooseSlotAlgorithm, RESIDENT_RSA_ACCEPTANCE } from './algorithm-choice.ts';
import { initialObjects, certificateOf } from './card-objects.ts';
import { readContentSigner, residentContentSigner } from './content-signer.ts';
import type { PinHasher } from './pin-hash.ts';
import { checkPinPolicy, MANAGEMENT_KEY_LENGTH, randomDigits } from './secrets.ts';
import type { SlotKeyRecord, SlotKeys } from './slot-keys.ts';
import { defaultPinPolicy, StoredPivCard } from './stored-card.ts';

const SLOT = z.enum(['9a', '9c', '9d', '9e']);
const ALGORITHM = z.enum(['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384']);

const slots = z.optional(z.array(SLOT).check(z.minLength(1), z.maxLength(4)));

export const cardEnrolSchema = z.strictObject({
  username: z.string().check(z.minLength(1), z.maxLength(64)),
  label: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(64))),
  slots,
  algorithm: z.optional(ALGORITHM),
  /** Per-slot algorithm overrides, e.g. { "9d": "p256" }. */
  slotAlgorithms: z.optional(z.partialRecord(SLOT, ALGORITHM)),
  pin: z.optional(z.string()),
  puk: z.optional(z.string()),
  /** Under KMS-resident custody, 'pkcs1-only' accepts RSA slots that cannot sign RSA-PSS (see algorithm-choice.ts). */
  residentRsa: z.optional(z.literal(RESIDENT_RSA_ACCEPTANCE)),
});

export const unblockSchema = z.strictObject({ pin: z.optional(z.string()) });
export const revokeSchema = z.strictObject({ reason: z.string(), slots });

/** A card as administrators and the card owner see it: no secrets, no key material. */
export interface CardSummary {
  readonly tenant: string;
  readonly id: string;
  readonly username: string;
  readonly label: string;
  readonly serial: number;
  readonly custody: CardItem['custody'];
  readonly slots: ReadonlyArray<{
    slot: PivSlot;
    algorithm: PivAlgorithm;
    origin: StoredSlot['origin'];
    /** The slot's certificate object: PEM, and whether the tenant CA revoked it (shown on a single card). */
    certificate?: { subject: string; serialNumber: string; notAfter: string; pem: string; revoked?: { at: string; reason: RevocationReason } };
  }>;
  readonly pin: { readonly remaining: number; readonly maxTries: number; readonly blocked: boolean; readonly mustChange: boolean };
  readonly puk: { readonly remaining: number; readonly maxTries: number; readonly blocked: boolean };
  readonly connected: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What enrolment hands back once: the initial PIN, PUK and management key are never shown again. */
export interface EnrolResult {
  readonly card: CardSummary;
  readonly pin: string;
  readonly puk: string;
  readonly managementKey: { readonly algorithm: CardItem['managementAlgorithm']; readonly hex: string };
  /** What the holder should know about the card as enrolled (e.g. KMS-resident RSA limits). */
  readonly warnings?: readonly string[];
}

export interface CardsDeps {
  readonly directory: DirectoryStore;
  readonly custody: KeyCustody;
  /** The slot-key custody for each mode; a mode not given cannot be enrolled or used. */
  readonly slotKeys: Partial<Record<SlotKeyRecord['custody'], SlotKeys>>;
  readonly authority: CardAuthority;
  /** PIN and PUK hashes keyed by a KMS-held key (only the card and admin functions hold it). */
  readonly pins: PinHasher;
  readonly tenants: Tenants;
  readonly users: Users;
  readonly clock: Clock;
  readonly random: Random;
  /** Ends a deleted card's sessions in the state table; absent where there is no state table. */
  readonly sessionEndings?: Pick<AccessEndings, 'endCardSessions'>;
  /** The register of certificates the tenant CA issued and revoked (default: over `directory`). */
  readonly registry?: CertificateRegistry;
  /** Publishes the tenant CA's CRL after a revocation (default: over `directory` and the CA's keys). */
  readonly crls?: CrlPublisher;
}

/** Where enrolment runs: the public base URL names the CA's CRL and OCSP URLs in the certificates. */
export interface EnrolContext {
  readonly baseUrl?: string;
}

/**
 * Cards of a tenant: enrolment (keys in the tenant's custody mode, certificates from the tenant's CA,
 * PIV objects), listing, administrator unblock, disconnect and delete (which destroys the keys).
 */
export class Cards {
  readonly #deps: CardsDeps & Required<Pick<CardsDeps, 'registry' | 'crls'>>;

  constructor(deps: CardsDeps) {
    const registry = deps.registry ?? new CertificateRegistry(deps.directory, deps.clock);
    this.#deps = { ...deps, registry, crls: deps.crls ?? new CrlPublisher(deps.directory, deps.authority.residentKeys, registry, deps.clock) };
  }

  async enrol(tenantId: string, input: unknown, context: EnrolContext = {}): Promise<EnrolResult> {
    const request = parseInput(cardEnrolSchema, input, 'card enrolment');
    const tenant = await this.#deps.tenants.getActive(tenantId);
    const user = await this.#deps.users.get(tenantId, request.username);
    if (user.status !== 'active') throw new ValidationError(`user ${user.username} is disabled`);
    const settings = cardSettingsOf(tenant);
    const slotKeys = this.#slotKeys(tenant.custody);
    const slots = request.slots ?? settings.defaultSlots;
    const chosen = new Map<string, PivAlgorithm>();
    const warnings = new Set<string>();
    for (const slot of slots) {
      const choice = chooseSlotAlgorithm({
        custody: tenant.custody,
        requested: request.slotAlgorithms?.[slot] ?? request.algorithm,
        tenantDefault: settings.defaultAlgorithm,
        allowed: settings.allowedAlgorithms,
        residentRsa: request.residentRsa,
      });
      if ('refused' in choice)
        throw new ValidationError(choice.refused === 'not-allowed' ? `${choice.error} in tenant ${tenantId}` : `slot ${slot}: ${choice.error}`);
      chosen.set(slot, choice.algorithm);
      if (choice.warning) warnings.add(choice.warning);
    }
    const algorithmOf = (slot: (typeof slots)[number]): PivAlgorithm => chosen.get(slot)!;
    const pin = request.pin ?? randomDigits(this.#deps.random, Math.max(6, tenant.pinPolicy.minLength));
    const puk = request.puk ?? randomDigits(this.#deps.random, 8);
    for (const [reference, value] of [
      ['pin', pin],
      ['puk', puk],
    ] as const) {
      const rejection = checkPinPolicy(reference, value, tenant.pinPolicy);
      if (rejection) throw new ValidationError(`invalid ${reference}`, [`${reference}: ${rejection}`]);
    }

    const id = Buffer.from(this.#deps.random.bytes(12)).toString('base64url');
    const serial = Buffer.from(this.#deps.random.bytes(4)).readUInt32BE(0) >>> 1; // positive 31-bit
    const managementKey = this.#deps.random.bytes(MANAGEMENT_KEY_LENGTH[settings.managementAlgorithm]);
    const label = request.label ?? `${user.displayName} card`;
    const holder = {
      tenant: tenantId,
      username: user.username,
      displayName: user.displayName,
      ...(user.email ? { email: user.email } : {}),
      card: { id, label },
    };
    const now = new Date(this.#deps.clock.now()).toISOString();

    // The tenant's CA and card-list signer exist before its first card (the card function lists with it).
    const { contentSigner } = await this.#deps.authority.prepare(tenantId);
    // Everything is made before the one write: a failure leaves no card (and destroys resident keys made).
    const made: SlotKeyRecord[] = [];
    const issuedSerials: string[] = [];
    try {
      const slotItems: Record<string, StoredSlot> = {};
      const certificates = new Map<PivSlot, Uint8Array>();
      for (const slot of slots) {
        const algorithm = algorithmOf(slot);
        const { record, publicKey } = await slotKeys.generate(algorithm, { tenant: tenantId, card: id, slot });
        made.push(record);
        slotItems[slotAttribute(slot)] = {
          algorithm,
          publicKey: Buffer.from(publicKey).toString('base64'),
          pinPolicy: defaultPinPolicy(slot),
          origin: 'generated',
          key: record,
        };
        const issued = await this.#deps.authority.issue(holder, slot, publicKey, context.baseUrl);
        // Recorded before the card exists, so OCSP never calls a live card's certificate unknown.
        await this.#deps.registry.recordIssued({ tenant: tenantId, serial: issued.serial, card: id, slot, notAfter: issued.notAfter });
        issuedSerials.push(issued.serial);
        certificates.set(slot, issued.der);
      }
      const objects: Record<string, string> = {};
      for (const [tag, value] of await initialObjects({
        guid: this.#deps.random.bytes(16),
        serial,
        certificates,
        now: this.#deps.clock.now(),
        signer: residentContentSigner(this.#deps.authority.residentKeys, contentSigner),
      })) {
        objects[objectAttribute(tag)] = Buffer.from(value).toString('base64');
      }
      const item: CardItem = {
        ...cardKeys.card(tenantId, id),
        ...cardKeys.byUser(tenantId, user.username, id),
        type: 'card',
        tenant: tenantId,
        id,
        username: user.username,
        label,
        serial,
        custody: tenant.custody,
        createdAt: now,
        updatedAt: now,
        pinHash: await this.#deps.pins.hash({ tenant: tenantId, card: id, reference: 'pin' }, pin),
        pinRemaining: tenant.pinPolicy.retries,
        pinMaxTries: tenant.pinPolicy.retries,
        pinMustChange: request.pin === undefined && tenant.pinPolicy.changeOnFirstUse,
        pukHash: await this.#deps.pins.hash({ tenant: tenantId, card: id, reference: 'puk' }, puk),
        pukRemaining: tenant.pinPolicy.pukRetries,
        pukMaxTries: tenant.pinPolicy.pukRetries,
        managementAlgorithm: settings.managementAlgorithm,
        managementKey: await this.#deps.custody.wrap(managementKey, { tenant: tenantId, card: id, slot: '9b' }),
        activeSession: null,
        issuedSerials,
        ...slotItems,
        ...objects,
      };
      await this.#deps.directory.put(item, { absent: true });
      return {
        card: summarize(item),
        pin,
        puk,
        managementKey: { algorithm: settings.managementAlgorithm, hex: Buffer.from(managementKey).toString('hex') },
        ...(warnings.size ? { warnings: [...warnings] } : {}),
      };
    } catch (error) {
      for (const record of made) await slotKeys.destroy(record).catch(() => undefined);
      for (const serial of issuedSerials) await this.#deps.registry.forget(tenantId, serial);
      throw error;
    } finally {
      managementKey.fill(0);
    }
  }

  async item(tenantId: string, id: string): Promise<CardItem> {
    const item = CARD_ID.test(id) ? await this.#deps.directory.get<CardItem>(cardKeys.card(tenantId, id)) : undefined;
    if (!item) throw new NotFoundError(`card ${id} does not exist in tenant ${tenantId}`);
    return item;
  }

  /** One card, each slot certificate with its revocation (one register read per slot). */
  async get(tenantId: string, id: string): Promise<CardSummary> {
    const summary = summarize(await this.item(tenantId, id));
    const slots = await Promise.all(
      summary.slots.map(async (slot) => {
        if (!slot.certificate) return slot;
        const record = await this.#deps.registry.get(tenantId, slot.certificate.serialNumber);
        return record?.status === 'revoked' && record.revokedAt && record.reason
          ? { ...slot, certificate: { ...slot.certificate, revoked: { at: record.revokedAt, reason: record.reason } } }
          : slot;
      }),
    );
    return { ...summary, slots };
  }

  /** A tenant's cards, or one user's. */
  /** One page of the tenant's cards (or one user's): one query of at most `limit` items from the cursor on. */
  async list(tenantId: string, options: PageRequest & { username?: string } = {}): Promise<{ cards: CardSummary[]; cursor?: string }> {
    const page = await this.listItems(tenantId, options);
    return { cards: page.items.map(summarize), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }

  /** The stored items behind `list` (GSI1 projects whole items), for callers that need the objects too. */
  async listItems(tenantId: string, options: PageRequest & { username?: string } = {}): Promise<{ items: CardItem[]; cursor?: string }> {
    const limit = pageLimit(options.limit, LIST_PAGE);
    const from = options.cursor ? { cursor: options.cursor } : {};
    return options.username
      ? this.#deps.directory.query<CardItem>({ index: 'GSI1', partition: cardKeys.userPartition(tenantId, options.username), limit, ...from })
      : this.#deps.directory.query<CardItem>({ partition: cardKeys.card(tenantId, '').PK, sortPrefix: cardKeys.cardPrefix, limit, ...from });
  }

  /** The card's PIV view over its stored item, for one APDU. */
  openView(item: CardItem, pinPolicy: Tenant['pinPolicy']): StoredPivCard {
    return new StoredPivCard(item, {
      directory: this.#deps.directory,
      custody: this.#deps.custody,
      slotKeys: this.#slotKeys(item.custody),
      clock: this.#deps.clock,
      pinPolicy,
      holderLimits: async () => holderLimitsOf(cardSettingsOf(await this.#deps.tenants.get(item.tenant))),
      pins: this.#deps.pins,
      contentSigner: async () => {
        const stored = await readContentSigner(this.#deps.directory, item.tenant);
        return stored ? residentContentSigner(this.#deps.authority.residentKeys, stored) : undefined;
      },
    });
  }

  /** Makes a session the card's only active one: one write, the last opener wins. */
  async activate(tenantId: string, id: string, sessionId: string): Promise<void> {
    try {
      await this.#deps.directory.update(cardKeys.card(tenantId, id), { activeSession: sessionId }, { present: true });
    } catch (error) {
      if (error instanceof ConflictError) throw new NotFoundError(`card ${id} does not exist in tenant ${tenantId}`);
      throw error;
    }
  }

  /** Clears the active session if it is still this one (a newer opener keeps the card). */
  async deactivate(tenantId: string, id: string, sessionId: string): Promise<void> {
    await clearActiveSession(this.#deps.directory, tenantId, id, sessionId);
  }

  /** Ends the card's active session: the agent holding it gets "superseded" and removes the card. */
  async disconnect(tenantId: string, id: string): Promise<CardSummary> {
    await this.item(tenantId, id);
    const item = await this.#deps.directory.update<CardItem>(
      cardKeys.card(tenantId, id),
      { activeSession: null, updatedAt: this.#isoNow() },
      { present: true },
    );
    return summarize(item);
  }

  /** Administrator unblock: a new PIN (given, or generated and returned once), counter reset, change required. */
  async unblock(tenantId: string, id: string, input: unknown = {}): Promise<{ card: CardSummary; pin: string }> {
    const request = parseInput(unblockSchema, input, 'unblock');
    const tenant = await this.#deps.tenants.getActive(tenantId);
    const current = await this.item(tenantId, id);
    const pin = request.pin ?? randomDigits(this.#deps.random, Math.max(6, tenant.pinPolicy.minLength));
    const rejection = checkPinPolicy('pin', pin, tenant.pinPolicy);
    if (rejection) throw new ValidationError('invalid pin', [`pin: ${rejection}`]);
    const item = await this.#deps.directory.update<CardItem>(
      cardKeys.card(tenantId, id),
      {
        pinHash: await this.#deps.pins.hash({ tenant: tenantId, card: id, reference: 'pin' }, pin),
        pinRemaining: current.pinMaxTries,
        pinMustChange: true,
        updatedAt: this.#isoNow(),
      },
      { present: true },
    );
    return { card: summarize(item), pin };
  }

  /**
   * Deletes the card; wrapped keys go with the item, KMS-resident keys are scheduled for deletion. The
   * item goes last, so an interruption leaves a card a re-run finds and finishes (every step before is
   * idempotent): first its certificates are revoked (no relying party accepts them from then on), then its
   * sessions end (every APDU answers card-deleted), then its keys are destroyed, then the item is deleted.
   */
  async delete(tenantId: string, id: string): Promise<void> {
    const item = await this.item(tenantId, id);
    // Its keys are about to go: relying parties learn that its certificates no longer stand for anyone.
    await this.#revokeSerials(tenantId, issuedSerialsOf(item), 'cessationOfOperation');
    await this.#deps.sessionEndings?.endCardSessions(tenantId, item.username, id);
    const slotKeys = this.#deps.slotKeys[item.custody];
    for (const [, stored] of slotsOf(item)) await slotKeys?.destroy(stored.key);
    try {
      await this.#deps.directory.delete(cardKeys.card(tenantId, id), { present: true });
    } catch (error) {
      if (error instanceof ConflictError) throw new NotFoundError(`card ${id} does not exist in tenant ${tenantId}`);
      throw error;
    }
  }

  /**
   * An administrator's revoke: the card's certificates (all, or those of the given slots) are revoked
   * with the reason given and a new CRL is published. The card itself stays (delete or disconnect it
   * separately). Returns the card as it stands.
   */
  async revoke(tenantId: string, id: string, input: unknown): Promise<{ card: CardSummary; revoked: CertificateRecord[] }> {
    const request = parseInput(revokeSchema, input, 'revocation');
    const reason = parseReason(request.reason);
    const item = await this.item(tenantId, id);
    const wanted = request.slots ? new Set<string>(request.slots) : undefined;
    const serials: string[] = [];
    for (const serial of issuedSerialsOf(item)) {
      const record = await this.#deps.registry.get(tenantId, serial);
      if (record && (!wanted || wanted.has(record.slot))) serials.push(serial);
    }
    const revoked = await this.#revokeSerials(tenantId, serials, reason);
    return { card: await this.get(tenantId, id), revoked };
  }

  /** The tenant's card CA, if it has one yet (the first enrolment makes it). */
  async authority(tenantId: string): Promise<TenantCa> {
    const ca = await readAuthority(this.#deps.directory, tenantId);
    if (!ca) throw new NotFoundError(`tenant ${tenantId} has no card CA yet (it is made with the first card)`);
    return ca;
  }

  /** The CRL the PKI endpoint serves (a fresh one is published when the stored one nears its nextUpdate). */
  async crl(tenantId: string): Promise<PublishedCrl> {
    await this.authority(tenantId);
    return this.#deps.crls.current(tenantId);
  }

  /** Revokes one certificate of the tenant CA by serial number (CLI `ca revoke`). */
  async revokeCertificate(tenantId: string, serial: string, reasonName: unknown): Promise<CertificateRecord> {
    const reason = parseReason(reasonName);
    const [record] = await this.#revokeSerials(tenantId, [serial], reason, true);
    return record!;
  }

  /** Revokes each serial (the first revocation of each stands), then publishes one new CRL if anything changed. */
  async #revokeSerials(tenantId: string, serials: readonly string[], reason: RevocationReason, strict = false): Promise<CertificateRecord[]> {
    const records: CertificateRecord[] = [];
    let changed = false;
    for (const serial of serials) {
      try {
        const result = await this.#deps.registry.revoke(tenantId, serial, reason);
        records.push(result.record);
        changed ||= result.changed;
      } catch (error) {
        if (strict || !(error instanceof NotFoundError)) throw error;
      }
    }
    if (changed) await this.#deps.crls.publish(tenantId);
    return records;
  }

  #slotKeys(mode: SlotKeyRecord['custody']): SlotKeys {
    const slotKeys = this.#deps.slotKeys[mode];
    if (!slotKeys) throw new ValidationError(`custody mode ${mode} is not available in this deployment`);
    return slotKeys;
  }

  #isoNow(): string {
    return new Date(this.#deps.clock.now()).toISOString();
  }
}

/** Management-key algorithms from weakest to strongest. */
const MANAGEMENT_STRENGTH: readonly ManagementAlgorithm[] = ['3des', 'aes128', 'aes192', 'aes256'];

/**
 * What a holder may put on a card of the tenant: slot keys of the allowed algorithms only, and a
 * management key at least as strong as the one the tenant enrols with.
 */
export function holderLimitsOf(settings: CardSettings): HolderLimits {
  return { algorithms: settings.allowedAlgorithms, managementAlgorithms: MANAGEMENT_STRENGTH.slice(MANAGEMENT_STRENGTH.indexOf(settings.managementAlgorithm)) };
}

/** The serials the tenant CA issued for this card (cards enrolled before the register: those in its slots). */
function issuedSerialsOf(item: CardItem): string[] {
  if (Array.isArray(item.issuedSerials)) return item.issuedSerials;
  const objects = objectsOf(item);
  return slotsOf(item).flatMap(([slot]) => {
    const der = certificateOf(objects, slot);
    try {
      return der ? [new X509Certificate(Buffer.from(der)).serialNumber] : [];
    } catch {
      return [];
    }
  });
}

export function summarize(item: CardItem): CardSummary {
  const objects = objectsOf(item);
  return {
    tenant: item.tenant,
    id: item.id,
    username: item.username,
    label: item.label,
    serial: item.serial,
    custody: item.custody,
    slots: slotsOf(item).map(([slot, stored]) => {
      const der = certificateOf(objects, slot);
      let certificate: CardSummary['slots'][number]['certificate'];
      if (der) {
        try {
          const parsed = new X509Certificate(Buffer.from(der));
          certificate = {
            subject: parsed.subject.replace(/\n/g, ', '),
            serialNumber: parsed.serialNumber,
            notAfter: new Date(parsed.validTo).toISOString(),
            pem: parsed.toString(),
          };
        } catch {
          certificate = undefined; // a certificate object the holder wrote that is not X.509 DER
        }
      }
      return { slot, algorithm: stored.algorithm, origin: stored.origin, ...(certificate ? { certificate } : {}) };
    }),
    pin: { remaining: item.pinRemaining, maxTries: item.pinMaxTries, blocked: item.pinRemaining <= 0, mustChange: item.pinMustChange },
    puk: { remaining: item.pukRemaining, maxTries: item.pukMaxTries, blocked: item.pukRemaining <= 0 },
    connected: Boolean(item.activeSession),
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
  };
}
