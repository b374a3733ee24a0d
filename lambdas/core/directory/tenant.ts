import * as z from '../zod.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { parseInput } from '../validation.ts';
import type { Clock, DirectoryStore, Item, OutboundHttp } from '../../ports.ts';
import type { AccessEndings } from '../access/revocation.ts';
import { NO_OUTBOUND } from '../outbound/none.ts';
import { OutboundUrlError } from '../outbound/url-policy.ts';
import { directoryKeys } from './keys.ts';
import { riskPolicySchema, type RiskPolicy } from '../risk/policy.ts';
import { ssfTransmittersSchema, type SsfTransmitters } from '../ssf/transmitters.ts';
import { brandingSchema, type Branding } from '../portal/branding.ts';

export const REGISTRATION_MODES = ['closed', 'open', 'initial-access-token'] as const;
export type RegistrationMode = (typeof REGISTRATION_MODES)[number];

export const TENANT_ID = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

/*
 * Each settings group is written once as its fields (no defaults) and used three ways: with defaults on
 * create, as a partial patch on update (only the fields given change), and whole again to validate the
 * merged result, so a rule across fields (minLength <= maxLength) holds after every update.
 */
// SP 800-73-4: a PIV PIN is 6 to 8 digits; the card application refuses anything shorter.
const intIn = (min: number, max: number) => z.int().check(z.minimum(min), z.maximum(max));
const pinPolicyFields = {
  minLength: intIn(6, 8),
  maxLength: intIn(6, 8),
  retries: intIn(1, 15),
  pukRetries: intIn(1, 15),
  changeOnFirstUse: z.boolean(),
};
const pinPolicy = z
  .strictObject({
    minLength: z._default(pinPolicyFields.minLength, 6),
    maxLength: z._default(pinPolicyFields.maxLength, 8),
    retries: z._default(pinPolicyFields.retries, 3),
    pukRetries: z._default(pinPolicyFields.pukRetries, 3),
    changeOnFirstUse: z._default(pinPolicyFields.changeOnFirstUse, true),
  })
  .check(z.refine((p) => p.minLength <= p.maxLength, { message: 'minLength must not exceed maxLength', path: ['minLength'] }));

const sessionLifetimeFields = {
  ssoSeconds: intIn(300, 30 * 86_400),
  cardSessionSeconds: intIn(60, 86_400),
  refreshTokenSeconds: intIn(300, 90 * 86_400),
  /** A verified PIN survives card session renewals until the card is idle this long (no APDU)... */
  cardPinIdleSeconds: intIn(60, 7 * 86_400),
  /** ...and at most this long after the session was opened (then the PIN must be entered again). */
  cardPinMaxSeconds: intIn(60, 30 * 86_400),
};
const sessionLifetimes = z
  .strictObject({
    ssoSeconds: z._default(sessionLifetimeFields.ssoSeconds, 8 * 3_600),
    cardSessionSeconds: z._default(sessionLifetimeFields.cardSessionSeconds, 8 * 3_600),
    refreshTokenSeconds: z._default(sessionLifetimeFields.refreshTokenSeconds, 14 * 86_400),
    cardPinIdleSeconds: z._default(sessionLifetimeFields.cardPinIdleSeconds, 3_600),
    cardPinMaxSeconds: z._default(sessionLifetimeFields.cardPinMaxSeconds, 12 * 3_600),
  })
  .check(
    z.refine((l) => l.cardPinIdleSeconds <= l.cardPinMaxSeconds, {
      message: 'cardPinIdleSeconds must not exceed cardPinMaxSeconds',
      path: ['cardPinIdleSeconds'],
    }),
  );

const oidcSettingsFields = {
  /** `wrapped`: per-tenant keys, wrapped by the KEK and rotated by the CLI; `kms`: the stack's KMS key. */
  signingMode: z.enum(['wrapped', 'kms']),
  signingAlgorithm: z.enum(['RS256', 'ES256']),
  accessTokenSeconds: intIn(60, 86_400),
  idTokenSeconds: intIn(60, 86_400),
  codeSeconds: intIn(10, 600),
  deviceCodeSeconds: intIn(60, 3_600),
  /** RFC 8628 §3.2 `interval`: how long a device waits between polls (5 s unless the tenant chooses; slow_down adds 5). */
  deviceCodeIntervalSeconds: intIn(1, 60),
  /**
   * Dynamic client registration (RFC 7591): `closed` (the default), `open` to anyone, or
   * `initial-access-token` (RFC 7591 §3: only with a bearer token the operator issued). Registered
   * clients are always third-party: never the password grant, never the `card` or `admin` scope.
   */
  registration: z.enum(REGISTRATION_MODES),
  /**
   * The resource owner password grant (ROPC): off by default, since RFC 9700 §2.4 says it MUST NOT be
   * used. A tenant turns it on only for operator-made clients that cannot run a browser flow; only then
   * is it advertised in discovery and accepted at the token endpoint.
   */
  passwordGrant: z.boolean(),
};

