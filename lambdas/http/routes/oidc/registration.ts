import type { IssuedClient, OidcClient } from '../../../core/oidc/client.ts';
import { OAuthError } from '../../../core/oidc/errors.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { oauthEndpoint, oauthJson, tenantContext, type TenantContext, oauthErrorResponse } from './common.ts';
import type { OidcRouteDeps } from './deps.ts';

/**
 * The tenant signs every ID token and signed UserInfo response with one algorithm; a client expecting
 * another would reject them.
 */
function requireTenantAlgorithm(body: Record<string, unknown>, algorithm: string): void {
  for (const field of ['id_token_signed_response_alg', 'userinfo_signed_response_alg']) {
    if (body[field] !== undefined && body[field] !== algorithm) throw new OAuthError('invalid_client_metadata', `${field} must be ${algorithm} at this issuer`);
  }
}

/** Dynamic client registration (RFC 7591) and its management API (RFC 7592). */
export function registrationRoutes(deps: OidcRouteDeps): Route[] {
  const { oidc } = deps;

  const describe = (issuer: string, client: OidcClient, issued?: IssuedClient): Record<string, unknown> => {
    const { tenant: _t, first_party: _f, registered_by: _r, version: _v, ...metadata } = client;
    return {
      ...metadata,
      ...(issued?.clientSecret ? { client_secret: issued.clientSecret, client_secret_expires_at: 0 } : {}),
      ...(issued?.registrationAccessToken ? { registration_access_token: issued.registrationAccessToken } : {}),
      registration_client_uri: `${issuer}/oidc/register/${client.client_id}`,
    };
  };

  const jsonBody = (request: ApiRequest): unknown => {
    if (!/^application\/json\b/i.test(request.headers['content-type'] ?? ''))
      throw new OAuthError('invalid_client_metadata', 'the body must be application/json');
    if (!request.body || typeof request.body !== 'object' || Array.isArray(request.body))
      throw new OAuthError('invalid_client_metadata', 'the body must be a JSON object');
    return request.body;
  };

  const bearer = (request: ApiRequest): string | undefined => /^Bearer (\S+)$/i.exec(request.headers['authorization'] ?? '')?.[1];

  const manage =
    (run: (tenantId: string, issuer: string, client: OidcClient, request: ApiRequest, tenant: TenantContext) => Promise<ApiResponse>) =>
    (request: ApiRequest) =>
      oauthEndpoint(async () => {
        const tenant = await tenantContext(deps.tenants, request);
        const client = await oidc.clients.authorizeRegistration(tenant.tenant.id, request.params['clientId']!, bearer(request));
        return run(tenant.tenant.id, tenant.issuer, client, request, tenant);
      });

  return [
    {
      method: 'POST',
      path: '/t/:tenant/oidc/register',
      malformedBody: (problem) => oauthErrorResponse(new OAuthError('invalid_client_metadata', problem.detail ?? problem.title)),
      handle: (request) =>
        oauthEndpoint(async () => {
          const tenant = await tenantContext(deps.tenants, request);
          const mode = tenant.settings.registration;
          if (mode === 'closed')
            throw new OAuthError('access_denied', 'this tenant does not accept dynamic client registration; its operator adds clients', { status: 403 });
          // RFC 7591 §3: in token mode the initial access token is checked first, and spent only once the
          // metadata is acceptable, just before the client is written.
          const presented = bearer(request);
          const token = mode === 'initial-access-token' ? await oidc.initialAccessTokens.verify(tenant.tenant.id, presented) : undefined;
          const body = jsonBody(request) as Record<string, unknown>;
          requireTenantAlgorithm(body, tenant.settings.signingAlgorithm);
          const admit = token ? () => oidc.initialAccessTokens.spend(token, presented!) : undefined;
          const issued = await oidc.clients.create(tenant.tenant.id, body, 'registration', admit);
          return oauthJson(201, describe(tenant.issuer, issued.client, issued));
        }),
    },
    { method: 'GET', path: '/t/:tenant/oidc/register/:clientId', handle: manage(async (_t, issuer, client) => oauthJson(200, describe(issuer, client))) },
    {
      method: 'PUT',
      path: '/t/:tenant/oidc/register/:clientId',
      handle: manage(async (tenantId, issuer, client, request, tenant) => {
        const body = jsonBody(request) as Record<string, unknown>;
        requireTenantAlgorithm(body, tenant.settings.signingAlgorithm);
        return oauthJson(200, describe(issuer, await oidc.clients.replaceMetadata(tenantId, client.client_id, body)));
      }),
    },
    {
      method: 'DELETE',
      path: '/t/:tenant/oidc/register/:clientId',
      handle: manage(async (tenantId, _issuer, client) => {
        await oidc.clients.remove(tenantId, client.client_id);
        return { statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
      }),
    },
  ];
}
