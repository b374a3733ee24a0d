import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import type { Element } from '@xmldom/xmldom';
import type { ReplayCache } from '../oidc/replay.ts';
import { checkRelayState, CLOCK_SKEW_SECONDS, decodeSamlRequest, MAX_ENCODED_BYTES } from './authn-request.ts';
import type { ServiceProvider } from './service-providers.ts';
import { checkSchema } from './schema-check.ts';
import { ALG, verifyRootSignature } from './signature.ts';
import { child, MAX_MESSAGE_BYTES, NS, parseXml, SamlError, textOf } from './xml.ts';
import { receivedRedirectOctets } from './redirect-signature.ts';

/**
 * A SAML protocol message as it arrived, before any trust: over HTTP-Redirect (query signature),
 * HTTP-POST or SOAP (enveloped signature), or carried in an ArtifactResponse we already verified.
 */
export type InboundBinding =
  | {
      readonly kind: 'redirect';
      readonly parameter: 'SAMLRequest' | 'SAMLResponse';
      readonly value: string;
      readonly relayState?: string;
      readonly sigAlg?: string;
      readonly signature?: string;
    }
  | { readonly kind: 'post'; readonly value: string; readonly relayState?: string }
  | { readonly kind: 'soap'; readonly xml: string }
  /** Resolved from an artifact: authenticated by the SP's signed ArtifactResponse; its own signature is checked when present. */
  | { readonly kind: 'artifact'; readonly xml: string; readonly sp: ServiceProvider; readonly relayState?: string };

export interface InboundContext {
  readonly tenant: string;
  /** This endpoint's URL: the only Destination accepted. */
  readonly destination: string;
  readonly now: number;
  readonly findSp: (entityId: string) => Promise<ServiceProvider | undefined>;
  readonly replay: ReplayCache;
  /** The message types this endpoint consumes (protocol namespace local names). */
  readonly expected: readonly string[];
}

/** A message that passed every check; read only `element`, the element that was signed. */
export interface InboundMessage {
  readonly sp: ServiceProvider;
  readonly element: Element;
  readonly name: string;
  readonly id: string;
  readonly relayState?: string;
}

