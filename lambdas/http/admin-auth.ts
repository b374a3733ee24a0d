import { createHash } from 'node:crypto';
import type { AdminClients } from '../core/directory/admin-client.ts';
import { ADMIN_SCOPE } from '../core/oidc/client.ts';
import { OAuthError } from '../core/oidc/errors.ts';
import type { Clock } from '../ports.ts';
import { HttpProblem } from './problem.ts';
import { tenantContext } from './routes/oidc/common.ts';
import type { OidcRouteDeps } from './routes/oidc/deps.ts';
import { authenticateAccessToken } from './routes/oidc/resource.ts';
import type { ApiRequest } from './types.ts';

const BASIC_CHALLENGE = 'Basic realm="cloudcard-admin", charset="UTF-8"';
const BEARER_CHALLENGE = `Bearer realm="cloudcard-admin", scope="${ADMIN_SCOPE}"`;
const CACHE_SECONDS = 60;
const CACHE_ENTRIES = 64;

/** Who is calling the admin API. */
export type AdminPrincipal =
  /** A platform-wide operator client (HTTP Basic): may manage every tenant. */
  | { readonly kind: 'admin-client'; readonly clientId: string }
  /** An access token with the `admin` scope from the path tenant's own OpenID Provider: that tenant only. */
  | { readonly kind: 'tenant-token'; readonly tenant: string; readonly clientId: string };

/**
 * Authenticates admin API calls, two ways:
 * - HTTP Basic with platform admin client credentials. A verified pair is remembered (by hash, never in
 *   clear) for a minute so a burst of admin calls pays the memory-hard hash once.
 * - `Bearer`/`DPoP` with an access token the tenant named in the path issued (signature by its keys,
 *   issuer and audience, `typ: at+jwt`, expiry, grant active, token not revoked, DPoP proof for bound
 *   tokens), carrying the `admin` scope, for a client an operator created with that scope. The issuer is
 *   the path tenant's, so a token of tenant A never opens tenant B.
 */
export class AdminAuthenticator {
  readonly #clients: AdminClients;
  readonly #clock: Clock;
  readonly #tokens: OidcRouteDeps | undefined;
  readonly #verified = new Map<string, number>();

  /** Without `tokens` only HTTP Basic is accepted. */
  constructor(clients: AdminClients, clock: Clock, tokens?: OidcRouteDeps) {
    this.#clients = clients;
    this.#clock = clock;
    this.#tokens = tokens;
  }

  /** Returns the caller, or throws 401 (with challenges) or 403 (a token without the admin scope). */
  async authenticate(request: ApiRequest): Promise<AdminPrincipal> {
    const header = request.headers['authorization']?.trim() ?? '';
    if (/^(Bearer|DPoP)\s/i.test(header) && this.#tokens) return this.#authenticateToken(this.#tokens, request);
    const credentials = parseBasic(header);
    if (!credentials)
      throw unauthorized(
        this.#tokens
          ? 'admin client credentials (HTTP Basic) or an access token with the admin scope are required'
          : 'admin client credentials are required (HTTP Basic)',
        this.#challenge(),
      );
    const fingerprint = createHash('sha256').update(`${credentials.id}\0${credentials.secret}`).digest('base64url');
    const now = this.#clock.now();
    const until = this.#verified.get(fingerprint);
    if (until !== undefined && until > now) return { kind: 'admin-client', clientId: credentials.id };
    if (!(await this.#clients.verify(credentials.id, credentials.secret))) throw unauthorized('invalid admin client credentials', this.#challenge());
    if (this.#verified.size >= CACHE_ENTRIES) this.#verified.clear();
    this.#verified.set(fingerprint, now + CACHE_SECONDS * 1000);
    return { kind: 'admin-client', clientId: credentials.id };
  }

  async #authenticateToken(deps: OidcRouteDeps, request: ApiRequest): Promise<AdminPrincipal> {
    const tenantId = request.params['tenant'] ?? '';
    const tenant = await tenantContext(deps.tenants, request).catch(() => {
      throw unauthorized(`the access token is not valid for tenant ${tenantId}`, `${BASIC_CHALLENGE}, Bearer error="invalid_token"`, 'invalid_token');
    });
    let claims;
    try {
      claims = await authenticateAccessToken(deps, tenant, request);
    } catch (error) {
      if (error instanceof OAuthError) {
        const title = error.status === 403 ? 'Forbidden' : error.status === 400 ? 'Invalid request' : 'Unauthorized';
        const headers = { ...error.headers };
        // A 401 also offers Basic: the caller may be an operator with admin client credentials.
        if (error.status === 401 && headers['WWW-Authenticate']) headers['WWW-Authenticate'] = `${BASIC_CHALLENGE}, ${headers['WWW-Authenticate']}`;
        throw new HttpProblem(error.status, title, { detail: error.message, headers, extensions: { error: error.error } });
      }
      throw error;
    }
    if (!claims.scope.split(' ').includes(ADMIN_SCOPE)) {
      throw new HttpProblem(403, 'Forbidden', {
        detail: 'the access token lacks the admin scope',
        headers: { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${ADMIN_SCOPE}"` },
        extensions: { error: 'insufficient_scope' },
      });
    }
    // Still an operator-made client holding the scope (not removed or changed since), acting as itself.
    const client = await deps.oidc.clients.find(tenant.tenant.id, claims.client_id);
    if (!client || client.registered_by !== 'admin' || !client.scope.split(' ').includes(ADMIN_SCOPE) || claims.sub !== client.client_id) {
      throw unauthorized(
        'the client behind this access token may not administer the tenant',
        `${BASIC_CHALLENGE}, Bearer error="invalid_token"`,
        'invalid_token',
      );
    }
    return { kind: 'tenant-token', tenant: tenant.tenant.id, clientId: client.client_id };
  }

  #challenge(): string {
    return this.#tokens ? `${BASIC_CHALLENGE}, ${BEARER_CHALLENGE}` : BASIC_CHALLENGE;
  }
}

/** 401 with its challenges; `error` is the RFC 6750 code when a token was refused. */
function unauthorized(detail: string, challenge: string, error?: string): HttpProblem {
  return new HttpProblem(401, 'Unauthorized', { detail, headers: { 'WWW-Authenticate': challenge }, extensions: error ? { error } : {} });
}

function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header?.trim() ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  // RFC 6749 §2.3.1 form-encodes client credentials before Basic; accept both encoded and plain.
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s.replace(/\+/g, '%20'));
    } catch {
      return s;
    }
  };
  return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
}