/**
 * The boolean this setting replaced. Every tenant created before stored it as `true` (its old default),
 * so a stored value says nothing about what the operator chose: reads drop it (registration is closed
 * until `registration` says otherwise), writes refuse it naming its successor.
 */
const LEGACY_OPEN_REGISTRATION = 'openRegistration';
const legacyOpenRegistration = z.optional(
  z.unknown().check(z.refine((v) => v === undefined, 'replaced by registration: closed | open | initial-access-token')),
);

/** Token service settings of the tenant's OpenID Provider. */
export const oidcSettingsSchema = z
  .strictObject({
    signingMode: z._default(oidcSettingsFields.signingMode, 'wrapped'),
    signingAlgorithm: z._default(oidcSettingsFields.signingAlgorithm, 'RS256'),
    accessTokenSeconds: z._default(oidcSettingsFields.accessTokenSeconds, 600),
    idTokenSeconds: z._default(oidcSettingsFields.idTokenSeconds, 600),
    codeSeconds: z._default(oidcSettingsFields.codeSeconds, 60),
    deviceCodeSeconds: z._default(oidcSettingsFields.deviceCodeSeconds, 600),
    deviceCodeIntervalSeconds: z._default(oidcSettingsFields.deviceCodeIntervalSeconds, 5),
    registration: z._default(oidcSettingsFields.registration, 'closed'),
    passwordGrant: z._default(oidcSettingsFields.passwordGrant, false),
    [LEGACY_OPEN_REGISTRATION]: legacyOpenRegistration,
  })
  .check(
    z.refine((o) => !(o.signingMode === 'kms' && o.signingAlgorithm !== 'RS256'), {
      message: 'kms signing uses the stack RSA key: RS256 only',
      path: ['signingAlgorithm'],
    }),
  );

export type OidcSettings = Omit<z.infer<typeof oidcSettingsSchema>, typeof LEGACY_OPEN_REGISTRATION>;

/** Settings of a tenant stored before a field existed take its default; a stored legacy field is dropped. */
export const oidcSettingsOf = (tenant: Tenant): OidcSettings => {
  const { [LEGACY_OPEN_REGISTRATION]: _legacy, ...stored } = (tenant.oidc ?? {}) as Record<string, unknown>;
  const { [LEGACY_OPEN_REGISTRATION]: _none, ...settings } = oidcSettingsSchema.parse(stored);
  return settings;
};

const PIV_ALGORITHMS = ['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384'] as const;
const PIV_SLOTS = ['9a', '9c', '9d', '9e'] as const;

const cardSettingsFields = {
  defaultAlgorithm: z.enum(PIV_ALGORITHMS),
  allowedAlgorithms: z.array(z.enum(PIV_ALGORITHMS)).check(z.minLength(1)),
  defaultSlots: z.array(z.enum(PIV_SLOTS)).check(z.minLength(1)),
  managementAlgorithm: z.enum(['3des', 'aes128', 'aes192', 'aes256']),
};

/** What cards of the tenant are made of: enrolment defaults and the algorithms the tenant allows. */
export const cardSettingsSchema = z
  .strictObject({
    defaultAlgorithm: z._default(cardSettingsFields.defaultAlgorithm, 'rsa2048'),
    allowedAlgorithms: z._default(cardSettingsFields.allowedAlgorithms, [...PIV_ALGORITHMS]),
    defaultSlots: z._default(cardSettingsFields.defaultSlots, [...PIV_SLOTS]),
    managementAlgorithm: z._default(cardSettingsFields.managementAlgorithm, 'aes192'),
  })
  .check(z.refine((c) => c.allowedAlgorithms.includes(c.defaultAlgorithm), { message: 'defaultAlgorithm must be allowed', path: ['defaultAlgorithm'] }));

export type CardSettings = z.infer<typeof cardSettingsSchema>;
export const cardSettingsOf = (tenant: Tenant): CardSettings => cardSettingsSchema.parse(tenant.cards ?? {});

