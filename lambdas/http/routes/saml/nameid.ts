import { verifyInbound, type InboundContext, type InboundMessage } from '../../../core/saml/inbound.ts';
import { samlEndpoints } from '../../../core/saml/metadata.ts';
import { decryptIdentifiers } from '../../../core/saml/encrypted-id.ts';
import { manageNameId } from '../../../core/saml/name-id-management.ts';
import { signMessage, statusResponseXml, type SamlStatus } from '../../../core/saml/outbound.ts';
import { samlId, SamlError } from '../../../core/saml/xml.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { errorPage } from '../../views/pages.ts';
import { requestView } from '../../views/view.ts';
import { tenantContext, type TenantContext } from '../oidc/common.ts';
import type { SamlRouteDeps } from './deps.ts';
import { frontChannelEndpoint, frontChannelMessage, sendThroughBrowser } from './front-channel.ts';
import { isSoapPost, soapEndpoint, soapMalformedBody } from './soap-endpoint.ts';

/**
 * `/t/{tenant}/saml/nameid`: the ManageNameIDService. Requests (signed by the SP) arrive over
 * HTTP-Redirect, HTTP-POST, HTTP-Artifact or SOAP; the ManageNameIDResponse goes back over SOAP, or
 * through the browser to the SP's own ManageNameIDService (Redirect, else POST) from its metadata.
 */
export function nameIdRoutes(deps: SamlRouteDeps): Route[] {
  const { saml } = deps;
  const { oidc } = saml;

  const inboundContext = (tenant: TenantContext): InboundContext => ({
    tenant: tenant.tenant.id,
    destination: samlEndpoints(tenant.issuer).nameId,
    now: oidc.clock.now(),
    findSp: (entityId) => saml.serviceProviders.find(tenant.tenant.id, entityId),
    replay: oidc.replay,
    expected: ['ManageNameIDRequest'],
  });

  const apply = async (tenant: TenantContext, message: InboundMessage): Promise<SamlStatus> => {
    try {
      await decryptIdentifiers(message.element, () => saml.certificates.decryptionKeys(tenant.tenant.id, tenant.settings));
    } catch (error) {
      if (error instanceof SamlError) return { code: error.status, message: error.message };
      throw error;
    }
    return manageNameId(message, {
      tenant: tenant.tenant.id,
      idpEntityId: samlEndpoints(tenant.issuer).entityId,
      now: oidc.clock.now(),
      federations: saml.federations,
    });
  };

  const responseXml = (tenant: TenantContext, inResponseTo: string | undefined, status: SamlStatus, destination?: string) =>
    statusResponseXml(
      'ManageNameIDResponse',
      { id: samlId(oidc.random.bytes(20)), issuer: samlEndpoints(tenant.issuer).entityId, now: oidc.clock.now(), ...(destination ? { destination } : {}) },
      inResponseTo,
      status,
    );

  async function soap(request: ApiRequest, tenant: TenantContext): Promise<ApiResponse> {
    const key = await saml.certificates.signingKey(tenant.tenant.id, tenant.settings);
    return soapEndpoint(request, async (xml) => {
      try {
        const message = await verifyInbound({ kind: 'soap', xml }, inboundContext(tenant));
        const status = await apply(tenant, message);
        return signMessage(responseXml(tenant, message.id, status), 'ManageNameIDResponse', key);
      } catch (error) {
        if (!(error instanceof SamlError)) throw error;
        // Nothing of an unverified request is trusted, not even its ID.
        return signMessage(
          responseXml(tenant, undefined, { code: error.status, subCode: 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied', message: error.message }),
          'ManageNameIDResponse',
          key,
        );
      }
    });
  }

  async function nameId(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    if (isSoapPost(request)) return soap(request, tenant);
    const view = requestView(request, tenant.tenant);
    let message: InboundMessage;
    try {
      message = await verifyInbound(await frontChannelMessage(saml, tenant, request), inboundContext(tenant));
    } catch (error) {
      // An untrusted request gets an error page: nothing is sent to an address it names.
      if (error instanceof SamlError) return errorPage(view, 400, 'error.request.title', 'error.request.samlRefused', { reason: error.message });
      throw error;
    }
    // Checked before anything changes: a request we could not answer must not take effect.
    const endpoint = frontChannelEndpoint(message.sp.manageNameId);
    if (!endpoint)
      return errorPage(
        view,
        400,
        'error.request.title',
        'error.advice.400',
        {},
        'The service provider has no ManageNameIDService to answer to in its metadata.',
      );
    const status = await apply(tenant, message);
    const key = await saml.certificates.signingKey(tenant.tenant.id, tenant.settings);
    const xml = responseXml(tenant, message.id, status, endpoint.responseLocation ?? endpoint.location);
    return sendThroughBrowser(view, endpoint, 'SAMLResponse', xml, 'ManageNameIDResponse', message.relayState, key, signMessage, oidc.random.id());
  }

  return [
    { method: 'GET', path: '/t/:tenant/saml/nameid', handle: nameId },
    { method: 'POST', path: '/t/:tenant/saml/nameid', malformedBody: soapMalformedBody, handle: nameId },
  ];
}
