import * as z from '../zod.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { Clock, DirectoryStore, Item, OutboundHttp, Random } from '../../ports.ts';
import { NO_OUTBOUND } from '../outbound/none.ts';
import { OutboundUrlError, outboundTarget, PUBLIC_ONLY } from '../outbound/url-policy.ts';
import type { ReadCache } from '../read-cache.ts';
import { tenantPartition } from '../directory/keys.ts';
import { OAuthError } from './errors.ts';
import { newOpaque, opaqueHash, sameHash } from './hashing.ts';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:device_code'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

/**
 * The grants a tenant's token endpoint accepts, and so what its discovery document advertises: every
 * grant but `password`, which needs the tenant's `passwordGrant` (and then a client an operator made).
 */
export const tenantGrantTypes = (settings: { readonly passwordGrant: boolean }): GrantType[] =>
  GRANT_TYPES.filter((grant) => grant !== 'password' || settings.passwordGrant);
export const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
/** `card`: the card API (the client agent asks for it to list and use the user's cards). */
export const SUPPORTED_SCOPES = ['openid', 'profile', 'email', 'phone', 'address', 'offline_access', 'card'] as const;
/**
 * `admin`: the tenant admin API (/t/{tenant}/admin/v1/). Not advertised in discovery and never granted
 * to a registered client: only an operator (CLI, admin API) can create a client holding it, and only as
 * a confidential client_credentials-only client, so an admin token never stands for a signed-in user.
 */
export const ADMIN_SCOPE = 'admin';
const CLIENT_SCOPES: readonly string[] = [...SUPPORTED_SCOPES, ADMIN_SCOPE];
const hasAdminScope = (scope: string): boolean => scope.split(' ').includes(ADMIN_SCOPE);

/**
 * What only clients an operator creates (CLI, admin API: first-party) may hold. `card` reaches the user's
 * smart cards and `admin` the tenant admin API; the `password` grant (ROPC) hands the user's password to
 * the client. A self-registered client (RFC 7591/7592) never has them: asking is `invalid_client_metadata`,
 * and a stored record that names them anyway (forged, or written before this rule) is read without them,
 * so every endpoint that grants scopes or grants from the client record keeps the rule unchanged.
 */
export const OPERATOR_ONLY_SCOPES: readonly string[] = ['card', ADMIN_SCOPE];
export const OPERATOR_ONLY_GRANTS: readonly GrantType[] = ['password'];

export type ClientOrigin = 'admin' | 'registration';

/** Whether an operator created the client (only such clients are first-party). */
export const operatorCreated = (client: Pick<OidcClient, 'registered_by'>): boolean => client.registered_by === 'admin';

/** The operator-only scopes and grants the metadata asks for; empty when the origin may hold them all. */
export function operatorOnlyRequests(
  metadata: Pick<ClientMetadata, 'scope' | 'grant_types'> & { readonly resources?: readonly string[] },
  origin: ClientOrigin,
): string[] {
  if (origin === 'admin') return [];
  return [
    ...metadata.scope
      .split(' ')
      .filter((s) => OPERATOR_ONLY_SCOPES.includes(s))
      .map((s) => `scope ${s}`),
    ...metadata.grant_types.filter((g) => OPERATOR_ONLY_GRANTS.includes(g)).map((g) => `grant_type ${g}`),
    // Which services a client may get tokens for is the operator's decision (RFC 8707 audiences).
    ...(metadata.resources?.length ? ['resources'] : []),
  ];
}

/**
 * The client as the endpoints may use it: an operator-made client as stored; any other without the
 * operator-only scopes and grants, and never first-party (so consent is always asked).
 */
export function entitledClient(client: OidcClient): OidcClient {
  if (operatorCreated(client)) return client;
  return {
    ...client,
    scope: client.scope
      .split(' ')
      .filter((s) => s && !OPERATOR_ONLY_SCOPES.includes(s))
      .join(' '),
    grant_types: client.grant_types.filter((g) => !OPERATOR_ONLY_GRANTS.includes(g)),
    resources: [],
    first_party: false,
  };
}

