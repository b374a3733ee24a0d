import { invalidDpopProof, invalidGrant, invalidRequest, stepUpRequired } from '../../../core/oidc/errors.ts';
import type { Route } from '../../router.ts';
import {
  accessContext,
  authenticateRequestClient,
  endpointUrl,
  formOf,
  oauthEndpoint,
  oauthJson,
  tenantContext,
  type TenantContext,
  oauthMalformedBody,
} from './common.ts';
import type { OidcRouteDeps } from './deps.ts';

/**
 * A URL the browser may be sent to after browser SSO: on this tenant's own origin and path (the portal's
 * and the OpenID Provider's URLs), never elsewhere, so the transfer is no open redirect.
 */
export function tenantTarget(tenant: Pick<TenantContext, 'issuer'>, target: string | undefined): string | undefined {
  if (!target || target.length > 2000) return undefined;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  const own = new URL(tenant.issuer);
  if (url.origin !== own.origin || url.username || url.password || !url.pathname.startsWith(`${own.pathname}/`)) return undefined;
  return url.toString();
}

/**
 * `POST /t/{tenant}/oidc/sso-transfer`: the agent turns its PRT into a one-time browser sign-in. It sends
 * the refresh token (not rotated: it stays the device's) with a DPoP proof by the key the family is bound
 * to, and `target`; the access check runs on the family as for a refresh. The answer is a URL the browser
 * opens within 60 s, once, from the same source address (`{issuer}/portal/sso?transfer=…`).
 */
export function ssoTransferRoutes(deps: OidcRouteDeps): Route[] {
  const { oidc } = deps;
  return [
    {
      method: 'POST',
      path: '/t/:tenant/oidc/sso-transfer',
      malformedBody: oauthMalformedBody,
      handle: (request) =>
        oauthEndpoint(async () => {
          const tenant = await tenantContext(deps.tenants, request);
          const form = formOf(request);
          const { client } = await authenticateRequestClient(oidc, request, tenant, form);
          const proof = await oidc.dpop.verify(request.headers['dpop'], {
            tenant: tenant.tenant.id,
            method: 'POST',
            url: endpointUrl(request),
            requireNonce: true,
          });
          if (!proof) throw invalidDpopProof('a DPoP proof by the device key is required');
          const token = form['refresh_token'];
          if (!token) throw invalidRequest('refresh_token is required');
          const target = tenantTarget(tenant, form['target']);
          if (!target) throw invalidRequest(`target must be a URL under ${tenant.issuer}/`);
          const family = await oidc.refreshTokens.find(token);
          if (!family || family.status !== 'active' || family.tenant !== tenant.tenant.id || family.clientId !== client.client_id) {
            throw invalidGrant('the refresh token is invalid, expired, rotated or revoked');
          }
          // Only a device's PRT (a DPoP-bound family) may open a browser session, and only with its key.
          if (!family.jkt) throw invalidGrant('only a DPoP-bound refresh token (a device PRT) can start browser SSO');
          if (family.jkt !== proof.jkt) throw invalidGrant('this refresh token is bound to another DPoP key');
          const decision = await deps.access.continueAccess({
            kind: 'sso-transfer',
            tenant: family.tenant,
            subject: { user: family.sub },
            audience: client.client_id,
            grantedAt: family.authTime,
            grantId: family.gid,
            sessionId: family.sid,
            record: { kind: 'grant', gid: family.gid },
            boundKey: family.jkt,
            context: accessContext(request, proof.jkt, { clientId: client.client_id, resource: target }),
          });
          if (decision.outcome === 'step-up') throw stepUpRequired(decision.message);
          if (decision.outcome !== 'allow') throw invalidGrant(`access can no longer be granted: ${decision.message}`);
          const issued = await oidc.ssoTransfers.issue({
            tenant: tenant.tenant.id,
            authentication: { sub: family.sub, authTime: family.authTime, acr: family.acr, amr: family.amr },
            gid: family.gid,
            jkt: family.jkt,
            ip: request.sourceIp ?? '',
            target,
          });
          const url = `${tenant.issuer}/portal/sso?transfer=${encodeURIComponent(issued.secret)}`;
          return oauthJson(200, { url, expires_in: issued.expiresIn }, { 'DPoP-Nonce': await oidc.nonces.current(tenant.tenant.id) });
        }),
    },
  ];
}
