import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import type { Element } from '@xmldom/xmldom';
import type { ReplayCache } from '../oidc/replay.ts';
import { parseRequestedAuthnContext, type RequestedAuthnContext } from './authn-context.ts';
import { chooseAcs } from './acs.ts';
import type { ServiceProvider } from './service-providers.ts';
import { checkSchema, xsBoolean } from './schema-check.ts';
import { ALG, verifyRootSignature } from './signature.ts';
import { BINDING, child, MAX_MESSAGE_BYTES, NS, parseXml, SamlError, textOf } from './xml.ts';
import { receivedRedirectOctets } from './redirect-signature.ts';

/** Most a Redirect-binding SAMLRequest may inflate to: no deflate bombs. */
export const MAX_INFLATED_BYTES = 100 * 1024;
/** Most a base64 SAMLRequest parameter may be (either binding). */
export const MAX_ENCODED_BYTES = 128 * 1024;
/**
 * The longest RelayState accepted, in UTF-8 bytes. SAML Bindings §3.4.3 and §3.5.3 say the *sender* MUST
 * NOT exceed 80 bytes, but SP stacks send a return URL there (python3-saml by default), so a receiver
 * that keeps to 80 breaks real logins. 2048 holds a typical deep link and still fits, with a signed
 * SAMLRequest, in a redirect URL every browser and API Gateway take. One bound for every binding.
 */
export const MAX_RELAY_STATE_BYTES = 2048;

/** Throws when a RelayState is over the bound (the message names it). */
export function checkRelayState(relayState: string | undefined): void {
  if (relayState !== undefined && Buffer.byteLength(relayState, 'utf8') > MAX_RELAY_STATE_BYTES) {
    throw new SamlError(`RelayState is ${Buffer.byteLength(relayState, 'utf8')} bytes; this identity provider accepts at most ${MAX_RELAY_STATE_BYTES}`);
  }
}

/**
 * A verified AuthnRequest that is refused all the same: its SP gets a SAML error Response (Requester,
 * with the reason) at the ACS from its metadata, without the RelayState, instead of an error page.
 */
export class RefusedAuthnRequest extends SamlError {
  readonly request: ValidatedAuthnRequest;
  constructor(message: string, request: ValidatedAuthnRequest) {
    super(message);
    this.name = 'RefusedAuthnRequest';
    this.request = request;
  }
}
/** Allowed clock skew on IssueInstant, both ways. */
export const CLOCK_SKEW_SECONDS = 300;

const REDIRECT_SIGNATURE_ALGORITHMS: Readonly<Record<string, string>> = {
  [ALG.rsaSha256]: 'sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': 'sha512',
};

/** A validated AuthnRequest: everything the response needs, with the ACS taken from metadata. */
export interface ValidatedAuthnRequest {
  readonly id: string;
  readonly spEntityId: string;
  readonly acsUrl: string;
  /** Set when the Response goes by HTTP-Artifact (the chosen ACS has that binding); HTTP-POST otherwise. */
  readonly responseBinding?: 'artifact';
  readonly nameIdFormat?: string;
  /** NameIDPolicy AllowCreate="false": only an existing federated identity may be used (Core §3.4.1.1). */
  readonly allowCreate?: false;
  readonly forceAuthn: boolean;
  readonly isPassive: boolean;
  readonly requestedAuthnContext?: RequestedAuthnContext;
  readonly relayState?: string;
}

/** What arrived at the SSO endpoint, before any trust. */
export type IncomingRequest =
  | { readonly binding: 'redirect'; readonly samlRequest: string; readonly relayState?: string; readonly sigAlg?: string; readonly signature?: string }
  | { readonly binding: 'post'; readonly samlRequest: string; readonly relayState?: string }
  /** Carried in the SP's verified, signed ArtifactResponse: its own signature is checked when present. */
  | { readonly binding: 'artifact'; readonly xml: string; readonly sp: ServiceProvider; readonly relayState?: string };

