import type { ReplayCache } from '../oidc/replay.ts';
import type { OutboundHttp, Random } from '../../ports.ts';
import { verifyInbound, type InboundMessage } from './inbound.ts';
import { namedPrincipal, type NamedPrincipal } from './name-id-management.ts';
import { logoutRequestXml, signMessage } from './outbound.ts';
import { spEndpoint, type ServiceProvider } from './service-providers.ts';
import type { SamlParticipant } from './session-participants.ts';
import type { SigningKey } from './signature.ts';
import { soapCall } from './soap-client.ts';
import { BINDING, children, NS, samlId, SamlError, textOf } from './xml.ts';

export const STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
/** Second-level code: the session ended here, but not every participant could be told (Core §3.2.2.2). */
export const STATUS_PARTIAL_LOGOUT = 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout';
/** How long a LogoutRequest we send stays valid. */
export const LOGOUT_REQUEST_SECONDS = 300;

/** What a verified LogoutRequest asks to end. */
export interface LogoutTarget {
  readonly principal: NamedPrincipal;
  readonly sessionIndexes: readonly string[];
}

export function readLogoutRequest(message: InboundMessage, idpEntityId: string): LogoutTarget {
  const principal = namedPrincipal(message.element, message.sp.entityId, idpEntityId);
  const sessionIndexes = children(message.element, NS.protocol, 'SessionIndex').map(textOf);
  if (sessionIndexes.length > 10) throw new SamlError('too many SessionIndex elements');
  return { principal, sessionIndexes };
}

/** Whether the participant is the one the request names (same NameID; same SessionIndex when given). */
export const namesParticipant = (target: LogoutTarget, participant: SamlParticipant): boolean =>
  participant.nameId === target.principal.value && (target.sessionIndexes.length === 0 || target.sessionIndexes.includes(participant.sessionIndex));

export interface OutboundLogoutContext {
  readonly tenant: string;
  readonly idpEntityId: string;
  /** Our SingleLogoutService URL (the Destination a LogoutResponse may name). */
  readonly sloUrl: string;
  readonly now: number;
  readonly random: Random;
  readonly key: SigningKey;
  readonly http: OutboundHttp;
  readonly replay: ReplayCache;
}

/** Our unsigned LogoutRequest to a participant, addressed to `destination`. */
export function logoutRequestFor(
  participant: SamlParticipant,
  destination: string,
  context: Pick<OutboundLogoutContext, 'idpEntityId' | 'now' | 'random'>,
): { id: string; xml: string } {
  const id = samlId(context.random.bytes(20));
  const nameId = {
    value: participant.nameId,
    format: participant.nameIdFormat,
    spNameQualifier: participant.spEntityId,
    ...(participant.spProvidedId ? { spProvidedId: participant.spProvidedId } : {}),
  };
  return {
    id,
    xml: logoutRequestXml(
      { id, issuer: context.idpEntityId, now: context.now, destination },
      nameId,
      participant.sessionIndex,
      context.now + LOGOUT_REQUEST_SECONDS * 1000,
    ),
  };
}

/**
 * Back-channel logout of one participant (SOAP binding): our signed LogoutRequest to the SP's SOAP
 * SingleLogoutService; true only for a LogoutResponse signed with the SP's metadata key, answering
 * our request, with status Success. Any failure counts as not logged out (PartialLogout).
 */
export async function logoutOverSoap(sp: ServiceProvider, participant: SamlParticipant, context: OutboundLogoutContext): Promise<boolean> {
  const endpoint = spEndpoint(sp.singleLogout, BINDING.soap);
  if (!endpoint) return false;
  const request = logoutRequestFor(participant, endpoint.location, context);
  try {
    const answer = await soapCall(context.http, endpoint.location, signMessage(request.xml, 'LogoutRequest', context.key));
    const message = await verifyInbound(
      { kind: 'soap', xml: answer },
      {
        tenant: context.tenant,
        destination: context.sloUrl,
        now: context.now,
        findSp: async (entityId) => (entityId === sp.entityId ? sp : undefined),
        replay: context.replay,
        expected: ['LogoutResponse'],
      },
    );
    return message.element.getAttribute('InResponseTo') === request.id && statusCodeOf(message) === STATUS_SUCCESS;
  } catch (error) {
    if (error instanceof SamlError) return false;
    throw error;
  }
}

/** The top-level status code of a verified StatusResponse. */
export function statusCodeOf(message: InboundMessage): string | undefined {
  const status = children(message.element, NS.protocol, 'Status')[0];
  const code = status ? children(status, NS.protocol, 'StatusCode')[0] : undefined;
  return code?.getAttribute('Value') ?? undefined;
}
