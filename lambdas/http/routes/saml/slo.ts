import { verifyInbound, type InboundContext, type InboundMessage } from '../../../core/saml/inbound.ts';
import { STATUS_SUCCESS, statusCodeOf } from '../../../core/saml/logout.ts';
import { samlEndpoints } from '../../../core/saml/metadata.ts';
import { signMessage, type SamlStatus } from '../../../core/saml/outbound.ts';
import { SamlError } from '../../../core/saml/xml.ts';
import { clearSsoSessionCookies, ssoSecretOf } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { errorPage } from '../../views/pages.ts';
import { requestView } from '../../views/view.ts';
import { tenantContext, type TenantContext } from '../oidc/common.ts';
import type { SamlRouteDeps } from './deps.ts';
import { frontChannelEndpoint, frontChannelMessage, sendThroughBrowser } from './front-channel.ts';
import { logoutFlow } from './logout-flow.ts';
import { isSoapPost, soapEndpoint, soapMalformedBody } from './soap-endpoint.ts';

const REQUESTER = 'urn:oasis:names:tc:SAML:2.0:status:Requester';
const UNKNOWN_PRINCIPAL = 'urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal';

/**
 * `/t/{tenant}/saml/slo`: the SingleLogoutService (SAML Profiles §4.4). A signed LogoutRequest from a
 * session participant (Redirect, POST, Artifact or SOAP) ends the SSO session, then every other
 * participant is told: over SOAP where its metadata has a SOAP SingleLogoutService, otherwise through the
 * browser one after another (Redirect, else POST), each answer coming back here as a LogoutResponse. The
 * initiator gets the final LogoutResponse, PartialLogout when someone could not be told.
 */
export function sloRoutes(deps: SamlRouteDeps): Route[] {
  const { saml } = deps;
  const { oidc } = saml;
  const flow = logoutFlow(saml);

  const inboundContext = (tenant: TenantContext, expected: string[]): InboundContext => ({
    tenant: tenant.tenant.id,
    destination: samlEndpoints(tenant.issuer).slo,
    now: oidc.clock.now(),
    findSp: (entityId) => saml.serviceProviders.find(tenant.tenant.id, entityId),
    replay: oidc.replay,
    expected,
  });

  async function soap(request: ApiRequest, tenant: TenantContext): Promise<ApiResponse> {
    const key = await saml.certificates.signingKey(tenant.tenant.id, tenant.settings);
    const answer = (inResponseTo: string | undefined, status: SamlStatus) =>
      signMessage(flow.logoutResponse(tenant, inResponseTo, status), 'LogoutResponse', key);
    return soapEndpoint(request, async (xml) => {
      let message;
      try {
        message = await verifyInbound({ kind: 'soap', xml }, inboundContext(tenant, ['LogoutRequest']));
      } catch (error) {
        if (!(error instanceof SamlError)) throw error;
        return answer(undefined, { code: error.status, subCode: 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied', message: error.message });
      }
      try {
        // No browser on this channel: participants reachable only through one cannot be told.
        const ended = await flow.endNamedSession(tenant, message, undefined);
        if (!ended)
          return answer(message.id, { code: REQUESTER, subCode: UNKNOWN_PRINCIPAL, message: 'no session of this principal at this service provider' });
        return answer(message.id, flow.finalStatus(ended.partial || ended.frontChannel.length > 0));
      } catch (error) {
        if (error instanceof SamlError) return answer(message.id, { code: REQUESTER, message: error.message });
        throw error;
      }
    });
  }

  async function slo(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    if (isSoapPost(request)) return soap(request, tenant);
    const view = requestView(request, tenant.tenant);
    let message: InboundMessage;
    try {
      message = await verifyInbound(await frontChannelMessage(saml, tenant, request), inboundContext(tenant, ['LogoutRequest', 'LogoutResponse']));
    } catch (error) {
      // An untrusted message gets an error page: nothing is sent to an address it names.
      if (error instanceof SamlError) return errorPage(view, 400, 'logout.invalid.title', 'logout.invalid.saml', { reason: error.message });
      throw error;
    }
    const cookies = clearSsoSessionCookies(tenant.tenant.id);
    if (message.name === 'LogoutResponse') {
      // A participant answering our LogoutRequest in a front-channel chain.
      const progress = await flow.takeStep(tenant, message.element.getAttribute('InResponseTo') ?? '', message.sp.entityId);
      if (!progress) return errorPage(view, 400, 'logout.invalid.title', 'logout.invalid.answer');
      return flow.next(tenant, { ...progress, partial: progress.partial || statusCodeOf(message) !== STATUS_SUCCESS }, cookies, view);
    }
    const initiator = {
      spEntityId: message.sp.entityId,
      requestId: message.id,
      ...(message.relayState !== undefined ? { relayState: message.relayState } : {}),
    };
    let ended;
    try {
      ended = await flow.endNamedSession(tenant, message, ssoSecretOf(request.headers));
    } catch (error) {
      if (!(error instanceof SamlError)) throw error;
      const endpoint = frontChannelEndpoint(message.sp.singleLogout);
      if (!endpoint) return errorPage(view, 400, 'logout.invalid.title', 'logout.invalid.saml', { reason: error.message });
      const key = await saml.certificates.signingKey(tenant.tenant.id, tenant.settings);
      const xml = flow.logoutResponse(tenant, message.id, { code: REQUESTER, message: error.message }, endpoint.responseLocation ?? endpoint.location);
      return sendThroughBrowser(view, endpoint, 'SAMLResponse', xml, 'LogoutResponse', message.relayState, key, signMessage, oidc.random.id(), cookies);
    }
    // A session already gone (or never here) is signed out all the same: the answer is Success.
    return flow.next(tenant, { tenant: tenant.tenant.id, initiator, remaining: ended?.frontChannel ?? [], partial: ended?.partial ?? false }, cookies, view);
  }

  return [
    { method: 'GET', path: '/t/:tenant/saml/slo', handle: slo },
    { method: 'POST', path: '/t/:tenant/saml/slo', malformedBody: soapMalformedBody, handle: slo },
  ];
}