/**
 * The scope a client may still be given out of one granted earlier (a refresh): what the client record
 * allows today, so narrowing a client, or the rule above, also holds for refresh tokens issued before.
 */
export function scopeStillAllowed(client: OidcClient, granted: string): string {
  const allowed = entitledClient(client).scope.split(' ');
  return granted
    .split(' ')
    .filter((s) => allowed.includes(s))
    .join(' ');
}

/**
 * The client agent's well-known public client in every tenant that uses cards: made by the operator
 * (`cloudcard client add-agent`, and the local stack's seed for `demo`), named in discovery as
 * `cloudcard_agent_client_id`. A native app (RFC 8252): PKCE, loopback redirects on any port, the device
 * flow for machines without a browser, refresh, and the `card` scope. `dpop_bound_access_tokens` (RFC 9449
 * §5.2): every token request carries a DPoP proof by the agent's device key, so its refresh token is the
 * device's primary refresh token, always bound to that key; `bearer_access_tokens`: its access tokens are
 * Bearer (RFC 9449 §5 lets the refresh token alone be bound) for the card API and scripts' services.
 */
export const AGENT_CLIENT_ID = 'cloudcard-agent';
export const AGENT_CLIENT_METADATA = {
  client_name: 'cloudcard agent',
  application_type: 'native',
  redirect_uris: ['http://127.0.0.1/callback', 'http://[::1]/callback'],
  grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
  scope: 'openid card offline_access',
  dpop_bound_access_tokens: true,
  bearer_access_tokens: true,
} as const;

/**
 * A redirect URI must be absolute, without fragment; https, or http only on a loopback host (native apps,
 * RFC 8252 §7.3), or a private-use scheme with a dot (RFC 8252 §7.1).
 */
/**
 * Whether a requested redirect URI matches a registered one: exactly, or — for native apps on a loopback
 * IP literal (RFC 8252 §7.3) — with any port, since the app picks a free port at each sign-in.
 */
export function redirectUriAllowed(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  let asked: URL;
  try {
    asked = new URL(requested);
  } catch {
    return false;
  }
  if (asked.protocol !== 'http:' || !['127.0.0.1', '[::1]'].includes(asked.hostname)) return false;
  return registered.some((candidate) => {
    try {
      const known = new URL(candidate);
      return known.protocol === 'http:' && known.hostname === asked.hostname && known.pathname === asked.pathname && known.search === asked.search;
    } catch {
      return false;
    }
  });
}

const redirectUri = z.string().check(
  z.maxLength(2000),
  z.refine((value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return false;
    }
    if (url.hash || value.includes('#')) return false;
    if (url.protocol === 'https:') return true;
    if (url.protocol === 'http:') return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    return /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol);
  }, 'must be an absolute https URI (http only on loopback, or a private-use scheme), without fragment'),
);

/**
 * A link the platform shows to users (policy, terms, home page, logo): https, and under the static part of
 * the outbound URL policy with no exception (no credentials, no loopback, private or link-local literal),
 * so a consent page never links into the user's own network.
 */
const httpsUri = z.string().check(
  z.maxLength(2000),
  z.refine((value) => {
    try {
      outboundTarget(value, PUBLIC_ONLY);
      return true;
    } catch {
      return false;
    }
  }, 'must be an absolute https URI to a public host'),
);

/** RFC 8707 §2: a resource indicator is an absolute URI without fragment; https, or http on loopback (local stacks). */
export const resourceUri = z.string().check(
  z.maxLength(2000),
  z.refine((value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return false;
    }
    if (url.hash || value.includes('#')) return false;
    if (url.protocol === 'https:') return true;
    return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  }, 'must be an absolute https URI (http only on loopback) without fragment'),
);

/** JWS algorithms accepted on what clients sign: client assertions and request objects (RFC 9101). */
export const CLIENT_SIGNING_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

const jwk = z.looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']) });

