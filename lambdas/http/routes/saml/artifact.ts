import { answerArtifactResolve } from '../../../core/saml/artifact-resolution.ts';
import { samlEndpoints } from '../../../core/saml/metadata.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { tenantContext } from '../oidc/common.ts';
import { artifactsOf } from './artifact-binding.ts';
import type { SamlRouteDeps } from './deps.ts';
import { soapEndpoint, soapMalformedBody } from './soap-endpoint.ts';

/** `POST /t/{tenant}/saml/artifact`: the IdP's ArtifactResolutionService (SOAP), index 0 in the metadata. */
export function artifactRoutes(deps: SamlRouteDeps): Route[] {
  const { saml } = deps;
  async function resolve(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const endpoints = samlEndpoints(tenant.issuer);
    return soapEndpoint(request, async (message) =>
      answerArtifactResolve(message, {
        tenant: tenant.tenant.id,
        destination: endpoints.artifact,
        now: saml.oidc.clock.now(),
        findSp: (entityId) => saml.serviceProviders.find(tenant.tenant.id, entityId),
        replay: saml.oidc.replay,
        idpEntityId: endpoints.entityId,
        key: await saml.certificates.signingKey(tenant.tenant.id, tenant.settings),
        random: saml.oidc.random,
        artifacts: artifactsOf(saml),
        access: deps.access,
        delivered: async (spEntityId, username) => {
          const federation = await saml.federations.find(tenant.tenant.id, spEntityId, username);
          if (federation && !federation.linked) await saml.federations.link(tenant.tenant.id, federation, saml.oidc.clock.now());
        },
      }),
    );
  }
  return [{ method: 'POST', path: '/t/:tenant/saml/artifact', malformedBody: soapMalformedBody, handle: resolve }];
}
