import type { Continuation } from '../../../core/access/access-check.ts';
import { invalidRequest, OAuthError } from '../../../core/oidc/errors.ts';
import { revocationOutcome } from '../../../core/oidc/revocation-rule.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest } from '../../types.ts';
import { authenticateRequestClient, formOf, oauthEndpoint, oauthJson, tenantContext, type TenantContext, oauthMalformedBody } from './common.ts';
import { clientCors } from './cors.ts';
import type { OidcRouteDeps } from './deps.ts';

/**
 * Token introspection (RFC 7662) and revocation (RFC 7009). Both authenticate the client; introspection
 * answers `active: false` for anything unknown, expired, revoked or from another tenant, or whose user or
 * tenant the access check no longer allows; revocation answers 200 for a token it does not know, and
 * refuses a token issued to another client (RFC 7009 §2.1), so neither reveals which tokens exist to
 * anyone but their holder.
 */
export function introspectionRoutes(deps: OidcRouteDeps): Route[] {
  const { oidc } = deps;

  const authenticate = (request: ApiRequest, tenant: TenantContext, form: Record<string, string>) => authenticateRequestClient(oidc, request, tenant, form);

  /** The one access check: a token whose user or tenant was disabled (or revoked since) is inactive. */
  const stillAllowed = async (continuation: Omit<Continuation, 'kind'>): Promise<boolean> =>
    (await deps.access.continueAccess({ kind: 'introspection', ...continuation })).outcome === 'allow';

  async function introspect(tenant: TenantContext, token: string, hint: string | undefined): Promise<Record<string, unknown>> {
    const tryRefresh = async () => {
      const rt = await oidc.refreshTokens.find(token);
      if (!rt || rt.status !== 'active' || rt.tenant !== tenant.tenant.id || !(await oidc.grants.active(rt.gid))) return undefined;
      if (
        !(await stillAllowed({
          tenant: rt.tenant,
          subject: { user: rt.sub },
          audience: rt.clientId,
          grantedAt: rt.authTime,
          grantId: rt.gid,
          sessionId: rt.sid,
        }))
      )
        return undefined;
      return {
        active: true,
        token_type: 'refresh_token',
        client_id: rt.clientId,
        sub: rt.sub,
        scope: rt.scope,
        exp: rt.familyExpiresAt,
        iss: tenant.issuer,
        ...(rt.jkt ? { cnf: { jkt: rt.jkt } } : {}),
      };
    };
    const tryAccess = async () => {
      try {
        const claims = await oidc.tokens.verifyAccessToken(tenant.tenant.id, tenant.issuer, tenant.settings, token);
        if (!(await oidc.grants.active(claims.gid)) || (await oidc.revokedAccessTokens.isRevoked(claims.jti))) return undefined;
        // A user signed in for tokens with auth_time; client_credentials tokens stand for the client itself.
        const authTime = typeof claims['auth_time'] === 'number' ? claims['auth_time'] : undefined;
        const subject = authTime === undefined ? { client: claims.client_id } : { user: claims.sub };
        // Granted at the sign-in, or for a client's own token when it was issued.
        const grantedAt = authTime ?? claims.iat;
        if (
          !(await stillAllowed({
            tenant: tenant.tenant.id,
            subject,
            audience: claims.client_id,
            ...(grantedAt !== undefined ? { grantedAt } : {}),
            grantId: claims.gid,
          }))
        )
          return undefined;
        return {
          active: true,
          token_type: claims.cnf ? 'DPoP' : 'Bearer',
          client_id: claims.client_id,
          sub: claims.sub,
          scope: claims.scope,
          exp: claims.exp,
          iat: claims.iat,
          iss: claims.iss,
          aud: claims.aud,
          jti: claims.jti,
          ...(claims['acr'] ? { acr: claims['acr'] } : {}),
          ...(claims.cnf ? { cnf: claims.cnf } : {}),
        };
      } catch {
        return undefined;
      }
    };
    const order = hint === 'refresh_token' ? [tryRefresh, tryAccess] : [tryAccess, tryRefresh];
    for (const attempt of order) {
      const result = await attempt();
      if (result) return result;
    }
    return { active: false };
  }

  return [
    {
      method: 'POST',
      path: '/t/:tenant/oidc/introspect',
      malformedBody: oauthMalformedBody,
      cors: clientCors(oidc),
      handle: (request) =>
        oauthEndpoint(async () => {
          const tenant = await tenantContext(deps.tenants, request);
          const form = formOf(request);
          const { method } = await authenticate(request, tenant, form);
          if (method === 'none') throw new OAuthError('invalid_client', 'introspection requires an authenticated client', { status: 401 });
          const token = form['token'];
          if (!token) throw invalidRequest('token is required');
          return oauthJson(200, await introspect(tenant, token, form['token_type_hint']));
        }),
    },
    {
      method: 'POST',
      path: '/t/:tenant/oidc/revoke',
      malformedBody: oauthMalformedBody,
      cors: clientCors(oidc),
      handle: (request) =>
        oauthEndpoint(async () => {
          const tenant = await tenantContext(deps.tenants, request);
          const form = formOf(request);
          const { client, method } = await authenticate(request, tenant, form);
          const token = form['token'];
          if (!token) throw invalidRequest('token is required');
          const hint = form['token_type_hint'];
          if (hint !== undefined && !['access_token', 'refresh_token'].includes(hint)) {
            throw new OAuthError('unsupported_token_type', `token_type_hint ${hint} is not supported`);
          }
          const caller = { clientId: client.client_id, method };
          const rt = await oidc.refreshTokens.find(token);
          const claims = rt ? undefined : await oidc.tokens.verifyAccessToken(tenant.tenant.id, tenant.issuer, tenant.settings, token).catch(() => undefined);
          const holder = rt?.tenant === tenant.tenant.id ? rt.clientId : claims?.client_id;
          const outcome = holder === undefined ? 'ignore' : revocationOutcome(holder, caller);
          if (outcome === 'refuse') throw invalidRequest('the token was not issued to this client');
          if (outcome === 'revoke' && rt) {
            // Revoking a refresh token ends its family and the access tokens issued with it (RFC 7009 §2.1).
            await oidc.refreshTokens.revoke(token);
            await oidc.grants.revoke(rt.gid);
            deps.events?.emit({
              kind: 'token-revoked',
              tenant: tenant.tenant.id,
              client: client.client_id,
              username: rt.sub,
              reason: 'revocation-endpoint:refresh_token',
            });
          } else if (outcome === 'revoke' && claims) {
            await oidc.revokedAccessTokens.revoke(claims.jti, claims.exp);
            deps.events?.emit({
              kind: 'token-revoked',
              tenant: tenant.tenant.id,
              client: client.client_id,
              ...(claims.sub && claims.sub !== client.client_id ? { username: claims.sub } : {}),
              reason: 'revocation-endpoint:access_token',
            });
          }
          return oauthJson(200, {});
        }),
    },
  ];
}