/** Client metadata as RFC 7591 names it; the admin API, the CLI and registration accept it (below). */
const trimmedText = (max: number) => z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(max)));
const uris = (uri: typeof redirectUri) => z._default(z.array(uri).check(z.maxLength(20)), []);
const flag = z._default(z.boolean(), false);
const clientMetadataFields = {
  client_name: trimmedText(200),
  /** RFC 7591 §2: shown on the consent page, so users can read them before they allow a third-party app. */
  policy_uri: z.optional(httpsUri),
  tos_uri: z.optional(httpsUri),
  /** OIDC Dynamic Client Registration §2: native apps (like the client agent) use loopback redirects. */
  application_type: z.optional(z.enum(['web', 'native'])),
  redirect_uris: uris(redirectUri),
  post_logout_redirect_uris: uris(redirectUri),
  grant_types: z._default(z.array(z.enum(GRANT_TYPES)).check(z.minLength(1)), ['authorization_code']),
  response_types: z._default(z.array(z.literal('code')), ['code']),
  token_endpoint_auth_method: z._default(z.enum(AUTH_METHODS), 'client_secret_basic'),
  scope: z._default(
    z.string().check(
      z.maxLength(1000),
      z.refine((s) => s.split(' ').every((v) => CLIENT_SCOPES.includes(v)), 'unsupported scope value'),
    ),
    'openid profile email phone address offline_access',
  ),
  jwks: z.optional(z.object({ keys: z.array(jwk).check(z.minLength(1), z.maxLength(10)) })),
  /** RFC 9449 §5.2: the client always uses DPoP at the token endpoint (a request without a proof is refused). */
  dpop_bound_access_tokens: flag,
  /**
   * RFC 9449 §5: DPoP binds the refresh token alone; access tokens are issued as Bearer, for resources that
   * take bearer tokens only (the card API, scripts). Only with `dpop_bound_access_tokens` on a public client.
   */
  bearer_access_tokens: flag,
  /**
   * RFC 8707: the services (absolute URIs, no fragment) whose access tokens the client may ask for with
   * `resource` on the refresh grant; the token's `aud` is the one asked for. Operator-only.
   */
  resources: uris(resourceUri),
  id_token_signed_response_alg: z.optional(z.enum(['RS256', 'ES256'])),
  /** OIDC Core §5.3.2: the UserInfo response as a JWT signed by the OP (the tenant's algorithm). */
  userinfo_signed_response_alg: z.optional(z.enum(['RS256', 'ES256'])),
  /** RFC 7591 §2: the client's keys by reference, fetched under the outbound URL policy (checked at registration). */
  jwks_uri: z.optional(z.string().check(z.maxLength(2048))),
  /** RFC 9101 §10.1 / OIDC Registration §2: the one algorithm the client's request objects must use. */
  request_object_signing_alg: z.optional(z.enum(CLIENT_SIGNING_ALGORITHMS)),
  /** RFC 9126 §6: authorization requests of this client only through the PAR endpoint. */
  require_pushed_authorization_requests: flag,
  /** OIDC Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed (outbound URL policy, checked at registration). */
  backchannel_logout_uri: z.optional(
    z.string().check(
      z.maxLength(2048),
      z.refine((value) => URL.canParse(value) && !value.includes('#'), 'must be an absolute URI without a fragment'),
    ),
  ),
  /** §2.2: the client needs `sid` in every logout token. */
  backchannel_logout_session_required: flag,
  contacts: z.optional(z.array(z.email()).check(z.maxLength(10))),
  client_uri: z.optional(httpsUri),
  logo_uri: z.optional(httpsUri),
  /** RFC 7591 §2: stored and returned; identify the client software for the operator. */
  software_id: trimmedText(200),
  software_version: trimmedText(100),
};
type ClientMetadataFields = z.infer<z.ZodMiniObject<typeof clientMetadataFields>>;

