import { z } from 'zod';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Clock, DirectoryStore, Item, Random } from '../../ports.ts';
import { tenantPartition } from '../directory/keys.ts';
import { OAuthError } from './errors.ts';
import { newOpaque, opaqueHash, sameHash } from './hashing.ts';

export const GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'password',
  'urn:ietf:params:oauth:grant-type:device_code',
] as const;
export type GrantType = (typeof GRANT_TYPES)[number];
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

const redirectUri = z.string().max(2000).refine((value) => {
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
}, 'must be an absolute https URI (http only on loopback, or a private-use scheme), without fragment');

const jwk = z.object({ kty: z.enum(['RSA', 'EC', 'OKP']) }).passthrough();

/** Client metadata as RFC 7591 names it; what the admin API, the CLI and registration all accept. */
export const clientMetadataSchema = z
  .object({
    client_name: z.string().trim().min(1).max(200).optional(),
    /** OIDC Dynamic Client Registration §2: native apps (like the client agent) use loopback redirects. */
    application_type: z.enum(['web', 'native']).optional(),
    redirect_uris: z.array(redirectUri).max(20).default([]),
    post_logout_redirect_uris: z.array(redirectUri).max(20).default([]),
    grant_types: z.array(z.enum(GRANT_TYPES)).min(1).default(['authorization_code']),
    response_types: z.array(z.literal('code')).default(['code']),
    token_endpoint_auth_method: z.enum(AUTH_METHODS).default('client_secret_basic'),
    scope: z
      .string()
      .max(1000)
      .refine((s) => s.split(' ').every((v) => CLIENT_SCOPES.includes(v)), 'unsupported scope value')
      .default('openid profile email phone address offline_access'),
    jwks: z.object({ keys: z.array(jwk).min(1).max(10) }).optional(),
    dpop_bound_access_tokens: z.boolean().default(false),
    id_token_signed_response_alg: z.enum(['RS256', 'ES256']).optional(),
    contacts: z.array(z.string().email()).max(10).optional(),
    client_uri: z.string().url().optional(),
    logo_uri: z.string().url().optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const needsRedirect = m.grant_types.includes('authorization_code');
    if (needsRedirect && m.redirect_uris.length === 0) ctx.addIssue({ code: 'custom', path: ['redirect_uris'], message: 'required for authorization_code' });
    if (m.token_endpoint_auth_method === 'private_key_jwt' && !m.jwks) ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'required for private_key_jwt' });
    if (m.token_endpoint_auth_method === 'none' && (m.grant_types.includes('client_credentials') || m.grant_types.includes('password'))) {
      ctx.addIssue({ code: 'custom', path: ['grant_types'], message: 'a public client cannot use client_credentials or password' });
    }
    if (hasAdminScope(m.scope) && (m.grant_types.length !== 1 || m.grant_types[0] !== 'client_credentials')) {
      ctx.addIssue({ code: 'custom', path: ['scope'], message: 'the admin scope is for client_credentials-only clients' });
    }
  });

export type ClientMetadata = z.infer<typeof clientMetadataSchema>;

export interface OidcClient extends ClientMetadata {
  readonly client_id: string;
  readonly tenant: string;
  /** First-party clients (added by an administrator) skip consent; registered ones never do. */
  readonly first_party: boolean;
  readonly registered_by: 'admin' | 'registration';
  readonly client_id_issued_at: number;
  readonly version: number;
}