export interface AuthnRequestContext {
  /** Our SSO endpoint URL, the only Destination accepted. */
  readonly destination: string;
  readonly now: number;
  readonly findSp: (entityId: string) => Promise<ServiceProvider | undefined>;
  readonly replay: ReplayCache;
  readonly tenant: string;
}

function base64(value: string, what: string): Buffer {
  if (value.length > MAX_ENCODED_BYTES) throw new SamlError(`${what} is too large`);
  if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(value)) throw new SamlError(`${what} is not base64`);
  return Buffer.from(value, 'base64');
}

/** Decodes the message of either binding: Redirect is base64 of raw DEFLATE (inflate-capped), POST plain base64. */
export function decodeSamlRequest(incoming: IncomingRequest): string {
  if (incoming.binding === 'artifact') return incoming.xml;
  const bytes = base64(incoming.samlRequest, 'SAMLRequest');
  if (incoming.binding === 'post') {
    if (bytes.length > MAX_MESSAGE_BYTES) throw new SamlError('SAMLRequest is too large');
    return bytes.toString('utf8');
  }
  try {
    return inflateRawSync(bytes, { maxOutputLength: MAX_INFLATED_BYTES }).toString('utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError)
      throw new SamlError(`SAMLRequest inflates to more than ${MAX_INFLATED_BYTES} bytes`);
    throw new SamlError('SAMLRequest is not DEFLATE-compressed');
  }
}

function verifyRedirectSignature(incoming: Extract<IncomingRequest, { binding: 'redirect' }>, sp: ServiceProvider): void {
  if (!incoming.signature || !incoming.sigAlg) throw new SamlError('the service provider signs its requests, but this one is not signed');
  const hash = REDIRECT_SIGNATURE_ALGORITHMS[incoming.sigAlg];
  if (!hash) throw new SamlError('the signature algorithm is not accepted (RSA with SHA-256 or better)');
  const variants = receivedRedirectOctets('SAMLRequest', incoming.samlRequest, incoming.relayState, incoming.sigAlg);
  const signature = base64(incoming.signature, 'Signature');
  if (sp.signingCertificates.length === 0) throw new SamlError('the service provider has no signing certificate in its metadata');
  const valid = sp.signingCertificates.some((pem) => {
    try {
      const key = createPublicKey(pem);
      return variants.some((octets) => cryptoVerify(hash, octets, key, signature));
    } catch {
      return false;
    }
  });
  if (!valid) throw new SamlError("the request signature is not valid with the service provider's metadata key");
}

const SUPPORTED_NAMEID = new Set([
  'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
  'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
]);

/**
 * Validates an AuthnRequest (SAML Core §3.4.1, Profiles §4.1.4.1): a registered Issuer, the signature
 * with the SP's metadata key when the SP signs (or whenever one is present), Destination = our SSO URL,
 * IssueInstant within the skew, an ID never seen before, and an ACS URL from the SP's metadata.
 */
export async function validateAuthnRequest(incoming: IncomingRequest, context: AuthnRequestContext): Promise<ValidatedAuthnRequest> {
  const xml = decodeSamlRequest(incoming);
  const document = parseXml(xml);
  const root = document.documentElement!;
  if (root.namespaceURI !== NS.protocol || root.localName !== 'AuthnRequest') throw new SamlError('the message is not an AuthnRequest');
  checkSchema(root);
  const issuerElement = child(root, NS.assertion, 'Issuer');
  if (!issuerElement) throw new SamlError('the AuthnRequest has no Issuer');
  const issuer = textOf(issuerElement);
  const sp = incoming.binding === 'artifact' ? (issuer === incoming.sp.entityId ? incoming.sp : undefined) : await context.findSp(issuer);
  if (!sp) throw new SamlError('the AuthnRequest comes from a service provider that is not registered', 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied');

  let request: Element = root;
  if (incoming.binding === 'redirect') {
    // Over Redirect the signature is the query's; an enveloped one would have been removed (§3.4.4.1).
    if (sp.authnRequestsSigned || incoming.signature !== undefined) verifyRedirectSignature(incoming, sp);
  } else {
    const signed = child(root, NS.dsig, 'Signature') !== undefined;
    if ((sp.authnRequestsSigned && incoming.binding !== 'artifact') || signed) request = verifyRootSignature(xml, document, sp.signingCertificates);
  }

  // From here on, read only the element that was signed (or the unsigned request of an SP that does not sign).
  const id = request.getAttribute('ID') ?? '';
  if (!/^[A-Za-z_][\w.-]{0,255}$/.test(id)) throw new SamlError('the AuthnRequest ID is missing or not an NCName');
  if (request.getAttribute('Version') !== '2.0') throw new SamlError('the AuthnRequest is not SAML 2.0', 'urn:oasis:names:tc:SAML:2.0:status:VersionMismatch');
  const signedIssuer = child(request, NS.assertion, 'Issuer');
  if (!signedIssuer || textOf(signedIssuer) !== sp.entityId) throw new SamlError('the AuthnRequest Issuer changed');
  const destination = request.getAttribute('Destination');
  // Destination is required on signed requests (Bindings §3.4.5.2, §3.5.5.2) and checked whenever present.
  if ((destination ?? '') !== context.destination && (destination !== null || sp.authnRequestsSigned))
    throw new SamlError('the AuthnRequest Destination is not this endpoint');
  const instant = Date.parse(request.getAttribute('IssueInstant') ?? '');
  if (!Number.isFinite(instant)) throw new SamlError('the AuthnRequest has no valid IssueInstant');
  if (Math.abs(instant - context.now) > CLOCK_SKEW_SECONDS * 1000)
    throw new SamlError('the AuthnRequest IssueInstant is out of range (expired or in the future)');

  const acsUrl = request.getAttribute('AssertionConsumerServiceURL');
  const acsIndex = request.getAttribute('AssertionConsumerServiceIndex');
  const acs = chooseAcs(sp, { url: acsUrl, index: acsIndex, protocolBinding: request.getAttribute('ProtocolBinding') });
  const policy = child(request, NS.protocol, 'NameIDPolicy');
  const format = policy?.getAttribute('Format') || undefined;
  if (format && !SUPPORTED_NAMEID.has(format))
    throw new SamlError(`NameID format ${format} is not supported`, 'urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy');
  const requestedAuthnContext = parseRequestedAuthnContext(request);

  // Seen-before last, so that a rejected request does not burn its ID; remembered past the skew window.
  const first = await context.replay.firstUse(`saml-authn:${context.tenant}:${sp.entityId}`, id, (instant + 2 * CLOCK_SKEW_SECONDS * 1000) / 1000);
  if (!first) throw new SamlError('this AuthnRequest ID was already used');
  const validated: ValidatedAuthnRequest = {
    id,
    spEntityId: sp.entityId,
    acsUrl: acs.location,
    ...(acs.binding === BINDING.artifact ? { responseBinding: 'artifact' as const } : {}),
    ...(format ? { nameIdFormat: format } : {}),
    // Booleans read as the schema check accepted them (" true " is true: xs:boolean collapses whitespace).
    ...(xsBoolean(policy?.getAttribute('AllowCreate')) === false ? { allowCreate: false as const } : {}),
    forceAuthn: xsBoolean(request.getAttribute('ForceAuthn')) === true,
    isPassive: xsBoolean(request.getAttribute('IsPassive')) === true,
    ...(requestedAuthnContext ? { requestedAuthnContext } : {}),
  };
  // Checked once the request is verified, so the SP learns why; the RelayState itself is not echoed.
  try {
    checkRelayState(incoming.relayState);
  } catch (error) {
    if (error instanceof SamlError) throw new RefusedAuthnRequest(error.message, validated);
    throw error;
  }
  return { ...validated, ...(incoming.relayState !== undefined ? { relayState: incoming.relayState } : {}) };
}