/** Cross-field rules, the same for every origin. */
function metadataRules(m: ClientMetadataFields, ctx: z.core.$RefinementCtx<ClientMetadataFields>): void {
  const needsRedirect = m.grant_types.includes('authorization_code');
  if (needsRedirect && m.redirect_uris.length === 0) ctx.addIssue({ code: 'custom', path: ['redirect_uris'], message: 'required for authorization_code' });
  if (m.token_endpoint_auth_method === 'private_key_jwt' && !m.jwks && !m.jwks_uri)
    ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'jwks or jwks_uri is required for private_key_jwt' });
  if (m.jwks && m.jwks_uri) ctx.addIssue({ code: 'custom', path: ['jwks_uri'], message: 'jwks and jwks_uri are mutually exclusive (RFC 7591 §2)' });
  if (m.backchannel_logout_session_required && !m.backchannel_logout_uri)
    ctx.addIssue({ code: 'custom', path: ['backchannel_logout_session_required'], message: 'needs a backchannel_logout_uri' });
  if (m.request_object_signing_alg && !m.jwks && !m.jwks_uri)
    ctx.addIssue({ code: 'custom', path: ['request_object_signing_alg'], message: 'needs jwks or jwks_uri to verify request objects' });
  if (m.token_endpoint_auth_method === 'none' && (m.grant_types.includes('client_credentials') || m.grant_types.includes('password'))) {
    ctx.addIssue({ code: 'custom', path: ['grant_types'], message: 'a public client cannot use client_credentials or password' });
  }
  if (m.bearer_access_tokens && (!m.dpop_bound_access_tokens || m.token_endpoint_auth_method !== 'none')) {
    ctx.addIssue({
      code: 'custom',
      path: ['bearer_access_tokens'],
      message: 'only for a public client with dpop_bound_access_tokens (its refresh token stays DPoP-bound)',
    });
  }
  if (hasAdminScope(m.scope) && (m.grant_types.length !== 1 || m.grant_types[0] !== 'client_credentials')) {
    ctx.addIssue({ code: 'custom', path: ['scope'], message: 'the admin scope is for client_credentials-only clients' });
  }
}

/** What the admin API and the CLI accept: an unknown field is an operator's typo, refused. */
export const clientMetadataSchema = z.strictObject(clientMetadataFields).check(z.superRefine(metadataRules));
/** What registration accepts: RFC 7591 §2 says to ignore metadata the server does not understand. */
const registeredMetadataSchema = z.object(clientMetadataFields).check(z.superRefine(metadataRules));

export type ClientMetadata = z.infer<typeof clientMetadataSchema>;

export interface OidcClient extends ClientMetadata {
  readonly client_id: string;
  readonly tenant: string;
  /** First-party clients (added by an administrator) skip consent; registered ones never do. */
  readonly first_party: boolean;
  readonly registered_by: ClientOrigin;
  readonly client_id_issued_at: number;
  readonly version: number;
}

/**
 * `previousSecretHash` is the secret a rotation replaced, still accepted until `previousSecretExpiresAt`
 * (epoch seconds): the grace period in which the client's deployments switch to the new one.
 */
type ClientItem = Item & {
  client: OidcClient;
  secretHash?: string;
  previousSecretHash?: string;
  previousSecretExpiresAt?: number;
  registrationTokenHash?: string;
  version: number;
};

/** The members of a stored client that the server sets: never metadata a caller sends or patches. */
const SERVER_MEMBERS = ['client_id', 'tenant', 'first_party', 'registered_by', 'client_id_issued_at', 'version'] as const;

/** The longest grace period a rotated-out secret may keep working (7 days). */
export const MAX_SECRET_GRACE_SECONDS = 7 * 24 * 3600;

/** The secrets a client read carries along, so authenticating right after costs no second read. */
interface SecretHashes {
  readonly current?: string | undefined;
  readonly previous?: string | undefined;
  readonly previousExpiresAt?: number | undefined;
}

const clientKey = (tenant: string, clientId: string) => ({ PK: tenantPartition(tenant), SK: `CLIENT#${clientId}` });
const CLIENT_ID = /^[A-Za-z0-9_-]{8,64}$/;

export interface IssuedClient {
  readonly client: OidcClient;
  /** Shown once; stored only as a hash. */
  readonly clientSecret?: string;
  /** RFC 7592 registration access token; shown once, stored only as a hash. */
  readonly registrationAccessToken?: string;
}

