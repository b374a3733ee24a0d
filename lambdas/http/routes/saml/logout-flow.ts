import { sessionHash } from '../../../core/oidc/sessions.ts';
import type { InboundMessage } from '../../../core/saml/inbound.ts';
import { decryptIdentifiers } from '../../../core/saml/encrypted-id.ts';
import {
  logoutOverSoap,
  logoutRequestFor,
  namesParticipant,
  readLogoutRequest,
  STATUS_PARTIAL_LOGOUT,
  STATUS_SUCCESS,
  type OutboundLogoutContext,
} from '../../../core/saml/logout.ts';
import type { LogoutProgress } from '../../../core/saml/logout-progress.ts';
import { samlEndpoints } from '../../../core/saml/metadata.ts';
import type { Saml } from '../../../core/saml/provider.ts';
import { signMessage, statusResponseXml, type SamlStatus } from '../../../core/saml/outbound.ts';
import type { SamlParticipant } from '../../../core/saml/session-participants.ts';
import { spEndpoint } from '../../../core/saml/service-providers.ts';
import { BINDING, samlId } from '../../../core/saml/xml.ts';
import type { ApiResponse } from '../../types.ts';
import { html, page, pageHeaders } from '../../views/html.ts';
import type { PageView } from '../../views/view.ts';
import type { TenantContext } from '../oidc/common.ts';
import { frontChannelEndpoint, sendThroughBrowser } from './front-channel.ts';

/** What is left after the session ended: participants only a browser can reach, and whether someone failed. */
export interface Propagation {
  readonly frontChannel: SamlParticipant[];
  readonly partial: boolean;
}

/**
 * The steps of SAML Single Logout shared by the SP-initiated endpoint (`/saml/slo`) and the IdP-initiated
 * page (`/saml/logout`): find and end the session, tell the participants over SOAP, walk the browser
 * through the rest, and answer whoever started it.
 */