/**
 * An OpenID provider whose JWTs the card API accepts (besides the tenant's own issuer): tokens are
 * verified against its JWKS, must name the audience, and `userClaim` names the tenant user. The JWKS
 * URI must pass the outbound URL policy (checked by Tenants on every write that sets it).
 */
export const trustedIssuerSchema = z.strictObject({
  issuer: z.url().check(z.maxLength(500)),
  jwksUri: z.url().check(z.maxLength(500)),
  audience: z.string().check(z.minLength(1), z.maxLength(500)),
  userClaim: z._default(z.string().check(z.minLength(1), z.maxLength(100)), 'sub'),
});
export type TrustedIssuer = z.infer<typeof trustedIssuerSchema>;
const trustedIssuers = z.array(trustedIssuerSchema).check(z.maxLength(10));

const settings = {
  displayName: z.string().check(z.trim(), z.minLength(1), z.maxLength(100)),
  status: z.enum(['active', 'disabled']),
  custody: z.enum(['wrapped', 'kms-resident']),
  pinPolicy,
  sessionLifetimes,
};

export const tenantCreateSchema = z.strictObject({
  id: z.string().check(z.regex(TENANT_ID, 'must be 1-40 lower-case letters, digits or inner hyphens')),
  displayName: z.optional(settings.displayName),
  custody: z.optional(settings.custody),
  pinPolicy: z._default(pinPolicy, pinPolicy.parse({})),
  sessionLifetimes: z._default(sessionLifetimes, sessionLifetimes.parse({})),
  oidc: z._default(oidcSettingsSchema, oidcSettingsSchema.parse({})),
  cards: z._default(cardSettingsSchema, cardSettingsSchema.parse({})),
  trustedIssuers: z._default(trustedIssuers, []),
});

/** An update: top-level fields replace, settings groups are partial and merge into the current values. */
export const tenantUpdateSchema = z
  .strictObject({
    displayName: z.optional(settings.displayName),
    status: z.optional(settings.status),
    custody: z.optional(settings.custody),
    pinPolicy: z.optional(z.partial(z.strictObject(pinPolicyFields))),
    sessionLifetimes: z.optional(z.partial(z.strictObject(sessionLifetimeFields))),
    oidc: z.optional(z.partial(z.strictObject({ ...oidcSettingsFields, [LEGACY_OPEN_REGISTRATION]: legacyOpenRegistration }))),
    cards: z.optional(z.partial(z.strictObject(cardSettingsFields))),
    trustedIssuers: z.optional(trustedIssuers),
  })
  .check(z.refine((u) => Object.keys(u).length > 0, { message: 'nothing to update' }));

/** The settings groups after merging, validated whole (issues keep the group name in their path). */
const mergedSettingsSchema = z.partial(z.object({ pinPolicy, sessionLifetimes, oidc: oidcSettingsSchema, cards: cardSettingsSchema }));

export type TenantCreate = z.input<typeof tenantCreateSchema>;
export type TenantUpdate = z.input<typeof tenantUpdateSchema>;

export interface Tenant {
  readonly id: string;
  readonly displayName: string;
  readonly status: 'active' | 'disabled';
  /** When the tenant was last disabled (epoch seconds): nothing granted before it is continued, even after re-enabling. */
  readonly accessRevokedAt?: number;
  readonly custody: 'wrapped' | 'kms-resident';
  readonly pinPolicy: z.infer<typeof pinPolicy>;
  readonly sessionLifetimes: z.infer<typeof sessionLifetimes>;
  readonly oidc?: OidcSettings;
  readonly cards?: CardSettings;
  readonly trustedIssuers?: readonly TrustedIssuer[];
  /** Token protection: score bands, weights and overrides (core/risk/policy.ts); the defaults when absent. */
  readonly riskPolicy?: RiskPolicy;
  /** Shared Signals transmitters whose pushed Security Event Tokens are accepted (core/ssf/); none when absent. */
  readonly ssfTransmitters?: SsfTransmitters;
  /** The portal's look and default language (core/portal/branding.ts); the built-in look when absent. */
  readonly branding?: Branding;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Incremented on every write; updates are guarded on it (optimistic concurrency). */
  readonly version: number;
}

type TenantItem = Item & { tenant: Tenant };

