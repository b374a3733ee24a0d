import { sessionHash } from '../../../core/oidc/sessions.ts';
import { verifyInbound, type InboundContext, type InboundMessage } from '../../../core/saml/inbound.ts';
import { logoutOverSoap, logoutRequestFor, namesParticipant, readLogoutRequest, STATUS_PARTIAL_LOGOUT, STATUS_SUCCESS, statusCodeOf, type OutboundLogoutContext } from '../../../core/saml/logout.ts';
import type { LogoutProgress } from '../../../core/saml/logout-progress.ts';
import { samlEndpoints } from '../../../core/saml/metadata.ts';
import { signMessage, statusResponseXml, type SamlStatus } from '../../../core/saml/outbound.ts';
import type { SamlParticipant } from '../../../core/saml/session-participants.ts';
import { spEndpoint } from '../../../core/saml/service-providers.ts';
import { soapBodyMessage, soapEnvelope } from '../../../core/saml/soap.ts';
import { BINDING, samlId, SamlError } from '../../../core/saml/xml.ts';
import { clearCookie, readCookie, setCookie } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { html, page, pageHeaders } from '../../views/html.ts';
import { errorPage } from '../../views/pages.ts';
import { SSO_COOKIE } from '../oidc/authorize.ts';
import { tenantContext, type TenantContext } from '../oidc/common.ts';
import type { SamlRouteDeps } from './deps.ts';
import { frontChannelEndpoint, frontChannelMessage, sendThroughBrowser } from './front-channel.ts';
import { isSoap, soapEndpoint } from './soap-endpoint.ts';

const REQUESTER = 'urn:oasis:names:tc:SAML:2.0:status:Requester';
const UNKNOWN_PRINCIPAL = 'urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal';

/**
 * `/t/{tenant}/saml/slo`: the SingleLogoutService (SAML Profiles §4.4). A signed LogoutRequest from a
 * session participant (Redirect, POST, or SOAP) ends the SSO session, then every other participant is
 * told: over SOAP where its metadata has a SOAP SingleLogoutService, otherwise through the browser one
 * after another (Redirect, else POST), each answer coming back here as a LogoutResponse. The initiator
 * gets the final LogoutResponse, PartialLogout when someone could not be told.
 */
