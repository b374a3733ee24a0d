import { formatUserCode } from '../../../core/oidc/device-codes.ts';
import { invalidScope, unauthorizedClient } from '../../../core/oidc/errors.ts';
import type { Route } from '../../router.ts';
import { authenticateRequestClient, formOf, oauthEndpoint, oauthJson, tenantContext, oauthMalformedBody } from './common.ts';
import type { OidcRouteDeps } from './deps.ts';

/** Device authorization endpoint (RFC 8628 §3.1-3.2); the user approves on the portal's device page. */
export function deviceRoutes(deps: OidcRouteDeps): Route[] {
  const { oidc } = deps;
  return [
    {
      method: 'POST',
      path: '/t/:tenant/oidc/device_authorization',
      malformedBody: oauthMalformedBody,
      handle: (request) =>
        oauthEndpoint(async () => {
          const tenant = await tenantContext(deps.tenants, request);
          const form = formOf(request);
          const { client } = await authenticateRequestClient(oidc, request, tenant, form);
          if (!client.grant_types.includes('urn:ietf:params:oauth:grant-type:device_code')) throw unauthorizedClient('this client may not use the device flow');
          const requested = (form['scope'] ?? client.scope).split(' ').filter(Boolean);
          const allowed = client.scope.split(' ');
          const unknown = requested.filter((s) => !allowed.includes(s));
          if (unknown.length) throw invalidScope(`scope not allowed: ${unknown.join(' ')}`);
          const { deviceCode, userCode, intervalSeconds } = await oidc.devices.start(
            tenant.tenant.id,
            client.client_id,
            [...new Set(requested)].join(' '),
            tenant.settings.deviceCodeSeconds,
            tenant.settings.deviceCodeIntervalSeconds,
          );
          const verificationUri = `${tenant.issuer}/portal/device`;
          return oauthJson(200, {
            device_code: deviceCode,
            user_code: formatUserCode(userCode),
            verification_uri: verificationUri,
            verification_uri_complete: `${verificationUri}?user_code=${formatUserCode(userCode)}`,
            expires_in: tenant.settings.deviceCodeSeconds,
            interval: intervalSeconds,
          });
        }),
    },
  ];
}
