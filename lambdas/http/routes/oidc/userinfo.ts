import { userClaims } from '../../../core/oidc/claims.ts';
import { OAuthError } from '../../../core/oidc/errors.ts';
import type { Route, RouteHandler } from '../../router.ts';
import { oauthEndpoint, oauthJson, tenantContext } from './common.ts';
import type { OidcRouteDeps } from './deps.ts';
import { authenticateAccessToken } from './resource.ts';

/** UserInfo (OIDC Core §5.3), GET and POST; claims released by the token's scopes. */
export function userinfoRoutes(deps: OidcRouteDeps): Route[] {
  const handle: RouteHandler = (request) =>
    oauthEndpoint(async () => {
      const tenant = await tenantContext(deps.tenants, request);
      const bodyToken = request.method === 'POST' ? ((request.body as Record<string, string> | undefined)?.['access_token'] ?? undefined) : undefined;
      const claims = await authenticateAccessToken(deps, tenant, request, bodyToken);
      if (!claims.scope.split(' ').includes('openid')) {
        throw new OAuthError('insufficient_scope', 'the access token lacks the openid scope', { status: 403, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_scope", scope="openid"' } });
      }
      const user = await deps.users.get(tenant.tenant.id, claims.sub).catch(() => undefined);
      if (!user || user.status !== 'active') {
        throw new OAuthError('invalid_token', 'the user of this token no longer exists or is disabled', { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
      }
      const nonce: Record<string, string> = claims.cnf ? { 'DPoP-Nonce': await deps.oidc.nonces.current(tenant.tenant.id) } : {};
      return oauthJson(200, userClaims(user, claims.scope), nonce);
    });
  return [
    { method: 'GET', path: '/t/:tenant/oidc/userinfo', handle },
    { method: 'POST', path: '/t/:tenant/oidc/userinfo', handle },
  ];
}
