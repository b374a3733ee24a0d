import type { OidcClient } from '../../../core/oidc/client.ts';
import { OAuthError } from '../../../core/oidc/errors.ts';
import { PAR_URN_PREFIX } from '../../../core/oidc/pushed-requests.ts';
import { verifyRequestObject } from '../../../core/oidc/request-objects.ts';
import type { TenantContext } from './common.ts';
import type { OidcRouteDeps } from './deps.ts';

export type Parameters = Record<string, string | undefined>;

/**
 * The parameters of an authorization request, wherever the client put them: a pushed request
 * (`request_uri` from our PAR endpoint, RFC 9126: redeemed once), a signed request object by value
 * (`request`, RFC 9101), or the query/form itself. With either of the first two, only those parameters
 * count (RFC 9101 §5, RFC 9126 §4), under the outer `client_id`. A `request_uri` that is not one of our
 * PAR URNs is refused: request objects by reference are not fetched. A client registered with
 * `require_pushed_authorization_requests` must come through PAR.
 */
export async function authorizationParameters(deps: OidcRouteDeps, tenant: TenantContext, client: OidcClient, outer: Parameters): Promise<Parameters> {
  const requestUri = outer['request_uri'];
  const requestObject = outer['request'];
  if (requestUri !== undefined && requestObject !== undefined) throw new OAuthError('invalid_request', 'request and request_uri cannot both be used');
  if (requestUri !== undefined) {
    if (!requestUri.startsWith(PAR_URN_PREFIX))
      throw new OAuthError('request_uri_not_supported', 'request_uri must come from this server’s pushed authorization request endpoint');
    const pushed = await deps.oidc.pushedRequests.redeem(tenant.tenant.id, client.client_id, requestUri);
    if (!pushed) throw new OAuthError('invalid_request_uri', 'the request_uri is unknown, expired, already used, or another client’s');
    return pushed;
  }
  if (client.require_pushed_authorization_requests) throw new OAuthError('invalid_request', 'this client must push its authorization requests (PAR, RFC 9126)');
  if (requestObject !== undefined) return verifyRequestObject(requestObject, client, tenant.issuer, { keys: deps.oidc.clientKeys, clock: deps.oidc.clock });
  return outer;
}
