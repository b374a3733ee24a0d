import { createHash, randomBytes, sign as cryptoSign } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateRawSync } from 'node:zlib';
import { DOMParser, XMLSerializer, type Document, type Element } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { spCredentials } from './saml-sp.ts';

/**
 * A SAML service provider for the e2e suite that speaks HTTP-Artifact and SOAP, built on xml-crypto and
 * xmldom only (none of the IdP's own SAML code): a loopback HTTP server with its own key pair, serving
 * its ArtifactResolutionService, SOAP SingleLogoutService and SOAP ManageNameIDService; it sends
 * requests by artifact, by SOAP and by Redirect, and resolves the IdP's artifacts.
 */

export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
  soap: 'http://schemas.xmlsoap.org/soap/envelope/',
} as const;
export const BINDINGS = {
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
  artifact: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact',
  soap: 'urn:oasis:names:tc:SAML:2.0:bindings:SOAP',
} as const;
export const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';

/** How the SP's ArtifactResolutionService misbehaves, for the negative tests. */
export type ArsMode = 'normal' | 'unsigned' | 'wrong-in-response-to' | 'foreign-issuer' | 'signed-by-other-key' | 'error-status' | 'slow' | 'oversized';

const instant = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
export const newId = () => `_${randomBytes(20).toString('hex')}`;

export function parse(xml: string): Document {
  return new DOMParser({
    onError: (level, message) => {
      if (level !== 'warning') throw new Error(message);
    },
  }).parseFromString(xml, 'text/xml');
}
export const serializeNode = (node: Element) => new XMLSerializer().serializeToString(node);
export const first = (node: Document | Element, ns: string, name: string): Element | undefined => node.getElementsByTagNameNS(ns, name)[0];
export const envelope = (xml: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="${NS.soap}"><soap:Body>${xml}</soap:Body></soap:Envelope>`;
export const statusOf = (element: Element | undefined): string | undefined =>
  element ? (first(element, NS.protocol, 'StatusCode')?.getAttribute('Value') ?? undefined) : undefined;

/** Signs the root element enveloped (RSA-SHA256, exclusive C14N), the Signature after the Issuer. */
export function signXml(xml: string, keyPem: string, certPem: string): string {
  const root = parse(xml).documentElement!;
  const path = `/*[local-name()='${root.localName}']`;
  const signer = new SignedXml({
    privateKey: keyPem,
    publicCert: certPem,
    signatureAlgorithm: RSA_SHA256,
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  signer.addReference({
    xpath: path,
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
  });
  signer.computeSignature(xml, { prefix: 'ds', location: { reference: `${path}/*[local-name()='Issuer']`, action: 'after' } });
  return signer.getSignedXml();
}

/** Verifies the enveloped signature on `element` (in `xml`) with a pinned certificate, KeyInfo ignored. */
export function verifyWith(xml: string, element: Element, certPem: string): boolean {
  const signature = Array.from({ length: element.childNodes.length }, (_, i) => element.childNodes[i]).find(
    (node) => node?.nodeType === 1 && (node as Element).localName === 'Signature',
  ) as Element | undefined;
  if (!signature) return false;
  const verifier = new SignedXml({ publicCert: certPem, getCertFromKeyInfo: () => null });
  verifier.loadSignature(signature);
  try {
    return verifier.checkSignature(xml);
  } catch {
    return false;
  }
}

export async function postSoap(
  url: string,
  body: string,
  contentType = 'text/xml; charset=utf-8',
): Promise<{ status: number; text: string; contentType: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': contentType, SOAPAction: 'http://www.oasis-open.org/committees/security' },
    body,
  });
  return { status: response.status, text: await response.text(), contentType: response.headers.get('content-type') ?? '' };
}

/** The one element in a SOAP answer's Body, as a standalone document string. */
export function soapBody(text: string): { xml: string; element: Element } {
  const body = first(parse(text), NS.soap, 'Body');
  if (!body) throw new Error(`not a SOAP envelope: ${text.slice(0, 200)}`);
  const element = Array.from({ length: body.childNodes.length }, (_, i) => body.childNodes[i]).find((node) => node?.nodeType === 1) as Element;
  const xml = serializeNode(element);
  return { xml, element: parse(xml).documentElement! };
}

