import { sign as cryptoSign } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { redirectOctets } from './redirect-signature.ts';
import { ALG, signEnveloped, type SigningKey } from './signature.ts';
import { NS, samlInstant, xmlEscape } from './xml.ts';

/** The protocol messages the IdP sends besides the SSO Response: built as text with every value escaped. */

export interface SamlStatus {
  readonly code: string;
  readonly subCode?: string;
  readonly message?: string;
}

export const SUCCESS: SamlStatus = { code: 'urn:oasis:names:tc:SAML:2.0:status:Success' };

export const statusXml = (status: SamlStatus): string =>
  `<samlp:Status><samlp:StatusCode Value="${xmlEscape(status.code)}">${status.subCode ? `<samlp:StatusCode Value="${xmlEscape(status.subCode)}"/>` : ''}</samlp:StatusCode>` +
  `${status.message ? `<samlp:StatusMessage>${xmlEscape(status.message)}</samlp:StatusMessage>` : ''}</samlp:Status>`;

const issuerXml = (entityId: string) => `<saml:Issuer>${xmlEscape(entityId)}</saml:Issuer>`;

interface Envelope {
  readonly id: string;
  readonly issuer: string;
  readonly now: number;
  readonly destination?: string;
}

function open(name: string, envelope: Envelope, extra = ''): string {
  const destination = envelope.destination ? ` Destination="${xmlEscape(envelope.destination)}"` : '';
  return `<samlp:${name} xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${envelope.id}" Version="2.0" IssueInstant="${samlInstant(envelope.now)}"${destination}${extra}>${issuerXml(envelope.issuer)}`;
}

/** Signs a message enveloped (after its Issuer); the SOAP and POST bindings carry it so. */
export const signMessage = (xml: string, name: string, key: SigningKey): string => signEnveloped(xml, `/*[local-name()='${name}']`, key);

export function artifactResolveXml(envelope: Envelope, artifact: string): string {
  return `${open('ArtifactResolve', envelope)}<samlp:Artifact>${xmlEscape(artifact)}</samlp:Artifact></samlp:ArtifactResolve>`;
}

/** An ArtifactResponse; `messageXml` (our own signed Response) only when the artifact resolved. */
export function artifactResponseXml(envelope: Envelope, inResponseTo: string | undefined, status: SamlStatus, messageXml?: string): string {
  const message = messageXml ? messageXml.replace(/^<\?xml[^>]*\?>\s*/, '') : '';
  return `${open('ArtifactResponse', envelope, inResponseTo ? ` InResponseTo="${xmlEscape(inResponseTo)}"` : '')}${statusXml(status)}${message}</samlp:ArtifactResponse>`;
}

/** LogoutResponse or ManageNameIDResponse: a StatusResponseType. */
export function statusResponseXml(
  name: 'LogoutResponse' | 'ManageNameIDResponse',
  envelope: Envelope,
  inResponseTo: string | undefined,
  status: SamlStatus,
): string {
  return `${open(name, envelope, inResponseTo ? ` InResponseTo="${xmlEscape(inResponseTo)}"` : '')}${statusXml(status)}</samlp:${name}>`;
}

export interface NameIdValue {
  readonly value: string;
  readonly format: string;
  readonly spNameQualifier?: string;
  readonly nameQualifier?: string;
  readonly spProvidedId?: string;
}

export const nameIdXml = (nameId: NameIdValue): string =>
  `<saml:NameID Format="${xmlEscape(nameId.format)}"${nameId.nameQualifier ? ` NameQualifier="${xmlEscape(nameId.nameQualifier)}"` : ''}` +
  `${nameId.spNameQualifier ? ` SPNameQualifier="${xmlEscape(nameId.spNameQualifier)}"` : ''}${nameId.spProvidedId ? ` SPProvidedID="${xmlEscape(nameId.spProvidedId)}"` : ''}>${xmlEscape(nameId.value)}</saml:NameID>`;

/** A LogoutRequest to a session participant (Core §3.7.1), valid for a few minutes. */
export function logoutRequestXml(envelope: Envelope, nameId: NameIdValue, sessionIndex: string | undefined, notOnOrAfter: number): string {
  return (
    `${open('LogoutRequest', envelope, ` NotOnOrAfter="${samlInstant(notOnOrAfter)}" Reason="urn:oasis:names:tc:SAML:2.0:logout:user"`)}${nameIdXml(nameId)}` +
    `${sessionIndex ? `<samlp:SessionIndex>${xmlEscape(sessionIndex)}</samlp:SessionIndex>` : ''}</samlp:LogoutRequest>`
  );
}

/**
 * HTTP-Redirect binding (Bindings §3.4.4): the unsigned message DEFLATEd into the query, with the
 * signature over `{parameter}=...&RelayState=...&SigAlg=...`, RSA-SHA256 with our signing key.
 */
export function redirectUrl(location: string, parameter: 'SAMLRequest' | 'SAMLResponse', xml: string, relayState: string | undefined, key: SigningKey): string {
  const value = deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64');
  const octets = redirectOctets(parameter, value, relayState, ALG.rsaSha256);
  const signature = cryptoSign('sha256', Buffer.from(octets, 'utf8'), key.privateKey).toString('base64');
  const url = new URL(location);
  const query = `${octets}&Signature=${encodeURIComponent(signature)}`;
  return `${url.origin}${url.pathname}?${url.search ? `${url.search.slice(1)}&` : ''}${query}`;
}