type ClientItem = Item & { client: OidcClient; secretHash?: string; registrationTokenHash?: string; version: number };

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
  readonly #secretHashOf = new WeakMap<OidcClient, string | undefined>();

  constructor(directory: DirectoryStore, clock: Clock, random: Random) {
    this.#directory = directory;
    this.#clock = clock;
    this.#random = random;
  }

  async create(tenant: string, input: unknown, origin: 'admin' | 'registration'): Promise<IssuedClient> {
    const metadata = parseMetadata(input);
    if (origin === 'registration') refuseAdminScope(metadata);
    const clientId = this.#random.id();
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

  async find(tenant: string, clientId: string): Promise<OidcClient | undefined> {
    if (!CLIENT_ID.test(clientId)) return undefined;
    const item = await this.#directory.get<ClientItem>(clientKey(tenant, clientId));
    if (!item) return undefined;
    // Remember this read's secret hash against the very object returned, so authenticating the client
    // right after costs no second read (and nothing can go stale: it is the same read).
    this.#secretHashOf.set(item.client, item.secretHash);
    return item.client;
  }

  async get(tenant: string, clientId: string): Promise<OidcClient> {
    const client = await this.find(tenant, clientId);
    if (!client) throw new NotFoundError(`client ${clientId} does not exist in tenant ${tenant}`);
    return client;
  }

  async list(tenant: string, cursor?: string): Promise<{ clients: OidcClient[]; cursor?: string }> {
    const page = await this.#directory.query<ClientItem>({ partition: tenantPartition(tenant), sortPrefix: 'CLIENT#', limit: 100, ...(cursor ? { cursor } : {}) });
    return { clients: page.items.map((i) => i.client), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }

  async remove(tenant: string, clientId: string): Promise<void> {
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
    const hash =
      found && found.client_id === clientId && this.#secretHashOf.has(found)
        ? this.#secretHashOf.get(found)
        : (await this.#directory.get<ClientItem>(clientKey(tenant, clientId)))?.secretHash;
    return Boolean(hash && sameHash(secret, hash));
  }

  /** RFC 7592: the client a registration access token manages, or an invalid_token error. */
  async authorizeRegistration(tenant: string, clientId: string, token: string | undefined): Promise<OidcClient> {
    const item = CLIENT_ID.test(clientId) ? await this.#directory.get<ClientItem>(clientKey(tenant, clientId)) : undefined;
    if (!token || !item?.registrationTokenHash || !sameHash(token, item.registrationTokenHash)) {
      // Same answer for an unknown client and a wrong token (RFC 7592 §2.1), so neither leaks.
      throw new OAuthError('invalid_token', 'the registration access token is not valid for this client', { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
    }
    return item.client;
  }

  /** RFC 7592 update: the new metadata replaces the old; the id and its credentials stay. */
  async replaceMetadata(tenant: string, clientId: string, input: unknown): Promise<OidcClient> {
    const item = await this.#directory.get<ClientItem>(clientKey(tenant, clientId));
    if (!item) throw new NotFoundError(`client ${clientId} does not exist in tenant ${tenant}`);
    const { client_id: _id, client_secret: _secret, ...rest } = (input ?? {}) as Record<string, unknown>;
    if (_id !== undefined && _id !== clientId) throw new OAuthError('invalid_client_metadata', 'client_id cannot change');
    const metadata = parseMetadata(rest);
    if (item.client.registered_by === 'registration') refuseAdminScope(metadata);
    if (needsSecret(metadata) !== Boolean(item.secretHash)) {
      throw new OAuthError('invalid_client_metadata', 'token_endpoint_auth_method cannot switch between secret and no secret');
    }
    const client: OidcClient = { ...item.client, ...metadata, version: item.version + 1 };
    try {
      await this.#directory.update(clientKey(tenant, clientId), { client, version: client.version }, { equals: { version: item.version } });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError('the client changed meanwhile; retry');
      throw error;
    }
    return client;
  }
}

/** Dynamic registration (RFC 7591/7592) can never obtain the admin scope. */
function refuseAdminScope(metadata: ClientMetadata): void {
  if (hasAdminScope(metadata.scope)) throw new OAuthError('invalid_client_metadata', 'scope: the admin scope is granted only to clients an operator creates');
}

function needsSecret(metadata: ClientMetadata): boolean {
  return metadata.token_endpoint_auth_method === 'client_secret_basic' || metadata.token_endpoint_auth_method === 'client_secret_post';
}

function parseMetadata(input: unknown): ClientMetadata {
  const result = clientMetadataSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.');
  const error = field.startsWith('redirect_uris') || field.startsWith('post_logout_redirect_uris') ? 'invalid_redirect_uri' : 'invalid_client_metadata';
  throw new OAuthError(error, `${field || 'metadata'}: ${issue.message}`);
}