/** The tenant's OAuth clients. Secrets and registration tokens exist only as hashes once issued. */
export class Clients {
  readonly #directory: DirectoryStore;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #outbound: OutboundHttp;
  readonly #secretHashOf = new WeakMap<OidcClient, SecretHashes>();
  /** Present where a hot path reads clients per request (the oidc function): see ReadCache for the staleness bound. */
  readonly #cache: ReadCache<OidcClient> | undefined;

  /** `outbound` checks a `jwks_uri` under the outbound URL policy; without it none is accepted. */
  constructor(directory: DirectoryStore, clock: Clock, random: Random, outbound: OutboundHttp = NO_OUTBOUND, cache?: ReadCache<OidcClient>) {
    this.#directory = directory;
    this.#clock = clock;
    this.#random = random;
    this.#outbound = outbound;
    this.#cache = cache;
  }

  /**
   * Creates a client. `admit` runs once the metadata is known to be acceptable and before anything is
   * written (registration spends a single-use initial access token there), so a refused request spends
   * nothing and a refused admission writes nothing.
   */
  async create(tenant: string, input: unknown, origin: ClientOrigin, admit?: () => Promise<void>): Promise<IssuedClient> {
    const metadata = await this.#metadataFor(input, origin);
    await admit?.();
    return this.#write(tenant, this.#random.id(), metadata, origin);
  }

  /**
   * Creates the tenant's agent client (AGENT_CLIENT_ID) unless it exists; an existing one is left as it
   * is (an operator may have changed it), so running this again is harmless, except that a public agent
   * client made before the PRT gets its two DPoP flags: the agent now sends proofs at every token request,
   * and without `bearer_access_tokens` its card-API tokens would come out DPoP-bound, which the card API refuses.
   */
  async addAgent(tenant: string): Promise<{ client: OidcClient; created: boolean }> {
    try {
      const { client } = await this.#write(tenant, AGENT_CLIENT_ID, await this.#metadataFor(AGENT_CLIENT_METADATA, 'admin'), 'admin');
      return { client, created: true };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const existing = await this.get(tenant, AGENT_CLIENT_ID);
      if (existing.token_endpoint_auth_method !== 'none' || (existing.dpop_bound_access_tokens && existing.bearer_access_tokens))
        return { client: existing, created: false };
      return {
        client: await this.replaceMetadata(tenant, AGENT_CLIENT_ID, {
          ...updateRequestOf(existing),
          dpop_bound_access_tokens: true,
          bearer_access_tokens: true,
        }),
        created: false,
      };
    }
  }

  /**
   * A client moved from another tenant or stack (tenant import): same id, origin and metadata, checked as
   * at creation; new credentials (secrets are never exported), returned once.
   */
  async restore(tenant: string, exported: { client_id: string; registered_by: ClientOrigin; metadata: unknown }): Promise<IssuedClient> {
    if (!CLIENT_ID.test(exported.client_id)) throw new ValidationError(`client id ${exported.client_id} is not valid`);
    const metadata = await this.#metadataFor(exported.metadata, exported.registered_by);
    return this.#write(tenant, exported.client_id, metadata, exported.registered_by);
  }

