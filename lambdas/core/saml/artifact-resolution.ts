import type { AccessCheck } from '../access/access-check.ts';
import type { Random } from '../../ports.ts';
import { verifyInbound, type InboundContext } from './inbound.ts';
import type { IssuedArtifacts } from './issued-artifacts.ts';
import { artifactResponseXml, signMessage, SUCCESS, type SamlStatus } from './outbound.ts';
import type { SigningKey } from './signature.ts';
import { child, NS, samlId, SamlError, textOf } from './xml.ts';

export interface ArtifactResolutionContext extends Omit<InboundContext, 'expected'> {
  readonly idpEntityId: string;
  readonly key: SigningKey;
  readonly random: Random;
  readonly artifacts: IssuedArtifacts;
  /** Called when an SP took delivery of a message that carried a persistent NameID of this user. */
  readonly delivered?: (spEntityId: string, username: string) => Promise<void>;
  /** The one access check, run again on the sign-in an assertion carries before the SP gets it. */
  readonly access: Pick<AccessCheck, 'continueAccess'>;
}

/**
 * Our ArtifactResolutionService (SAML Core §3.5, Bindings §3.2 SOAP): the ArtifactResolve must be signed
 * by a registered SP's metadata key, addressed here (when it names a Destination), fresh and unseen. The
 * signed ArtifactResponse carries the message only when the artifact is live, unused and was issued to
 * that SP; otherwise it carries none (§3.5.3). `xml` is the message from the SOAP Body (the route
 * unwraps the envelope and wraps our answer in the same SOAP version).
 */
export async function answerArtifactResolve(xml: string, context: ArtifactResolutionContext): Promise<string> {
  const answer = (inResponseTo: string | undefined, status: SamlStatus, message?: string): string => {
    const response = artifactResponseXml(
      { id: samlId(context.random.bytes(20)), issuer: context.idpEntityId, now: context.now },
      inResponseTo,
      status,
      message,
    );
    return signMessage(response, 'ArtifactResponse', context.key);
  };
  let inbound;
  try {
    inbound = await verifyInbound({ kind: 'soap', xml }, { ...context, expected: ['ArtifactResolve'] });
  } catch (error) {
    if (!(error instanceof SamlError)) throw error;
    // Nothing of an unverified request is trusted, not even its ID.
    return answer(undefined, { code: error.status, subCode: 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied', message: error.message });
  }
  const artifactElement = child(inbound.element, NS.protocol, 'Artifact');
  const artifact = artifactElement ? textOf(artifactElement) : '';
  const taken = artifact ? await context.artifacts.take(context.tenant, context.idpEntityId, artifact, inbound.sp.entityId) : undefined;
  if (!taken) return answer(inbound.id, SUCCESS);
  if (taken.grant) {
    // The user may have been disabled (or their access revoked) since the Response was issued: the SP
    // then gets no message, as for an artifact that cannot be resolved (Core §3.5.3).
    const decision = await context.access.continueAccess({
      kind: 'saml-artifact',
      tenant: context.tenant,
      subject: { user: taken.grant.user },
      audience: `saml:${inbound.sp.entityId}`,
      grantedAt: taken.grant.grantedAt,
      ...(taken.grant.sessionId ? { sessionId: taken.grant.sessionId } : {}),
    });
    if (decision.outcome !== 'allow') return answer(inbound.id, SUCCESS);
  }
  if (taken.username && context.delivered) await context.delivered(inbound.sp.entityId, taken.username);
  return answer(inbound.id, SUCCESS, taken.message);
}