export function logoutFlow(saml: Saml) {
  const { oidc } = saml;
  const stores = () => {
    if (!saml.participants || !saml.logoutChain) throw new Error('SAML logout needs the state table');
    return { participants: saml.participants, chain: saml.logoutChain };
  };

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

  const logoutResponse = (tenant: TenantContext, inResponseTo: string | undefined, status: SamlStatus, destination?: string): string =>
    statusResponseXml(
      'LogoutResponse',
      { id: samlId(oidc.random.bytes(20)), issuer: samlEndpoints(tenant.issuer).entityId, now: oidc.clock.now(), ...(destination ? { destination } : {}) },
      inResponseTo,
      status,
    );

  /** Success, with PartialLogout under it when a participant could not be told (Core §3.2.2.2). */
  const finalStatus = (partial: boolean): SamlStatus =>
    partial ? { code: STATUS_SUCCESS, subCode: STATUS_PARTIAL_LOGOUT, message: 'not every service provider could be signed out' } : { code: STATUS_SUCCESS };

  /**
   * SOAP where the participant's metadata allows it, all calls at once (each bounded by the SOAP
   * timeout, so many SPs still fit in the function's time); the rest left for the browser (or failed).
   */
  async function propagate(tenant: TenantContext, participants: readonly SamlParticipant[]): Promise<Propagation> {
    const context = await outboundContext(tenant);
    const outcomes = await Promise.all(
      participants.map(async (participant): Promise<'done' | 'failed' | 'browser' | 'gone'> => {
        const sp = await saml.serviceProviders.find(tenant.tenant.id, participant.spEntityId);
        if (!sp) return 'gone';
        if (spEndpoint(sp.singleLogout, BINDING.soap)) return (await logoutOverSoap(sp, participant, context)) ? 'done' : 'failed';
        return frontChannelEndpoint(sp.singleLogout) ? 'browser' : 'failed';
      }),
    );
    return { frontChannel: participants.filter((_, index) => outcomes[index] === 'browser'), partial: outcomes.includes('failed') };
  }

  /** Ends the session stored under `hash` (if it still lives) and tells every participant but `except`. */
  async function endAndPropagate(tenant: TenantContext, hash: string, except?: string): Promise<Propagation | undefined> {
    if (!(await oidc.sessions.findByHash(tenant.tenant.id, hash))) return undefined;
    const others = (await stores().participants.ofSession(tenant.tenant.id, hash)).filter((participant) => participant.spEntityId !== except);
    await oidc.sessions.endByHash(hash);
    return propagate(tenant, others);
  }

  /**
   * Ends the session a verified LogoutRequest names (by the SP's SessionIndex, else the browser's own
   * session when that SP takes part in it with that NameID) and tells the others. Undefined when the
   * request names no participant of a live session (UnknownPrincipal).
   */
  async function endNamedSession(tenant: TenantContext, message: InboundMessage, cookieSecret: string | undefined): Promise<Propagation | undefined> {
    const store = stores().participants;
    await decryptIdentifiers(message.element, () => saml.certificates.decryptionKeys(tenant.tenant.id, tenant.settings));
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
    return hash ? endAndPropagate(tenant, hash, message.sp.entityId) : undefined;
  }

  /** Sends the browser to the next front-channel participant, or answers whoever started the logout. */
  async function next(
    tenant: TenantContext,
    progress: Omit<LogoutProgress, 'pendingSp' | 'pendingRequestId'>,
    cookies: string[],
    view: PageView,
  ): Promise<ApiResponse> {
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
      await stores().chain.save({ ...progress, remaining, partial, pendingSp: participant.spEntityId, pendingRequestId: request.id });
      return sendThroughBrowser(view, endpoint, 'SAMLRequest', request.xml, 'LogoutRequest', undefined, context.key, signMessage, oidc.random.id(), cookies);
    }
    const initiator = progress.initiator;
    const initiatorSp = initiator && (await saml.serviceProviders.find(tenant.tenant.id, initiator.spEntityId));
    const endpoint = initiatorSp && frontChannelEndpoint(initiatorSp.singleLogout);
    if (!initiator || !endpoint) {
      return {
        statusCode: 200,
        headers: pageHeaders(view),
        ...(cookies.length ? { multiValueHeaders: { 'Set-Cookie': cookies } } : {}),
        body: page(view, view.text('logout.done.title'), html`<p>${view.t(partial ? 'logout.partial.text' : 'logout.done.text')}</p>`),
      };
    }
    const xml = logoutResponse(tenant, initiator.requestId, finalStatus(partial), endpoint.responseLocation ?? endpoint.location);
    return sendThroughBrowser(view, endpoint, 'SAMLResponse', xml, 'LogoutResponse', initiator.relayState, context.key, signMessage, oidc.random.id(), cookies);
  }

  /** The chain step a participant's LogoutResponse answers, taken once. */
  const takeStep = (tenant: TenantContext, inResponseTo: string, from: string) => stores().chain.take(tenant.tenant.id, inResponseTo, from);

  return { logoutResponse, finalStatus, endAndPropagate, endNamedSession, next, takeStep };
}

/** Remembers that an SP got an assertion in this SSO session, with the NameID and SessionIndex it got. */
export async function recordParticipant(
  saml: Saml,
  tenant: TenantContext,
  secret: string,
  spEntityId: string,
  subject: { nameId: string; nameIdFormat: string; spProvidedId?: string; sessionIndex: string },
): Promise<void> {
  if (!saml.participants) return;
  const expiresAt = Math.floor(saml.oidc.clock.now() / 1000) + tenant.tenant.sessionLifetimes.ssoSeconds;
  await saml.participants.record(
    tenant.tenant.id,
    sessionHash(secret),
    {
      spEntityId,
      nameId: subject.nameId,
      nameIdFormat: subject.nameIdFormat,
      sessionIndex: subject.sessionIndex,
      ...(subject.spProvidedId ? { spProvidedId: subject.spProvidedId } : {}),
    },
    expiresAt,
  );
}
