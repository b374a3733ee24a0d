import { redirectUriAllowed } from '../../../core/oidc/client.ts';
import { OAuthError } from '../../../core/oidc/errors.ts';
import { verifyRequestObject } from '../../../core/oidc/request-objects.ts';
import type { Route } from '../../router.ts';
import { validate } from './authorize.ts';
import { authenticateRequestClient, endpointUrl, formOf, oauthEndpoint, oauthJson, tenantContext, oauthMalformedBody } from './common.ts';
import type { OidcRouteDeps } from './deps.ts';

/** Client authentication travels in these; they are not authorization request parameters. */
const CLIENT_AUTH_PARAMETERS = new Set(['client_secret', 'client_assertion', 'client_assertion_type']);

/**
 * Pushed authorization requests (RFC 9126) at `{issuer}/oidc/par`: the client authenticates as at the
 * token endpoint and posts the authorization request (its parameters, or a signed request object as
 * `request`); the request is validated as the authorization endpoint would (errors come back here as JSON)
 * and parked under a single-use `request_uri` for 60 s (a DPoP proof binds the code to its key), which the client then sends the browser to the
 * authorization endpoint with.
 */
export function parRoutes(deps: OidcRouteDeps): Route[] {
  const { oidc } = deps;
  return [
    {
      method: 'POST',
      path: '/t/:tenant/oidc/par',
      malformedBody: oauthMalformedBody,
      handle: (request) =>
        oauthEndpoint(async () => {
          const tenant = await tenantContext(deps.tenants, request);
          const form = formOf(request);
          const { client } = await authenticateRequestClient(oidc, request, tenant, form);
          if (form['request_uri'] !== undefined) throw new OAuthError('invalid_request', 'request_uri cannot be pushed (RFC 9126 §2.1)');
          const params: Record<string, string> =
            form['request'] !== undefined
              ? await verifyRequestObject(form['request'], client, tenant.issuer, { keys: oidc.clientKeys, clock: oidc.clock })
              : Object.fromEntries(Object.entries(form).filter(([name]) => !CLIENT_AUTH_PARAMETERS.has(name)));
          params['client_id'] = client.client_id;
          // RFC 9449 §10.1: a DPoP proof at PAR binds the code to its key, as dpop_jkt would.
          const proof = await oidc.dpop.verify(request.headers['dpop'], {
            tenant: tenant.tenant.id,
            method: 'POST',
            url: endpointUrl(request),
            requireNonce: true,
          });
          if (proof) {
            if (params['dpop_jkt'] !== undefined && params['dpop_jkt'] !== proof.jkt)
              throw new OAuthError('invalid_request', 'dpop_jkt does not match the key of the DPoP proof');
            params['dpop_jkt'] = proof.jkt;
          }
          const redirectUri = params['redirect_uri'];
          if (!redirectUri || !redirectUriAllowed(client.redirect_uris, redirectUri))
            throw new OAuthError('invalid_request', 'redirect_uri is missing or not registered for this client');
          validate(params, client, redirectUri, params['response_mode'] === 'form_post' ? 'form_post' : 'query');
          const pushed = await oidc.pushedRequests.push(tenant.tenant.id, client.client_id, params);
          return oauthJson(201, { request_uri: pushed.requestUri, expires_in: pushed.expiresIn });
        }),
    },
  ];
}
