import * as z from '../zod.ts';
import type { Clock } from '../../ports.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { metadataOf, type Clients } from '../oidc/client.ts';
import type { ServiceProviders } from '../saml/service-providers.ts';
import { parseInput } from '../validation.ts';
import type { TenantRemoval } from './tenant-removal.ts';
import { type Tenants } from './tenant.ts';
import { userAddSchema, type Users } from './user.ts';

export const EXPORT_FORMAT = 'cloudcard-tenant-export';
export const EXPORT_VERSION = 1;

/**
 * What an export leaves out, by choice: secrets are never exported (not even as hashes or wrapped under
 * this stack's keys, which another stack could not open); cards cannot move (their keys are bound to this
 * stack's custody).
 */
export const EXPORT_EXCLUDES = [
  'passwords and TOTP enrolments (users set them anew)',
  'client secrets (confidential clients get new ones at import, printed once)',
  'cards, their keys and certificates, and the card CA',
  'token and SAML signing keys (new ones are made; tokens issued before do not verify)',
  'sessions, tokens, devices and the audit trail',
];

export const tenantExportSchema = z.strictObject({
  format: z.literal(EXPORT_FORMAT),
  version: z.literal(EXPORT_VERSION),
  exportedAt: z.string(),
  tenant: z.record(z.string(), z.unknown()),
  riskPolicy: z.optional(z.unknown()),
  ssfTransmitters: z.optional(z.unknown()),
  users: z.array(
    z.strictObject({ username: z.string(), email: z.optional(z.string()), displayName: z.optional(z.string()), status: z.enum(['active', 'disabled']) }),
  ),
  clients: z.array(z.strictObject({ client_id: z.string(), registered_by: z.enum(['admin', 'registration']), metadata: z.record(z.string(), z.unknown()) })),
  serviceProviders: z.array(
    z.strictObject({
      metadataXml: z.string(),
      signing: z.optional(z.enum(['response', 'assertion', 'both'])),
      attributeMap: z.optional(z.array(z.unknown())),
    }),
  ),
  excluded: z.array(z.string()),
});

export type TenantExportDocument = z.infer<typeof tenantExportSchema>;

export interface TenantTransferDeps {
  readonly tenants: Tenants;
  readonly users: Users;
  readonly clients: Clients;
  readonly serviceProviders: ServiceProviders;
  readonly removal: TenantRemoval;
  readonly clock: Clock;
}

/** The settings a tenant is created with (tenant create's members), from the stored tenant. */
const SETTINGS = ['displayName', 'custody', 'pinPolicy', 'sessionLifetimes', 'oidc', 'cards', 'trustedIssuers'] as const;

/** Tenant export (a versioned JSON document, no secret in it) and import into a tenant that does not exist yet. */
export class TenantTransfer {
  readonly #deps: TenantTransferDeps;

  constructor(deps: TenantTransferDeps) {
    this.#deps = deps;
  }

  async export(tenantId: string): Promise<TenantExportDocument> {
    const { tenants, users, clients, serviceProviders, clock } = this.#deps;
    const tenant = await tenants.get(tenantId);
    const everyUser = await collect((cursor) => users.list(tenantId, { cursor }).then((p) => ({ items: p.users, cursor: p.cursor })));
    const everyClient = await collect((cursor) => clients.list(tenantId, cursor).then((p) => ({ items: p.clients, cursor: p.cursor })));
    return {
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      exportedAt: new Date(clock.now()).toISOString(),
      tenant: Object.fromEntries(SETTINGS.filter((key) => tenant[key] !== undefined).map((key) => [key, tenant[key]])),
      ...(tenant.riskPolicy ? { riskPolicy: tenant.riskPolicy } : {}),
      ...(tenant.ssfTransmitters ? { ssfTransmitters: tenant.ssfTransmitters } : {}),
      users: everyUser.map((u) => ({ username: u.username, ...(u.email ? { email: u.email } : {}), displayName: u.displayName, status: u.status })),
      clients: everyClient.map((c) => ({ client_id: c.client_id, registered_by: c.registered_by, metadata: metadataOf(c) })),
      serviceProviders: (await serviceProviders.list(tenantId)).map((sp) => ({
        metadataXml: sp.metadataXml,
        ...(sp.signing ? { signing: sp.signing } : {}),
        ...(sp.attributeMap ? { attributeMap: [...sp.attributeMap] } : {}),
      })),
      excluded: EXPORT_EXCLUDES,
    };
  }

  /**
   * Creates tenant `tenantId` from an export. The tenant must not exist (an import never merges). Each
   * part is checked by the rules of its own creation; if any part is refused, the tenant made so far is
   * deleted again, so an import either is complete or left nothing. Returns the new client secrets (once).
   */
  async import(
    tenantId: string,
    input: unknown,
  ): Promise<{ tenant: string; users: number; clients: { client_id: string; client_secret?: string }[]; serviceProviders: number }> {
    const document = parseTenantExport(input);
    if (await this.#deps.tenants.find(tenantId))
      throw new ConflictError(`tenant ${tenantId} exists: an import goes into a new tenant (delete it first, or choose another id)`);
    await this.#deps.tenants.create({ ...document.tenant, id: tenantId });
    try {
      if (document.riskPolicy !== undefined) await this.#deps.tenants.setRiskPolicy(tenantId, document.riskPolicy);
      if (document.ssfTransmitters !== undefined) await this.#deps.tenants.setSsfTransmitters(tenantId, document.ssfTransmitters);
      for (const user of document.users) {
        const { status, ...profile } = user;
        await this.#deps.users.add(tenantId, profile);
        if (status === 'disabled') await this.#deps.users.disable(tenantId, user.username);
      }
      const clients: { client_id: string; client_secret?: string }[] = [];
      for (const client of document.clients) {
        const issued = await this.#deps.clients.restore(tenantId, client);
        clients.push({ client_id: issued.client.client_id, ...(issued.clientSecret ? { client_secret: issued.clientSecret } : {}) });
      }
      for (const sp of document.serviceProviders) {
        await this.#deps.serviceProviders.register(tenantId, sp.metadataXml, {
          ...(sp.signing ? { signing: sp.signing } : {}),
          ...(sp.attributeMap ? { attributeMap: sp.attributeMap as never } : {}),
        });
      }
      return { tenant: tenantId, users: document.users.length, clients, serviceProviders: document.serviceProviders.length };
    } catch (error) {
      await this.#deps.removal.remove(tenantId).catch((cleanup: unknown) => {
        if (!(cleanup instanceof NotFoundError))
          throw new Error(
            `the import failed (${String(error)}) and so did removing the partial tenant ${tenantId}; run: cloudcard tenant delete ${tenantId} --yes`,
            { cause: cleanup },
          );
      });
      throw error;
    }
  }
}

/** An export document as import takes it: this format and version only, each user valid by the rules of one user creation. */
export function parseTenantExport(input: unknown): TenantExportDocument {
  const document = parseInput(tenantExportSchema, input, 'tenant export');
  for (const user of document.users)
    parseInput(
      userAddSchema,
      { username: user.username, ...(user.email ? { email: user.email } : {}), ...(user.displayName ? { displayName: user.displayName } : {}) },
      `user ${user.username}`,
    );
  return document;
}

async function collect<T>(fetchPage: (cursor?: string) => Promise<{ items: T[]; cursor?: string | undefined }>): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    all.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return all;
}