export function sloRoutes(deps: SamlRouteDeps): Route[] {
  const { saml } = deps;
  const { oidc } = saml;
  const participants = () => {
    if (!saml.participants || !saml.logoutChain) throw new Error('SAML logout needs the state table');
    return { participants: saml.participants, chain: saml.logoutChain };
  };

  const inboundContext = (tenant: TenantContext, expected: string[]): InboundContext => ({
    tenant: tenant.tenant.id,
    destination: samlEndpoints(tenant.issuer).slo,
    now: oidc.clock.now(),
    findSp: (entityId) => saml.serviceProviders.find(tenant.tenant.id, entityId),
    replay: oidc.replay,
    expected,
  });

  async function outboundContext(tenant: TenantContext): Promise<OutboundLogoutContext> {
    const endpoints = samlEndpoints(tenant.issuer);
    return {
      tenant: tenant.tenant.id,
      idpEntityId: endpoints.entityId,
      sloUrl: endpoints.slo,
      now: oidc.clock.now(),
      random: oidc.random,
      key: await saml.certificates.signingKey(tenant.tenant.id, tenant.settings),
      http: saml.http,
      replay: oidc.replay,
    };
  }

  const logoutResponse = (tenant: TenantContext, inResponseTo: string | undefined, status: SamlStatus, destination?: string) =>
    statusResponseXml('LogoutResponse', { id: samlId(oidc.random.bytes(20)), issuer: samlEndpoints(tenant.issuer).entityId, now: oidc.clock.now(), ...(destination ? { destination } : {}) }, inResponseTo, status);

  const finalStatus = (partial: boolean): SamlStatus => (partial ? { code: STATUS_SUCCESS, subCode: STATUS_PARTIAL_LOGOUT, message: 'not every service provider could be signed out' } : { code: STATUS_SUCCESS });

  /**
   * Ends the session a verified LogoutRequest names and tells the others over SOAP. Returns the
   * participants only a browser can reach, and whether a back-channel logout failed; undefined when the
   * request names no participant of a live session (UnknownPrincipal).
   */
  async function endSession(tenant: TenantContext, message: InboundMessage, cookieSecret: string | undefined): Promise<{ frontChannel: SamlParticipant[]; partial: boolean } | undefined> {
    const { participants: store } = participants();
    const target = readLogoutRequest(message, samlEndpoints(tenant.issuer).entityId);
    let hash: string | undefined;
    for (const index of target.sessionIndexes) {
      const found = await store.bySessionIndex(tenant.tenant.id, message.sp.entityId, index);
      if (found && namesParticipant(target, found.participant)) hash = found.sessionHash;
    }
    if (!hash && cookieSecret) {
      const candidate = sessionHash(cookieSecret);
      const own = await store.ofSession(tenant.tenant.id, candidate);
      if (own.some((participant) => participant.spEntityId === message.sp.entityId && namesParticipant(target, participant))) hash = candidate;
    }
    if (!hash || !(await oidc.sessions.findByHash(tenant.tenant.id, hash))) return undefined;
    const others = (await store.ofSession(tenant.tenant.id, hash)).filter((participant) => participant.spEntityId !== message.sp.entityId);
    await oidc.sessions.endByHash(hash);
    return propagate(tenant, others);
  }

  /** SOAP where the participant's metadata allows it; the rest left for the browser (or failed). */
  async function propagate(tenant: TenantContext, others: readonly SamlParticipant[]): Promise<{ frontChannel: SamlParticipant[]; partial: boolean }> {
    const context = await outboundContext(tenant);
    const frontChannel: SamlParticipant[] = [];
    let partial = false;
    for (const participant of others) {
      const sp = await saml.serviceProviders.find(tenant.tenant.id, participant.spEntityId);
      if (!sp) continue;
      if (spEndpoint(sp.singleLogout, BINDING.soap)) {
        if (!(await logoutOverSoap(sp, participant, context))) partial = true;
      } else if (frontChannelEndpoint(sp.singleLogout)) frontChannel.push(participant);
      else partial = true;
    }
    return { frontChannel, partial };
  }

  // ------------------------------------------------------------------------------------------ SOAP

  async function soap(request: ApiRequest, tenant: TenantContext): Promise<ApiResponse> {
    const key = await saml.certificates.signingKey(tenant.tenant.id, tenant.settings);
    const answer = (inResponseTo: string | undefined, status: SamlStatus) => soapEnvelope(signMessage(logoutResponse(tenant, inResponseTo, status), 'LogoutResponse', key));
    return soapEndpoint(request, async (envelope) => {
      const xml = soapBodyMessage(envelope);
      let message;
      try {
        message = await verifyInbound({ kind: 'soap', xml }, inboundContext(tenant, ['LogoutRequest']));
      } catch (error) {
        if (!(error instanceof SamlError)) throw error;
        return answer(undefined, { code: error.status, subCode: 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied', message: error.message });
      }
      try {
        // No browser on this channel: participants reachable only through one cannot be told.
        const ended = await endSession(tenant, message, undefined);
        if (!ended) return answer(message.id, { code: REQUESTER, subCode: UNKNOWN_PRINCIPAL, message: 'no session of this principal at this service provider' });
        return answer(message.id, finalStatus(ended.partial || ended.frontChannel.length > 0));
      } catch (error) {
        if (error instanceof SamlError) return answer(message.id, { code: REQUESTER, message: error.message });
        throw error;
      }
    });
  }

  // --------------------------------------------------------------------------------- front channel

  /** Sends the browser to the next front-channel participant, or answers whoever started the logout. */
  async function next(tenant: TenantContext, progress: Omit<LogoutProgress, 'pendingSp' | 'pendingRequestId'>, cookies: string[]): Promise<ApiResponse> {
    const { chain } = participants();
    const context = await outboundContext(tenant);
    let partial = progress.partial;
    const remaining = [...progress.remaining];
    for (let participant = remaining.shift(); participant; participant = remaining.shift()) {
      const sp = await saml.serviceProviders.find(tenant.tenant.id, participant.spEntityId);
      const endpoint = sp && frontChannelEndpoint(sp.singleLogout);
      if (!endpoint) {
        partial = true;
        continue;
      }
      const request = logoutRequestFor(participant, endpoint.location, context);
      await chain.save({ ...progress, remaining, partial, pendingSp: participant.spEntityId, pendingRequestId: request.id });
      return sendThroughBrowser(endpoint, 'SAMLRequest', request.xml, 'LogoutRequest', undefined, context.key, signMessage, oidc.random.id(), cookies);
    }
    const initiator = progress.initiator;
    const initiatorSp = initiator && (await saml.serviceProviders.find(tenant.tenant.id, initiator.spEntityId));
    const endpoint = initiatorSp && frontChannelEndpoint(initiatorSp.singleLogout);
    if (!initiator || !endpoint) {
      return { statusCode: 200, headers: pageHeaders(), ...(cookies.length ? { multiValueHeaders: { 'Set-Cookie': cookies } } : {}), body: page('Signed out', html`<p>You are signed out${partial ? ', but some applications could not be told: close the browser to be sure' : ''}.</p>`) };
    }
    const xml = logoutResponse(tenant, initiator.requestId, finalStatus(partial), endpoint.responseLocation ?? endpoint.location);
    return sendThroughBrowser(endpoint, 'SAMLResponse', xml, 'LogoutResponse', initiator.relayState, context.key, signMessage, oidc.random.id(), cookies);
  }

  async function slo(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    if (request.method === 'POST' && isSoap(request)) return soap(request, tenant);
    let message: InboundMessage;
    try {
      message = await verifyInbound(await frontChannelMessage(saml, tenant, request), inboundContext(tenant, ['LogoutRequest', 'LogoutResponse']));
    } catch (error) {
      // An untrusted message gets an error page: nothing is sent to an address it names.
      if (error instanceof SamlError) return errorPage(400, 'Sign-out request not valid', `The service provider's message was refused: ${error.message}.`);
      throw error;
    }
    const cookies = [clearCookie(SSO_COOKIE, `/t/${tenant.tenant.id}/`)];
    if (message.name === 'LogoutResponse') {
      // A participant answering our LogoutRequest in a front-channel chain.
      const progress = await participants().chain.take(tenant.tenant.id, message.element.getAttribute('InResponseTo') ?? '', message.sp.entityId);
      if (!progress) return errorPage(400, 'Sign-out not valid', 'This sign-out answer does not belong to a sign-out in progress.');
      return next(tenant, { ...progress, partial: progress.partial || statusCodeOf(message) !== STATUS_SUCCESS }, cookies);
    }
    const initiator = { spEntityId: message.sp.entityId, requestId: message.id, ...(message.relayState !== undefined ? { relayState: message.relayState } : {}) };
    let ended;
    try {
      ended = await endSession(tenant, message, readCookie(request.headers['cookie'], SSO_COOKIE));
    } catch (error) {
      if (!(error instanceof SamlError)) throw error;
      const endpoint = frontChannelEndpoint(message.sp.singleLogout);
      if (!endpoint) return errorPage(400, 'Sign-out request not valid', error.message);
      const key = await saml.certificates.signingKey(tenant.tenant.id, tenant.settings);
      return sendThroughBrowser(endpoint, 'SAMLResponse', logoutResponse(tenant, message.id, { code: REQUESTER, message: error.message }, endpoint.responseLocation ?? endpoint.location), 'LogoutResponse', message.relayState, key, signMessage, oidc.random.id(), cookies);
    }
    // A session already gone (or never here) is signed out all the same: the answer is Success.
    return next(tenant, { tenant: tenant.tenant.id, initiator, remaining: ended?.frontChannel ?? [], partial: ended?.partial ?? false }, cookies);
  }

  // --------------------------------------------------------------------------------- IdP-initiated

  const LOGOUT_CSRF_COOKIE = 'cc_saml_logout';

  /** `GET /saml/logout`: a confirmation form (a cross-site link must not sign anyone out). */
  async function confirmLogout(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const csrf = oidc.random.id();
    const body = html`<p>Sign out of every application of ${tenant.tenant.displayName}?</p>
<form method="post" action="${samlEndpoints(tenant.issuer).logout}"><input type="hidden" name="csrf" value="${csrf}"><button type="submit">Sign out</button></form>`;
    return {
      statusCode: 200,
      headers: pageHeaders(),
      multiValueHeaders: { 'Set-Cookie': [setCookie(LOGOUT_CSRF_COOKIE, csrf, { path: `/t/${tenant.tenant.id}/saml/logout`, sameSite: 'Strict', maxAgeSeconds: 600 })] },
      body: page('Sign out', body),
    };
  }

  /**
   * `POST /saml/logout` (IdP-initiated, Profiles §4.4.3.1): ends the SSO session and tells every SAML
   * participant, over SOAP where it can, otherwise through the browser; then a signed-out page.
   */
  async function performLogout(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const form = (request.body as Record<string, string> | undefined) ?? {};
    const expected = readCookie(request.headers['cookie'], LOGOUT_CSRF_COOKIE);
    if (!expected || form['csrf'] !== expected) return errorPage(403, 'Sign-out not confirmed', 'This sign-out form has expired. Start again.');
    const cookies = [clearCookie(SSO_COOKIE, `/t/${tenant.tenant.id}/`), clearCookie(LOGOUT_CSRF_COOKIE, `/t/${tenant.tenant.id}/saml/logout`)];
    const secret = readCookie(request.headers['cookie'], SSO_COOKIE);
    const hash = secret ? sessionHash(secret) : undefined;
    if (!hash || !(await oidc.sessions.findByHash(tenant.tenant.id, hash))) return next(tenant, { tenant: tenant.tenant.id, remaining: [], partial: false }, cookies);
    const all = await participants().participants.ofSession(tenant.tenant.id, hash);
    await oidc.sessions.endByHash(hash);
    const { frontChannel, partial } = await propagate(tenant, all);
    return next(tenant, { tenant: tenant.tenant.id, remaining: frontChannel, partial }, cookies);
  }

  return [
    { method: 'GET', path: '/t/:tenant/saml/slo', handle: slo },
    { method: 'POST', path: '/t/:tenant/saml/slo', handle: slo },
    { method: 'GET', path: '/t/:tenant/saml/logout', handle: confirmLogout },
    { method: 'POST', path: '/t/:tenant/saml/logout', handle: performLogout },
  ];
}

/** Remembers that an SP got an assertion in this SSO session, with the NameID and SessionIndex it got. */
export async function recordParticipant(saml: SamlRouteDeps['saml'], tenant: TenantContext, secret: string, spEntityId: string, subject: { nameId: string; nameIdFormat: string; spProvidedId?: string; sessionIndex: string }): Promise<void> {
  if (!saml.participants) return;
  const expiresAt = Math.floor(saml.oidc.clock.now() / 1000) + tenant.tenant.sessionLifetimes.ssoSeconds;
  await saml.participants.record(tenant.tenant.id, sessionHash(secret), { spEntityId, nameId: subject.nameId, nameIdFormat: subject.nameIdFormat, sessionIndex: subject.sessionIndex, ...(subject.spProvidedId ? { spProvidedId: subject.spProvidedId } : {}) }, expiresAt);
}
