import { ACR_VALUES } from '../../../core/oidc/claims.ts';
import { CLIENT_ASSERTION_ALGORITHMS } from '../../../core/oidc/client-auth.ts';
import { AGENT_CLIENT_ID, AUTH_METHODS, SUPPORTED_SCOPES, tenantGrantTypes } from '../../../core/oidc/client.ts';
import { DPOP_ALGORITHMS } from '../../../core/oidc/dpop.ts';
import { REQUEST_OBJECT_ALGORITHMS } from '../../../core/oidc/request-objects.ts';
import { PUBLIC_CORS } from '../../cors.ts';
import type { Route } from '../../router.ts';
import type { OidcRouteDeps } from './deps.ts';
import { oauthJson, tenantContext } from './common.ts';
import { LOCALES } from '../../../core/portal/i18n/locales.ts';

/** OIDC Discovery 1.0 / RFC 8414 metadata, and the JWKS (current, next and retired-but-valid keys). */
export function discoveryRoutes(deps: OidcRouteDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/t/:tenant/.well-known/openid-configuration',
      cors: PUBLIC_CORS,
      handle: async (request) => {
        const { issuer, settings, tenant } = await tenantContext(deps.tenants, request);
        const agent = await deps.oidc.clients.find(tenant.id, AGENT_CLIENT_ID);
        const oidc = `${issuer}/oidc`;
        return oauthJson(
          200,
          {
            issuer,
            authorization_endpoint: `${oidc}/authorize`,
            token_endpoint: `${oidc}/token`,
            userinfo_endpoint: `${oidc}/userinfo`,
            jwks_uri: `${oidc}/jwks`,
            ...(settings.registration !== 'closed' ? { registration_endpoint: `${oidc}/register` } : {}),
            revocation_endpoint: `${oidc}/revoke`,
            introspection_endpoint: `${oidc}/introspect`,
            end_session_endpoint: `${oidc}/logout`,
            // OIDC Back-Channel Logout 1.0: a session ended by a decision not the user's own (risk deny,
            // administrator, Shared Signals, device removal) sends logout tokens with `sid`.
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            device_authorization_endpoint: `${oidc}/device_authorization`,
            pushed_authorization_request_endpoint: `${oidc}/par`,
            scopes_supported: SUPPORTED_SCOPES,
            // Code flow only: implicit and hybrid put tokens in the front channel (RFC 9700 §2.1.2).
            response_types_supported: ['code'],
            response_modes_supported: ['query', 'form_post'],
            grant_types_supported: tenantGrantTypes(settings),
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: [settings.signingAlgorithm],
            token_endpoint_auth_methods_supported: AUTH_METHODS,
            // RFC 8414 §2: the client-assertion algs of each endpoint that lists private_key_jwt.
            token_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_ALGORITHMS,
            revocation_endpoint_auth_methods_supported: AUTH_METHODS,
            revocation_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_ALGORITHMS,
            introspection_endpoint_auth_methods_supported: AUTH_METHODS.filter((m) => m !== 'none'),
            introspection_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_ALGORITHMS,
            code_challenge_methods_supported: ['S256'],
            claims_supported: [
              'sub',
              'iss',
              'aud',
              'exp',
              'iat',
              'auth_time',
              'nonce',
              'acr',
              'amr',
              'sid',
              'azp',
              'at_hash',
              'name',
              'preferred_username',
              'updated_at',
              'email',
              'email_verified',
            ],
            acr_values_supported: ACR_VALUES,
            prompt_values_supported: ['none', 'login', 'consent'],
            claims_parameter_supported: false,
            userinfo_signing_alg_values_supported: [settings.signingAlgorithm],
            // JAR (RFC 9101) by value; by reference only as PAR's request_uri, which RFC 9126 advertises
            // apart: no request object is fetched from a client's URL.
            request_parameter_supported: true,
            request_object_signing_alg_values_supported: REQUEST_OBJECT_ALGORITHMS,
            request_uri_parameter_supported: false,
            // Per client (RFC 9126 §6): `require_pushed_authorization_requests` in its metadata.
            require_pushed_authorization_requests: false,
            authorization_response_iss_parameter_supported: true,
            dpop_signing_alg_values_supported: DPOP_ALGORITHMS,
            // Exactly the portal's message catalogues (core/portal/i18n/).
            ui_locales_supported: [...LOCALES],
            // Not a standard member: the client agent's operator-made client, when the tenant has one.
            ...(agent ? { cloudcard_agent_client_id: agent.client_id } : {}),
          },
          { 'Cache-Control': 'public, max-age=300' },
        );
      },
    },
    {
      method: 'GET',
      path: '/t/:tenant/oidc/jwks',
      cors: PUBLIC_CORS,
      handle: async (request) => {
        const { tenant, settings } = await tenantContext(deps.tenants, request);
        const keys = await deps.oidc.keys.jwks(tenant.id, settings);
        return {
          statusCode: 200,
          // Short cache: clients refetch soon after a rotation; the next key is published ahead anyway.
          headers: { 'Content-Type': 'application/jwk-set+json', 'Cache-Control': 'public, max-age=300' },
          body: JSON.stringify({ keys }),
        };
      },
    },
  ];
}
