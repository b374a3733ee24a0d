import { errorDescription, OAuthError } from '../../../core/oidc/errors.ts';
import type { AccessTokenClaims } from '../../../core/oidc/tokens.ts';
import type { ApiRequest } from '../../types.ts';
import { endpointUrl, type TenantContext } from './common.ts';
import type { OidcRouteDeps } from './deps.ts';

/** RFC 6750 §3 / RFC 9449 §7.1 challenge for a resource request that failed. */
function challenge(scheme: 'Bearer' | 'DPoP', error: string, description: string, extra: Record<string, string> = {}): OAuthError {
  const algs = scheme === 'DPoP' ? ', algs="ES256 RS256 PS256 EdDSA"' : '';
  return new OAuthError(error, description, {
    status: error === 'insufficient_scope' ? 403 : error === 'invalid_request' ? 400 : 401,
    headers: { 'WWW-Authenticate': `${scheme} error="${error}", error_description="${errorDescription(description)}"${algs}`, ...extra },
  });
}

/**
 * Authenticates an access token at one of our resources (userinfo): signature, expiry, grant not
 * revoked, token not revoked, and for DPoP-bound tokens a proof with the bound key and `ath`.
 */
export async function authenticateAccessToken(deps: OidcRouteDeps, tenant: TenantContext, request: ApiRequest, bodyToken?: string): Promise<AccessTokenClaims> {
  const { oidc } = deps;
  const header = request.headers['authorization'];
  const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]+=*)$/i.exec(header?.trim() ?? '');
  if (header && !match) throw challenge('Bearer', 'invalid_request', 'malformed Authorization header');
  if (match && bodyToken) throw challenge('Bearer', 'invalid_request', 'the access token was sent in more than one way');
  const scheme = match ? (match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer') : 'Bearer';
  const token = match?.[2] ?? bodyToken;
  if (!token) throw new OAuthError('invalid_token', 'an access token is required', { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } });

  let claims: AccessTokenClaims;
  try {
    claims = await oidc.tokens.verifyAccessToken(tenant.tenant.id, tenant.issuer, tenant.settings, token);
  } catch {
    throw challenge(scheme, 'invalid_token', 'the access token is invalid, expired, or from another issuer');
  }
  if (!(await oidc.grants.active(claims.gid)) || (await oidc.revokedAccessTokens.isRevoked(claims.jti))) {
    throw challenge(scheme, 'invalid_token', 'the access token was revoked');
  }
  const jkt = claims.cnf?.jkt;
  if (jkt) {
    if (scheme !== 'DPoP') throw challenge('DPoP', 'invalid_token', 'this access token is DPoP-bound; use the DPoP scheme with a proof');
    let proof;
    try {
      proof = await oidc.dpop.verify(request.headers['dpop'], {
        tenant: tenant.tenant.id,
        method: request.method,
        url: endpointUrl(request),
        accessToken: token,
        requireNonce: true,
      });
    } catch (error) {
      if (error instanceof OAuthError && error.error === 'use_dpop_nonce') throw challenge('DPoP', 'use_dpop_nonce', error.message, { ...error.headers });
      if (error instanceof OAuthError) throw challenge('DPoP', 'invalid_dpop_proof', error.message);
      throw error;
    }
    if (!proof) throw challenge('DPoP', 'invalid_dpop_proof', 'a DPoP proof is required');
    if (proof.jkt !== jkt) throw challenge('DPoP', 'invalid_dpop_proof', 'the DPoP proof was made with another key than the token is bound to');
  } else if (scheme === 'DPoP') {
    throw challenge('Bearer', 'invalid_token', 'this access token is not DPoP-bound; use the Bearer scheme');
  }
  return claims;
}