/** Tenants: create, read, list and update, each write guarded so concurrent admins cannot clobber. */
export class Tenants {
  readonly #directory: DirectoryStore;
  readonly #clock: Clock;
  readonly #defaultCustody: Tenant['custody'];
  readonly #outbound: OutboundHttp;
  readonly #endings: Pick<AccessEndings, 'revokeTenant'> | undefined;

  /**
   * `outbound` checks trusted issuers' JWKS URIs (none accepted without it); `endings` revokes a disabled
   * tenant's sessions and grants (absent where there is no state table).
   */
  constructor(
    directory: DirectoryStore,
    clock: Clock,
    defaultCustody: Tenant['custody'] = 'wrapped',
    options: { readonly outbound?: OutboundHttp; readonly endings?: Pick<AccessEndings, 'revokeTenant'> } = {},
  ) {
    this.#directory = directory;
    this.#clock = clock;
    this.#defaultCustody = defaultCustody;
    this.#outbound = options.outbound ?? NO_OUTBOUND;
    this.#endings = options.endings;
  }

  /** Every trusted issuer's JWKS URI must pass the outbound URL policy, which is what fetches it. */
  async #checkJwksUris(issuers: readonly TrustedIssuer[] | undefined, what: string): Promise<void> {
    const issues: string[] = [];
    for (const [index, issuer] of (issuers ?? []).entries()) {
      try {
        await this.#outbound.check(issuer.jwksUri);
      } catch (error) {
        if (!(error instanceof OutboundUrlError)) throw error;
        issues.push(`trustedIssuers.${index}.jwksUri: ${error.message}`);
      }
    }
    if (issues.length > 0) throw new ValidationError(`invalid ${what}`, issues);
  }

  async create(input: unknown): Promise<Tenant> {
    const request = parseInput(tenantCreateSchema, input, 'tenant');
    await this.#checkJwksUris(request.trustedIssuers, 'tenant');
    const now = new Date(this.#clock.now()).toISOString();
    const tenant: Tenant = {
      id: request.id,
      displayName: request.displayName ?? request.id,
      status: 'active',
      custody: request.custody ?? this.#defaultCustody,
      pinPolicy: request.pinPolicy,
      sessionLifetimes: request.sessionLifetimes,
      oidc: request.oidc,
      cards: request.cards,
      trustedIssuers: request.trustedIssuers,
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
    try {
      await this.#directory.put(
        { ...directoryKeys.tenant(tenant.id), ...directoryKeys.tenantListing(tenant.id), type: 'tenant', version: tenant.version, tenant },
        { absent: true },
      );
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`tenant ${tenant.id} already exists`);
      throw error;
    }
    return tenant;
  }

  async find(id: string): Promise<Tenant | undefined> {
    if (!TENANT_ID.test(id)) return undefined;
    const tenant = (await this.#directory.get<TenantItem>(directoryKeys.tenant(id)))?.tenant;
    // A tenant stored before `registration` existed shows (and is updated from) its settings as they apply.
    return tenant?.oidc && LEGACY_OPEN_REGISTRATION in tenant.oidc ? { ...tenant, oidc: oidcSettingsOf(tenant) } : tenant;
  }

  async get(id: string): Promise<Tenant> {
    const tenant = await this.find(id);
    if (!tenant) throw new NotFoundError(`tenant ${id} does not exist`);
    return tenant;
  }

  /** An active tenant, or NotFound: a disabled tenant is invisible to its users. */
  /**
   * Replaces the tenant's risk policy (validated whole; a bad field names itself and writes nothing),
   * guarded on the version like every tenant write.
   */
  async setRiskPolicy(id: string, input: unknown): Promise<RiskPolicy> {
    const policy = parseInput(riskPolicySchema, input, 'risk policy');
    if (policy.external) {
      try {
        await this.#outbound.check(policy.external.url);
      } catch (error) {
        if (!(error instanceof OutboundUrlError)) throw error;
        throw new ValidationError('invalid risk policy', [`external.url: ${error.message}`]);
      }
    }
    const current = await this.get(id);
    const next: Tenant = { ...current, riskPolicy: policy, updatedAt: new Date(this.#clock.now()).toISOString(), version: current.version + 1 };
    try {
      await this.#directory.update(directoryKeys.tenant(id), { tenant: next, version: next.version }, { present: true, equals: { version: current.version } });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`tenant ${id} changed meanwhile; retry`);
      throw error;
    }
    return policy;
  }

  /**
   * Replaces the tenant's Shared Signals transmitters (validated whole; each `jwks_uri` must pass the
   * outbound URL policy, since the push endpoint fetches it), guarded on the version.
   */
  async setSsfTransmitters(id: string, input: unknown): Promise<SsfTransmitters> {
    const config = parseInput(ssfTransmittersSchema, input, 'SSF transmitters');
    const issues: string[] = [];
    for (const [index, transmitter] of config.transmitters.entries()) {
      if (!transmitter.jwks_uri) continue;
      try {
        await this.#outbound.check(transmitter.jwks_uri);
      } catch (error) {
        if (!(error instanceof OutboundUrlError)) throw error;
        issues.push(`transmitters.${index}.jwks_uri: ${error.message}`);
      }
    }
    if (issues.length) throw new ValidationError('invalid SSF transmitters', issues);
    const current = await this.get(id);
    const next: Tenant = { ...current, ssfTransmitters: config, updatedAt: new Date(this.#clock.now()).toISOString(), version: current.version + 1 };
    try {
      await this.#directory.update(directoryKeys.tenant(id), { tenant: next, version: next.version }, { present: true, equals: { version: current.version } });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`tenant ${id} changed meanwhile; retry`);
      throw error;
    }
    return config;
  }

  /** Replaces the tenant's portal branding (validated whole: a 400 names each bad field), guarded on the version. */
  async setBranding(id: string, input: unknown): Promise<Branding> {
    const branding = parseInput(brandingSchema, input, 'branding');
    const current = await this.get(id);
    const next: Tenant = { ...current, branding, updatedAt: new Date(this.#clock.now()).toISOString(), version: current.version + 1 };
    try {
      await this.#directory.update(directoryKeys.tenant(id), { tenant: next, version: next.version }, { present: true, equals: { version: current.version } });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`tenant ${id} changed meanwhile; retry`);
      throw error;
    }
    return branding;
  }

  async getActive(id: string): Promise<Tenant> {
    const tenant = await this.get(id);
    if (tenant.status !== 'active') throw new NotFoundError(`tenant ${id} does not exist`);
    return tenant;
  }

  async list(cursor?: string): Promise<{ tenants: Tenant[]; cursor?: string }> {
    const page = await this.#directory.query<TenantItem>({ index: 'GSI2', partition: 'TENANTS', limit: 100, ...(cursor ? { cursor } : {}) });
    return { tenants: page.items.map((item) => item.tenant), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }

  /**
   * Applies a partial update: top-level fields replace the current ones; `pinPolicy`, `sessionLifetimes`
   * and `oidc` may name only some fields, which are merged into the current group and the merged group
   * is validated as a whole. Guarded on the version, so a concurrent update makes this one a conflict.
   */
  async update(id: string, input: unknown): Promise<Tenant> {
    const changes = parseInput(tenantUpdateSchema, input, 'tenant update');
    await this.#checkJwksUris(changes.trustedIssuers, 'tenant update');
    const current = await this.get(id);
    const { pinPolicy: pinChanges, sessionLifetimes: lifetimeChanges, oidc: oidcChanges, cards: cardChanges, ...scalars } = changes;
    const merged = parseInput(
      mergedSettingsSchema,
      {
        ...(pinChanges ? { pinPolicy: { ...current.pinPolicy, ...defined(pinChanges) } } : {}),
        ...(lifetimeChanges ? { sessionLifetimes: { ...current.sessionLifetimes, ...defined(lifetimeChanges) } } : {}),
        ...(oidcChanges ? { oidc: { ...oidcSettingsOf(current), ...defined(oidcChanges) } } : {}),
        ...(cardChanges ? { cards: { ...cardSettingsOf(current), ...defined(cardChanges) } } : {}),
      },
      'tenant update',
    );
    const now = this.#clock.now();
    // Disabling (or repeating it) stamps the revocation time and revokes after the write, as Users.disable does.
    const disabling = scalars.status === 'disabled';
    const next: Tenant = {
      ...current,
      ...defined(scalars),
      ...defined(merged),
      ...(disabling && current.status !== 'disabled' ? { accessRevokedAt: Math.floor(now / 1000) } : {}),
      updatedAt: new Date(now).toISOString(),
      version: current.version + 1,
    };
    try {
      await this.#directory.update(directoryKeys.tenant(id), { tenant: next, version: next.version }, { present: true, equals: { version: current.version } });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`tenant ${id} changed meanwhile; retry`);
      throw error;
    }
    if (disabling) await this.#endings?.revokeTenant(id);
    return next;
  }
}

/** The members that are set: an absent or undefined field in an update leaves the current value. */
function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
