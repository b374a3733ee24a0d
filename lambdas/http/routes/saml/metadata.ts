import { idpMetadata } from '../../../core/saml/metadata.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { tenantContext } from '../oidc/common.ts';
import type { SamlRouteDeps } from './deps.ts';

/** `GET /t/{tenant}/saml/metadata`: the tenant's signed IdP metadata; its URL is the entityID. */
export function metadataRoutes(deps: SamlRouteDeps): Route[] {
  const { saml } = deps;
  async function metadata(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const key = await saml.certificates.signingKey(tenant.tenant.id, tenant.settings);
    const nextCertificatePem = await saml.certificates.nextCertificate(tenant.tenant.id, tenant.settings);
    const body = idpMetadata(tenant.issuer, key, saml.oidc.clock.now(), saml.oidc.random.bytes(20), nextCertificatePem ? { nextCertificatePem } : {});
    return { statusCode: 200, headers: { 'Content-Type': 'application/samlmetadata+xml; charset=utf-8', 'Cache-Control': 'public, max-age=3600' }, body };
  }
  return [{ method: 'GET', path: '/t/:tenant/saml/metadata', handle: metadata }];
}
