import { userClaims } from '../../../core/oidc/claims.ts';
import { OAuthError } from '../../../core/oidc/errors.ts';
import type { Route, RouteHandler } from '../../router.ts';
import { accessContext, oauthEndpoint, oauthJson, tenantContext } from './common.ts';
import { clientCors } from './cors.ts';
import type { OidcRouteDeps } from './deps.ts';
import { authenticateAccessToken } from './resource.ts';

/**
 * UserInfo (OIDC Core §5.3), GET and POST; claims released by the token's scopes, as JSON or, for a client
 * registered with `userinfo_signed_response_alg`, as a JWT the tenant signs (`application/jwt`).
 */
export function userinfoRoutes(deps: OidcRouteDeps): Route[] {
  const handle: RouteHandler = (request) =>
    oauthEndpoint(async () => {
      const tenant = await tenantContext(deps.tenants, request);
      const bodyToken = request.method === 'POST' ? ((request.body as Record<string, string> | undefined)?.['access_token'] ?? undefined) : undefined;
      const claims = await authenticateAccessToken(deps, tenant, request, bodyToken);
      if (!claims.scope.split(' ').includes('openid')) {
        // RFC 9449 §7.1: a DPoP-bound token's challenge names the DPoP scheme.
        throw new OAuthError('insufficient_scope', 'the access token lacks the openid scope', {
          status: 403,
          headers: { 'WWW-Authenticate': `${claims.cnf ? 'DPoP' : 'Bearer'} error="insufficient_scope", scope="openid"` },
        });
      }
      const authTime = claims['auth_time'];
      const decision = await deps.access.continueAccess({
        kind: 'userinfo',
        tenant: tenant.tenant.id,
        subject: { user: claims.sub },
        audience: claims.client_id,
        ...(typeof authTime === 'number' ? { grantedAt: authTime } : {}),
        grantId: claims.gid,
        context: accessContext(request, claims.cnf?.jkt),
      });
      const user = decision.outcome === 'allow' ? decision.user : undefined;
      if (!user) {
        // RFC 6750 §3.1: the token no longer stands for an access the user has.
        const scheme = claims.cnf ? 'DPoP' : 'Bearer';
        throw new OAuthError('invalid_token', 'the access of this token was revoked (the user or tenant is disabled or gone)', {
          status: 401,
          headers: { 'WWW-Authenticate': `${scheme} error="invalid_token"` },
        });
      }
      const nonce: Record<string, string> = claims.cnf ? { 'DPoP-Nonce': await deps.oidc.nonces.current(tenant.tenant.id) } : {};
      const released = userClaims(user, claims.scope);
      const client = await deps.oidc.clients.find(tenant.tenant.id, claims.client_id);
      if (client?.userinfo_signed_response_alg) {
        const jwt = await deps.oidc.tokens.signUserInfo(tenant.tenant.id, tenant.issuer, tenant.settings, client.client_id, released);
        return { statusCode: 200, headers: { 'Content-Type': 'application/jwt', 'Cache-Control': 'no-store', Pragma: 'no-cache', ...nonce }, body: jwt };
      }
      return oauthJson(200, released, nonce);
    });
  return [
    { method: 'GET', path: '/t/:tenant/oidc/userinfo', handle, cors: clientCors(deps.oidc) },
    { method: 'POST', path: '/t/:tenant/oidc/userinfo', handle, cors: clientCors(deps.oidc) },
  ];
}