const QUERY_SIGNATURE_HASHES: Readonly<Record<string, string>> = { [ALG.rsaSha256]: 'sha256', 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': 'sha512' };

function verifyQuerySignature(binding: Extract<InboundBinding, { kind: 'redirect' }>, sp: ServiceProvider): void {
  if (!binding.signature || !binding.sigAlg) throw new SamlError('the message is not signed');
  const hash = QUERY_SIGNATURE_HASHES[binding.sigAlg];
  if (!hash) throw new SamlError('the signature algorithm is not accepted (RSA with SHA-256 or better)');
  if (binding.signature.length > MAX_ENCODED_BYTES || !/^[A-Za-z0-9+/]+={0,2}$/.test(binding.signature)) throw new SamlError('Signature is not base64');
  const variants = receivedRedirectOctets(binding.parameter, binding.value, binding.relayState, binding.sigAlg);
  const signature = Buffer.from(binding.signature, 'base64');
  if (sp.signingCertificates.length === 0) throw new SamlError('the service provider has no signing certificate in its metadata');
  const valid = sp.signingCertificates.some((pem) => {
    try {
      const key = createPublicKey(pem);
      return variants.some((octets) => cryptoVerify(hash, octets, key, signature));
    } catch {
      return false;
    }
  });
  if (!valid) throw new SamlError("the signature is not valid with the service provider's metadata key");
}

function decode(binding: InboundBinding): string {
  if (binding.kind === 'soap' || binding.kind === 'artifact') return binding.xml;
  if (binding.kind === 'redirect') return decodeSamlRequest({ binding: 'redirect', samlRequest: binding.value });
  if (binding.value.length > MAX_ENCODED_BYTES || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(binding.value)) throw new SamlError('the message is not base64');
  const bytes = Buffer.from(binding.value, 'base64');
  if (bytes.length > MAX_MESSAGE_BYTES) throw new SamlError('the message is too large');
  return bytes.toString('utf8');
}

/**
 * Accepts a signed SAML protocol message from a registered SP (SAML Core §3.2, Bindings §3.4-3.6):
 * hardened parse; the type this endpoint consumes; a signature valid with the SP's metadata key only
 * (required on every binding, except a message carried in the SP's signed ArtifactResponse); the
 * signed element is the one read; Issuer unchanged; Destination = this endpoint (required on the
 * front-channel bindings, checked whenever present); IssueInstant within the skew; NotOnOrAfter not
 * passed; an ID never seen before from that SP (remembered last, so a refused message does not burn it).
 */
export async function verifyInbound(binding: InboundBinding, context: InboundContext): Promise<InboundMessage> {
  const relayState = binding.kind === 'soap' ? undefined : binding.relayState;
  checkRelayState(relayState);
  const xml = decode(binding);
  const document = parseXml(xml);
  const root = document.documentElement!;
  if (root.namespaceURI !== NS.protocol || !context.expected.includes(root.localName ?? ''))
    throw new SamlError(`the message is not a ${context.expected.join(' or ')}`);
  checkSchema(root);
  const issuerElement = child(root, NS.assertion, 'Issuer');
  if (!issuerElement) throw new SamlError(`the ${root.localName} has no Issuer`);
  const issuer = textOf(issuerElement);
  const sp = binding.kind === 'artifact' ? (issuer === binding.sp.entityId ? binding.sp : undefined) : await context.findSp(issuer);
  if (!sp)
    throw new SamlError(`the ${root.localName} comes from a service provider that is not registered`, 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied');

  let element: Element = root;
  if (binding.kind === 'redirect') verifyQuerySignature(binding, sp);
  else if (binding.kind !== 'artifact' || child(root, NS.dsig, 'Signature')) element = verifyRootSignature(xml, document, sp.signingCertificates);

  const name = element.localName!;
  const id = element.getAttribute('ID') ?? '';
  if (!/^[A-Za-z_][\w.-]{0,255}$/.test(id)) throw new SamlError(`the ${name} ID is missing or not an NCName`);
  if (element.getAttribute('Version') !== '2.0') throw new SamlError(`the ${name} is not SAML 2.0`, 'urn:oasis:names:tc:SAML:2.0:status:VersionMismatch');
  const signedIssuer = child(element, NS.assertion, 'Issuer');
  if (!signedIssuer || textOf(signedIssuer) !== sp.entityId) throw new SamlError(`the ${name} Issuer changed`);
  const destination = element.getAttribute('Destination');
  const frontChannel = binding.kind === 'redirect' || binding.kind === 'post';
  if (destination !== null ? destination !== context.destination : frontChannel) throw new SamlError(`the ${name} Destination is not this endpoint`);
  const instant = Date.parse(element.getAttribute('IssueInstant') ?? '');
  if (!Number.isFinite(instant)) throw new SamlError(`the ${name} has no valid IssueInstant`);
  if (Math.abs(instant - context.now) > CLOCK_SKEW_SECONDS * 1000) throw new SamlError(`the ${name} IssueInstant is out of range (expired or in the future)`);
  const notOnOrAfter = element.getAttribute('NotOnOrAfter');
  if (notOnOrAfter !== null) {
    const limit = Date.parse(notOnOrAfter);
    if (!Number.isFinite(limit) || limit <= context.now - CLOCK_SKEW_SECONDS * 1000) throw new SamlError(`the ${name} has expired (NotOnOrAfter)`);
  }
  const first = await context.replay.firstUse(`saml-msg:${context.tenant}:${sp.entityId}`, id, (instant + 2 * CLOCK_SKEW_SECONDS * 1000) / 1000);
  if (!first) throw new SamlError(`this ${name} ID was already used`);
  return { sp, element, name, id, ...(relayState !== undefined ? { relayState } : {}) };
}