  async #write(tenant: string, clientId: string, metadata: ClientMetadata, origin: ClientOrigin): Promise<IssuedClient> {
    const clientSecret = needsSecret(metadata) ? newOpaque('cs_') : undefined;
    const registrationAccessToken = origin === 'registration' ? newOpaque('rat_') : undefined;
    const client: OidcClient = {
      ...metadata,
      client_id: clientId,
      tenant,
      first_party: origin === 'admin',
      registered_by: origin,
      client_id_issued_at: Math.floor(this.#clock.now() / 1000),
      version: 1,
    };
    await this.#directory.put(
      {
        ...clientKey(tenant, clientId),
        type: 'client',
        version: 1,
        client,
        ...(clientSecret ? { secretHash: opaqueHash(clientSecret) } : {}),
        ...(registrationAccessToken ? { registrationTokenHash: opaqueHash(registrationAccessToken) } : {}),
      },
      { absent: true },
    );
    return { client, ...(clientSecret ? { clientSecret } : {}), ...(registrationAccessToken ? { registrationAccessToken } : {}) };
  }

  /**
   * The client; with a cache, as read at most the cache's TTL ago (a disabled, narrowed or deleted client,
   * or a rotated secret, is honoured here for at most that long after the change).
   */
  async find(tenant: string, clientId: string): Promise<OidcClient | undefined> {
    if (!CLIENT_ID.test(clientId)) return undefined;
    if (!this.#cache) return this.#read(tenant, clientId);
    return this.#cache.get(`${tenant}/${clientId}`, () => this.#read(tenant, clientId));
  }

  async #read(tenant: string, clientId: string): Promise<OidcClient | undefined> {
    const item = await this.#directory.get<ClientItem>(clientKey(tenant, clientId));
    if (!item) return undefined;
    const client = entitledClient(item.client);
    // Remember this read's secret hash against the very object returned, so authenticating the client
    // right after costs no second read (and nothing can go stale: it is the same read).
    this.#secretHashOf.set(client, hashesOf(item));
    return client;
  }

  async get(tenant: string, clientId: string): Promise<OidcClient> {
    const client = await this.find(tenant, clientId);
    if (!client) throw new NotFoundError(`client ${clientId} does not exist in tenant ${tenant}`);
    return client;
  }

  async list(tenant: string, cursor?: string): Promise<{ clients: OidcClient[]; cursor?: string }> {
    const page = await this.#directory.query<ClientItem>({
      partition: tenantPartition(tenant),
      sortPrefix: 'CLIENT#',
      limit: 100,
      ...(cursor ? { cursor } : {}),
    });
    return { clients: page.items.map((i) => entitledClient(i.client)), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }

  async remove(tenant: string, clientId: string): Promise<void> {
    this.#cache?.forget(`${tenant}/${clientId}`);
    try {
      await this.#directory.delete(clientKey(tenant, clientId), { present: true });
    } catch (error) {
      if (error instanceof ConflictError) throw new NotFoundError(`client ${clientId} does not exist in tenant ${tenant}`);
      throw error;
    }
  }

  /**
   * Checks a client secret in constant time; false for clients that have none. Given the client object
   * `find` just returned, it uses that read instead of reading again.
   */
  async verifySecret(tenant: string, clientId: string, secret: string, found?: OidcClient): Promise<boolean> {
    if (!CLIENT_ID.test(clientId)) return false;
    const hashes =
      found && found.client_id === clientId && this.#secretHashOf.has(found)
        ? this.#secretHashOf.get(found)!
        : hashesOf(await this.#directory.get<ClientItem>(clientKey(tenant, clientId)));
    const current = Boolean(hashes.current && sameHash(secret, hashes.current));
    // Both comparisons always run: which secret matched, or whether one did, shows in no timing.
    const previous = Boolean(hashes.previous && sameHash(secret, hashes.previous)) && (hashes.previousExpiresAt ?? 0) > this.#clock.now() / 1000;
    return current || previous;
  }

  /**
   * The operator's change of a client (admin API PATCH, `client update`): the members given replace the
   * stored ones, `null` removes one, the rest stay. The result is validated by the same rules as a
   * creation or registration of the client's origin (a registered client cannot gain operator-only
   * scopes or grants this way), and cannot switch between having a secret and having none.
   */
  async update(tenant: string, clientId: string, patch: unknown): Promise<OidcClient> {
    const item = await this.#item(tenant, clientId);
    return this.#replace(tenant, item, patchedMetadata(item.client, patch));
  }

  /**
   * Gives a confidential client a new secret (returned once, stored only as a hash). The old one stays
   * valid for `graceSeconds` (0: it stops at once; at most MAX_SECRET_GRACE_SECONDS), so deployments can
   * switch without an outage; a second rotation ends the first one's grace.
   */
  async rotateSecret(
    tenant: string,
    clientId: string,
    graceSeconds = 0,
  ): Promise<{ client: OidcClient; clientSecret: string; previousSecretExpiresAt?: string }> {
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_SECRET_GRACE_SECONDS) {
      throw new ValidationError('invalid secret rotation', [`graceSeconds: a whole number of seconds from 0 to ${MAX_SECRET_GRACE_SECONDS}`]);
    }
    const item = await this.#item(tenant, clientId);
    if (!item.secretHash)
      throw new ValidationError(`client ${clientId} has no secret to rotate (token_endpoint_auth_method ${item.client.token_endpoint_auth_method})`);
    const clientSecret = newOpaque('cs_');
    const expiresAt = Math.floor(this.#clock.now() / 1000) + graceSeconds;
    const client: OidcClient = { ...item.client, version: item.version + 1 };
    this.#cache?.forget(`${tenant}/${clientId}`);
    try {
      await this.#directory.update(
        clientKey(tenant, clientId),
        {
          client,
          version: client.version,
          secretHash: opaqueHash(clientSecret),
          previousSecretHash: graceSeconds > 0 ? item.secretHash : null,
          previousSecretExpiresAt: graceSeconds > 0 ? expiresAt : null,
        },
        { equals: { version: item.version } },
      );
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError('the client changed meanwhile; retry');
      throw error;
    }
    return { client: entitledClient(client), clientSecret, ...(graceSeconds > 0 ? { previousSecretExpiresAt: new Date(expiresAt * 1000).toISOString() } : {}) };
  }

  async #item(tenant: string, clientId: string): Promise<ClientItem> {
    const item = CLIENT_ID.test(clientId) ? await this.#directory.get<ClientItem>(clientKey(tenant, clientId)) : undefined;
    if (!item) throw new NotFoundError(`client ${clientId} does not exist in tenant ${tenant}`);
    return item;
  }

  /** RFC 7592: the client a registration access token manages, or an invalid_token error. */
  async authorizeRegistration(tenant: string, clientId: string, token: string | undefined): Promise<OidcClient> {
    const item = CLIENT_ID.test(clientId) ? await this.#directory.get<ClientItem>(clientKey(tenant, clientId)) : undefined;
    if (!token || !item?.registrationTokenHash || !sameHash(token, item.registrationTokenHash)) {
      // Same answer for an unknown client and a wrong token (RFC 7592 §2.1), so neither leaks.
      throw new OAuthError('invalid_token', 'the registration access token is not valid for this client', {
        status: 401,
        headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
      });
    }
    return entitledClient(item.client);
  }

  /**
   * RFC 7592 §2.2 update: the body must name the client's id, and a `client_secret` in it must be the
   * current one (a client never chooses its secret). The new metadata replaces the old whole: a field
   * left out is gone (or back to its default), never kept. The id and its credentials stay.
   */
  /** Sets the services (RFC 8707 resources) the client may get tokens for; the rest of its metadata is kept. */
  async setResources(tenant: string, clientId: string, resources: readonly string[]): Promise<OidcClient> {
    return this.replaceMetadata(tenant, clientId, { ...updateRequestOf(await this.get(tenant, clientId)), resources });
  }

  async replaceMetadata(tenant: string, clientId: string, input: unknown): Promise<OidcClient> {
    const item = await this.#directory.get<ClientItem>(clientKey(tenant, clientId));
    if (!item) throw new NotFoundError(`client ${clientId} does not exist in tenant ${tenant}`);
    const { client_id: id, client_secret: secret, ...rest } = (input ?? {}) as Record<string, unknown>;
    if (id === undefined) throw new OAuthError('invalid_request', 'client_id is required in an update (RFC 7592 §2.2)');
    if (id !== clientId) throw new OAuthError('invalid_client_metadata', 'client_id cannot change');
    if (secret !== undefined && (typeof secret !== 'string' || !item.secretHash || !sameHash(secret, item.secretHash))) {
      throw new OAuthError('invalid_client_metadata', 'client_secret does not match the current secret; a client cannot choose its secret');
    }
    return this.#replace(tenant, item, rest);
  }

  /** Replaces the stored metadata whole with `input`, validated as the client's origin's metadata; the id and credentials stay. */
  async #replace(tenant: string, item: ClientItem, input: Record<string, unknown>): Promise<OidcClient> {
    const clientId = item.client.client_id;
    const metadata = await this.#metadataFor(input, item.client.registered_by);
    if (needsSecret(metadata) !== Boolean(item.secretHash)) {
      throw new OAuthError('invalid_client_metadata', 'token_endpoint_auth_method cannot switch between secret and no secret');
    }
    const { client_id, tenant: owner, first_party, registered_by, client_id_issued_at } = item.client;
    const client: OidcClient = { ...metadata, client_id, tenant: owner, first_party, registered_by, client_id_issued_at, version: item.version + 1 };
    this.#cache?.forget(`${tenant}/${clientId}`);
    try {
      await this.#directory.update(clientKey(tenant, clientId), { client, version: client.version }, { equals: { version: item.version } });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError('the client changed meanwhile; retry');
      throw error;
    }
    return client;
  }

  /** Valid metadata the origin may hold, its jwks_uri allowed by the outbound URL policy. */
  async #metadataFor(input: unknown, origin: ClientOrigin): Promise<ClientMetadata> {
    const metadata = metadataFor(input, origin);
    // Every URL we will call for this client passes the outbound URL policy before it is stored.
    for (const field of ['jwks_uri', 'backchannel_logout_uri'] as const) {
      const url = metadata[field];
      if (url === undefined) continue;
      try {
        await this.#outbound.check(url);
      } catch (error) {
        if (error instanceof OutboundUrlError) throw new OAuthError('invalid_client_metadata', `${field}: ${error.message}`);
        throw error;
      }
    }
    return metadata;
  }
}

