import type { Element } from '@xmldom/xmldom';
import type { OutboundHttp, Random } from '../../ports.ts';
import { decodeArtifact } from './artifact.ts';
import { CLOCK_SKEW_SECONDS } from './authn-request.ts';
import { artifactResolveXml, signMessage } from './outbound.ts';
import type { ServiceProvider } from './service-providers.ts';
import { checkSchema } from './schema-check.ts';
import { verifyRootSignature, type SigningKey } from './signature.ts';
import { soapCall } from './soap-client.ts';
import { BINDING, child, NS, parseXml, samlId, SamlError, serialize, textOf } from './xml.ts';

export interface SpArtifactContext {
  readonly tenant: string;
  readonly idpEntityId: string;
  readonly now: number;
  readonly random: Random;
  readonly key: SigningKey;
  readonly http: OutboundHttp;
  readonly findBySourceId: (sourceIdHex: string) => Promise<ServiceProvider | undefined>;
}

/** The message an SP sent us by artifact, and the SP it provably came from. */
export interface ResolvedArtifact {
  readonly sp: ServiceProvider;
  /** The carried message as a standalone document, to be checked like any other inbound message. */
  readonly xml: string;
}

const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

/**
 * HTTP-Artifact from an SP (Bindings §3.6): decodes SAMLart (type 0x0004; SourceID = SHA-1 of the SP's
 * entityID), sends our signed ArtifactResolve over SOAP to that SP's ArtifactResolutionService with the
 * artifact's endpoint index (from its metadata only), and accepts the ArtifactResponse only when it is
 * signed by the SP's metadata key, answers our request (InResponseTo), comes from that SP (Issuer),
 * is fresh and says Success with exactly one message inside.
 */
export async function resolveSpArtifact(samlArt: string, context: SpArtifactContext): Promise<ResolvedArtifact> {
  const artifact = decodeArtifact(samlArt);
  const sp = await context.findBySourceId(artifact.sourceId);
  if (!sp) throw new SamlError('the artifact comes from a service provider that is not registered', 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied');
  const endpoint = sp.artifactResolution?.find((candidate) => candidate.index === artifact.endpointIndex && candidate.binding === BINDING.soap);
  if (!endpoint) throw new SamlError("the artifact names no SOAP ArtifactResolutionService in the service provider's metadata");

  const requestId = samlId(context.random.bytes(20));
  const resolve = signMessage(
    artifactResolveXml({ id: requestId, issuer: context.idpEntityId, now: context.now, destination: endpoint.location }, samlArt),
    'ArtifactResolve',
    context.key,
  );
  const answer = await soapCall(context.http, endpoint.location, resolve);

  const document = parseXml(answer);
  const root = document.documentElement!;
  if (root.namespaceURI !== NS.protocol || root.localName !== 'ArtifactResponse') throw new SamlError('the SP did not answer with an ArtifactResponse');
  checkSchema(root);
  const signed = verifyRootSignature(answer, document, sp.signingCertificates);
  if (signed.getAttribute('InResponseTo') !== requestId) throw new SamlError('the ArtifactResponse does not answer our ArtifactResolve');
  const issuer = child(signed, NS.assertion, 'Issuer');
  if (!issuer || textOf(issuer) !== sp.entityId) throw new SamlError('the ArtifactResponse Issuer is not the service provider the artifact names');
  if (signed.getAttribute('Version') !== '2.0') throw new SamlError('the ArtifactResponse is not SAML 2.0');
  const instant = Date.parse(signed.getAttribute('IssueInstant') ?? '');
  if (!Number.isFinite(instant) || Math.abs(instant - context.now) > CLOCK_SKEW_SECONDS * 1000)
    throw new SamlError('the ArtifactResponse IssueInstant is out of range');
  const status = child(signed, NS.protocol, 'Status');
  const code = status && child(status, NS.protocol, 'StatusCode')?.getAttribute('Value');
  if (code !== SUCCESS) throw new SamlError(`the service provider could not resolve the artifact (${code ?? 'no status'})`);
  // The carried message: the one element after Issuer, Signature, Extensions and Status.
  const messages: string[] = [];
  for (let node = signed.firstChild; node; node = node.nextSibling) {
    if (node.nodeType !== 1) continue;
    const element = node as Element;
    const known =
      (element.namespaceURI === NS.assertion && element.localName === 'Issuer') ||
      (element.namespaceURI === NS.dsig && element.localName === 'Signature') ||
      (element.namespaceURI === NS.protocol && ['Extensions', 'Status'].includes(element.localName ?? ''));
    if (!known) messages.push(serialize(element));
  }
  if (messages.length !== 1) throw new SamlError('the ArtifactResponse does not carry exactly one message');
  return { sp, xml: messages[0]! };
}