export class ArtifactSp {
  readonly entityId: string;
  readonly keyPem: string;
  readonly certPem: string;
  readonly certBase64: string;
  /** Artifacts this SP issued and not yet resolved: artifact → message. */
  readonly pending = new Map<string, string>();
  /** Every SOAP request the SP's own services received (for assertions). */
  readonly received: string[] = [];
  arsMode: ArsMode = 'normal';
  /** The LogoutResponse status the SOAP SLO service answers with. */
  sloStatus = 'urn:oasis:names:tc:SAML:2.0:status:Success';
  idpCertPem = '';
  #server: Server;
  #base = '';
  #otherKey?: { keyPem: string; certPem: string };

  private constructor(entityId: string, credentials: { keyPem: string; certPem: string; certBase64: string }) {
    this.entityId = entityId;
    this.keyPem = credentials.keyPem;
    this.certPem = credentials.certPem;
    this.certBase64 = credentials.certBase64;
    this.#server = createServer((request, response) => void this.#handle(request, response));
  }

  static async start(entityId: string): Promise<ArtifactSp> {
    const sp = new ArtifactSp(entityId, await spCredentials(`artifact SP ${entityId}`));
    sp.#otherKey = await spCredentials('not the SP');
    await new Promise<void>((resolve) => sp.#server.listen(0, '127.0.0.1', resolve));
    sp.#base = `http://127.0.0.1:${(sp.#server.address() as AddressInfo).port}`;
    return sp;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  get base(): string {
    return this.#base;
  }
  /** Front-channel endpoints: never actually visited, the test reads the browser's redirect instead. */
  readonly acsPost = 'https://artifact-sp.example.test/acs-post';
  readonly acsArtifact = 'https://artifact-sp.example.test/acs-artifact';
  readonly sloRedirect = 'https://artifact-sp.example.test/slo';
  readonly nameIdRedirect = 'https://artifact-sp.example.test/mnid';

  metadata(options: { soapSlo?: boolean; frontSlo?: 'redirect' | 'post' } = {}): string {
    const soapSlo = options.soapSlo ?? true;
    const frontSlo = options.frontSlo === 'post' ? BINDINGS.post : BINDINGS.redirect;
    return (
      `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="${NS.dsig}" entityID="${this.entityId}">` +
      `<md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
      `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${this.certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
      `<md:ArtifactResolutionService Binding="${BINDINGS.soap}" Location="${this.#base}/ars" index="0" isDefault="true"/>` +
      (soapSlo ? `<md:SingleLogoutService Binding="${BINDINGS.soap}" Location="${this.#base}/slo"/>` : '') +
      `<md:SingleLogoutService Binding="${frontSlo}" Location="${this.sloRedirect}"/>` +
      `<md:ManageNameIDService Binding="${BINDINGS.soap}" Location="${this.#base}/mnid"/>` +
      `<md:ManageNameIDService Binding="${BINDINGS.redirect}" Location="${this.nameIdRedirect}"/>` +
      `<md:NameIDFormat>${PERSISTENT}</md:NameIDFormat>` +
      `<md:AssertionConsumerService Binding="${BINDINGS.post}" Location="${this.acsPost}" index="0" isDefault="true"/>` +
      `<md:AssertionConsumerService Binding="${BINDINGS.artifact}" Location="${this.acsArtifact}" index="1"/>` +
      `</md:SPSSODescriptor></md:EntityDescriptor>`
    );
  }

  #open(name: string, destination: string | undefined, id: string, extra = ''): string {
    return `<samlp:${name} xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${id}" Version="2.0" IssueInstant="${instant()}"${destination ? ` Destination="${destination}"` : ''}${extra}><saml:Issuer>${this.entityId}</saml:Issuer>`;
  }

  authnRequest(destination: string, options: { id?: string; binding?: string; allowCreate?: boolean } = {}): string {
    const binding = options.binding ?? BINDINGS.artifact;
    const acs = binding === BINDINGS.artifact ? this.acsArtifact : this.acsPost;
    return `${this.#open('AuthnRequest', destination, options.id ?? newId(), ` ProtocolBinding="${binding}" AssertionConsumerServiceURL="${acs}"`)}<samlp:NameIDPolicy Format="${PERSISTENT}" AllowCreate="${options.allowCreate ?? true}"/></samlp:AuthnRequest>`;
  }

  manageNameIdRequest(destination: string | undefined, nameId: string, change: { newId: string } | 'terminate', options: { id?: string } = {}): string {
    const body = change === 'terminate' ? '<samlp:Terminate/>' : `<samlp:NewID>${change.newId}</samlp:NewID>`;
    return `${this.#open('ManageNameIDRequest', destination, options.id ?? newId())}<saml:NameID Format="${PERSISTENT}">${nameId}</saml:NameID>${body}</samlp:ManageNameIDRequest>`;
  }

  logoutRequest(destination: string | undefined, nameId: string, sessionIndex?: string, options: { id?: string; notOnOrAfter?: string } = {}): string {
    const extra = ` NotOnOrAfter="${options.notOnOrAfter ?? instant(5 * 60_000)}"`;
    return `${this.#open('LogoutRequest', destination, options.id ?? newId(), extra)}<saml:NameID Format="${PERSISTENT}">${nameId}</saml:NameID>${sessionIndex ? `<samlp:SessionIndex>${sessionIndex}</samlp:SessionIndex>` : ''}</samlp:LogoutRequest>`;
  }

  logoutResponse(destination: string, inResponseTo: string, status = 'urn:oasis:names:tc:SAML:2.0:status:Success'): string {
    return `${this.#open('LogoutResponse', destination, newId(), ` InResponseTo="${inResponseTo}"`)}<samlp:Status><samlp:StatusCode Value="${status}"/></samlp:Status></samlp:LogoutResponse>`;
  }

  sign(xml: string): string {
    return signXml(xml, this.keyPem, this.certPem);
  }

  /** Stores a message for the IdP to resolve; returns SAMLart (type 0x0004, index 0, SourceID = SHA-1 of our entityID). */
  sendByArtifact(message: string): string {
    const artifact = Buffer.concat([Buffer.from([0, 4, 0, 0]), createHash('sha1').update(this.entityId).digest(), randomBytes(20)]).toString('base64');
    this.pending.set(artifact, message);
    return artifact;
  }

  /** A Redirect-binding URL with our query signature. */
  redirectUrl(location: string, parameter: 'SAMLRequest' | 'SAMLResponse', xml: string, relayState?: string, keyPem = this.keyPem): string {
    const value = deflateRawSync(Buffer.from(xml)).toString('base64');
    let octets = `${parameter}=${encodeURIComponent(value)}`;
    if (relayState !== undefined) octets += `&RelayState=${encodeURIComponent(relayState)}`;
    octets += `&SigAlg=${encodeURIComponent(RSA_SHA256)}`;
    const signature = cryptoSign('sha256', Buffer.from(octets), keyPem).toString('base64');
    return `${location}?${octets}&Signature=${encodeURIComponent(signature)}`;
  }

  otherKey(): { keyPem: string; certPem: string } {
    return this.#otherKey!;
  }

  /**
   * Resolves an IdP artifact at its ArtifactResolutionService: a signed ArtifactResolve over SOAP; the
   * ArtifactResponse signature is verified with the IdP's metadata certificate.
   */
  async resolve(
    arsUrl: string,
    samlArt: string,
    options: { sign?: boolean; keyPem?: string; certPem?: string } = {},
  ): Promise<{
    status: number;
    text: string;
    signatureValid: boolean;
    statusCode?: string;
    inResponseTo?: string;
    requestId: string;
    message?: Element;
    messageXml?: string;
    responseXml: string;
  }> {
    const requestId = newId();
    let resolve = `${this.#open('ArtifactResolve', arsUrl, requestId)}<samlp:Artifact>${samlArt}</samlp:Artifact></samlp:ArtifactResolve>`;
    if (options.sign !== false) resolve = signXml(resolve, options.keyPem ?? this.keyPem, options.certPem ?? this.certPem);
    const answer = await postSoap(arsUrl, envelope(resolve));
    if (answer.status !== 200) return { status: answer.status, text: answer.text, signatureValid: false, requestId, responseXml: '' };
    const { xml, element } = soapBody(answer.text);
    const message = Array.from({ length: element.childNodes.length }, (_, i) => element.childNodes[i]).find(
      (node) => node?.nodeType === 1 && !['Issuer', 'Signature', 'Status', 'Extensions'].includes((node as Element).localName!),
    ) as Element | undefined;
    return {
      status: answer.status,
      text: answer.text,
      responseXml: xml,
      signatureValid: verifyWith(xml, element, this.idpCertPem),
      statusCode: statusOf(element),
      inResponseTo: element.getAttribute('InResponseTo') ?? undefined,
      requestId,
      ...(message ? { message, messageXml: serializeNode(message) } : {}),
    };
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    this.received.push(text);
    const reply = (xml: string) => {
      response.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' });
      response.end(envelope(xml));
    };
    try {
      const { xml, element } = soapBody(text);
      if (!verifyWith(xml, element, this.idpCertPem)) throw new Error('the IdP signature does not verify');
      const id = element.getAttribute('ID')!;
      if (request.url === '/ars' && this.arsMode === 'slow') await new Promise((resolve) => setTimeout(resolve, 4000));
      if (request.url === '/ars' && this.arsMode === 'oversized') {
        response.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' });
        // Streamed without a Content-Length: the IdP must stop reading at its cap, not trust a header.
        for (let i = 0; i < 40; i++) response.write(`<!-- ${'x'.repeat(4096)} -->`);
        return void response.end();
      }
      if (request.url === '/ars' && element.localName === 'ArtifactResolve')
        return reply(this.#artifactResponse(id, first(element, NS.protocol, 'Artifact')?.textContent ?? ''));
      if (request.url === '/slo' && element.localName === 'LogoutRequest')
        return reply(
          this.sign(
            `${this.#open('LogoutResponse', undefined, newId(), ` InResponseTo="${id}"`)}<samlp:Status><samlp:StatusCode Value="${this.sloStatus}"/></samlp:Status></samlp:LogoutResponse>`,
          ),
        );
      throw new Error(`unexpected ${element.localName} at ${request.url}`);
    } catch (error) {
      response.writeHead(500, { 'Content-Type': 'text/xml; charset=utf-8' });
      response.end(
        envelope(`<soap:Fault><faultcode>soap:Client</faultcode><faultstring>${(error as Error).message.replace(/[<&]/g, '')}</faultstring></soap:Fault>`),
      );
    }
  }

  #artifactResponse(inResponseTo: string, artifact: string): string {
    const message = this.pending.get(artifact);
    this.pending.delete(artifact);
    const status = this.arsMode === 'error-status' ? 'urn:oasis:names:tc:SAML:2.0:status:Responder' : 'urn:oasis:names:tc:SAML:2.0:status:Success';
    const irt = this.arsMode === 'wrong-in-response-to' ? newId() : inResponseTo;
    let xml = `${this.#open('ArtifactResponse', undefined, newId(), ` InResponseTo="${irt}"`)}<samlp:Status><samlp:StatusCode Value="${status}"/></samlp:Status>${message ?? ''}</samlp:ArtifactResponse>`;
    if (this.arsMode === 'foreign-issuer')
      xml = xml.replace(`<saml:Issuer>${this.entityId}</saml:Issuer>`, '<saml:Issuer>https://someone-else.example.test</saml:Issuer>');
    if (this.arsMode === 'unsigned') return xml;
    if (this.arsMode === 'signed-by-other-key') return signXml(xml, this.#otherKey!.keyPem, this.#otherKey!.certPem);
    return this.sign(xml);
  }
}