/**
 * A client's metadata after a PATCH: the members given replace the stored ones, `null` removes one, the
 * rest stay; the members the server sets cannot be patched. Validation comes after, on the result.
 */
export function patchedMetadata(client: OidcClient, patch: unknown): Record<string, unknown> {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch))
    throw new OAuthError('invalid_client_metadata', 'the change must be a JSON object of client metadata');
  const refused = SERVER_MEMBERS.filter((member) => member in patch);
  if (refused.length) throw new OAuthError('invalid_client_metadata', `${refused.join(', ')}: set by the server, cannot change`);
  const merged = metadataOf(client);
  for (const [member, value] of Object.entries(patch)) {
    if (value === null) delete merged[member];
    else merged[member] = value;
  }
  return merged;
}

/** The stored client's metadata alone (without the members the server sets). */
export function metadataOf(client: OidcClient): Record<string, unknown> {
  const metadata: Record<string, unknown> = { ...client };
  for (const member of SERVER_MEMBERS) delete metadata[member];
  return metadata;
}

function hashesOf(item: ClientItem | undefined): SecretHashes {
  return { current: item?.secretHash, previous: item?.previousSecretHash, previousExpiresAt: item?.previousSecretExpiresAt };
}

/** Valid metadata the origin may hold, or the RFC 7591 §3.2.2 error naming what is wrong. */
function metadataFor(input: unknown, origin: ClientOrigin): ClientMetadata {
  const metadata = parseMetadata(input, origin === 'registration' ? registeredMetadataSchema : clientMetadataSchema);
  const refused = operatorOnlyRequests(metadata, origin);
  if (refused.length)
    throw new OAuthError('invalid_client_metadata', `${refused.join(', ')}: only for clients the tenant's operator creates, not for registered ones`);
  return metadata;
}

/** A stored client's metadata with its client_id, as an RFC 7592 update takes it (what the server set left out). */
const updateRequestOf = (client: OidcClient): Record<string, unknown> => ({ client_id: client.client_id, ...metadataOf(client) });

function needsSecret(metadata: ClientMetadata): boolean {
  return metadata.token_endpoint_auth_method === 'client_secret_basic' || metadata.token_endpoint_auth_method === 'client_secret_post';
}

function parseMetadata(input: unknown, schema: typeof clientMetadataSchema | typeof registeredMetadataSchema): ClientMetadata {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.');
  const error = field.startsWith('redirect_uris') || field.startsWith('post_logout_redirect_uris') ? 'invalid_redirect_uri' : 'invalid_client_metadata';
  throw new OAuthError(error, `${field || 'metadata'}: ${issue.message}`);
}
