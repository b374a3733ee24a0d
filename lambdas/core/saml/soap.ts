import type { Element } from '@xmldom/xmldom';
import { MAX_MESSAGE_BYTES, parseXml, SamlError, serialize, xmlEscape } from './xml.ts';

/** SOAP 1.1, the envelope the SAML SOAP binding uses (SAML Bindings §3.2). */
export const SOAP_ENV = 'http://schemas.xmlsoap.org/soap/envelope/';
export const SOAP_CONTENT_TYPE = 'text/xml; charset=utf-8';
/** SOAP 1.2, which some SP stacks send; its HTTP binding names it by media type (SOAP 1.2 Part 2 §7.1.4). */
export const SOAP12_ENV = 'http://www.w3.org/2003/05/soap-envelope';

export type SoapVersion = '1.1' | '1.2';

/**
 * Each SOAP version as its HTTP binding names it: the media type decides which one a request speaks
 * (`text/xml` is 1.1, `application/soap+xml` is 1.2), the envelope must agree, and the answer uses the
 * same version. Anything else is not SOAP.
 */
export const SOAP_VERSIONS: Readonly<Record<SoapVersion, { readonly namespace: string; readonly mediaType: string; readonly contentType: string }>> = {
  '1.1': { namespace: SOAP_ENV, mediaType: 'text/xml', contentType: SOAP_CONTENT_TYPE },
  '1.2': { namespace: SOAP12_ENV, mediaType: 'application/soap+xml', contentType: 'application/soap+xml; charset=utf-8' },
};

/** The SOAP version a request's media type names, if any. */
export function soapVersionOf(mediaType: string): SoapVersion | undefined {
  return (Object.keys(SOAP_VERSIONS) as SoapVersion[]).find((version) => SOAP_VERSIONS[version].mediaType === mediaType);
}

/** A SOAP-level failure (not a SAML one): answered with a SOAP Fault, HTTP 500 (SOAP 1.1 §6.2). */
export class SoapFault extends Error {
  readonly code: 'Client' | 'Server' | 'MustUnderstand' | 'VersionMismatch';
  constructor(code: SoapFault['code'], message: string) {
    super(message);
    this.name = 'SoapFault';
    this.code = code;
  }
}

const elementChildren = (parent: Element): Element[] => {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === 1) found.push(node as Element);
    else if ((node.nodeType === 3 || node.nodeType === 4) && (node.nodeValue ?? '').trim())
      throw new SoapFault('Client', `text is not allowed in ${parent.localName}`);
    else if (node.nodeType !== 3 && node.nodeType !== 8) throw new SoapFault('Client', `unexpected content in ${parent.localName}`);
  }
  return found;
};

/**
 * Parses a SOAP 1.1 envelope with the hardened SAML parser (DTDs refused, size-capped) and returns the one
 * element in its Body as a standalone XML document (namespace declarations carried over), so the SAML
 * message is verified and read exactly as the sender signed it, apart from anything around it.
 * The binding allows exactly one Body child and no header we must understand.
 */
export function soapBodyMessage(text: string, maxBytes = MAX_MESSAGE_BYTES, version: SoapVersion = '1.1'): string {
  const namespace = SOAP_VERSIONS[version].namespace;
  let root: Element;
  try {
    root = parseXml(text, maxBytes).documentElement!;
  } catch (error) {
    if (error instanceof SamlError) throw new SoapFault('Client', error.message);
    throw error;
  }
  if (root.localName !== 'Envelope') throw new SoapFault('Client', 'the message is not a SOAP envelope');
  if (root.namespaceURI !== namespace) {
    throw new SoapFault(
      'VersionMismatch',
      version === '1.1'
        ? 'a SOAP 1.1 envelope is expected with text/xml (SOAP 1.2 is sent as application/soap+xml)'
        : 'a SOAP 1.2 envelope is expected with application/soap+xml (SOAP 1.1 is sent as text/xml)',
    );
  }
  const parts = elementChildren(root);
  const header = parts[0]?.localName === 'Header' && parts[0].namespaceURI === namespace ? parts.shift() : undefined;
  if (parts.length !== 1 || parts[0]!.localName !== 'Body' || parts[0]!.namespaceURI !== namespace)
    throw new SoapFault('Client', 'the envelope must hold exactly one Body (after an optional Header)');
  if (header) {
    for (const entry of elementChildren(header)) {
      const mustUnderstand = entry.getAttributeNS(namespace, 'mustUnderstand');
      if (mustUnderstand === '1' || mustUnderstand === 'true') throw new SoapFault('MustUnderstand', `header ${entry.localName} is not understood`);
    }
  }
  const messages = elementChildren(parts[0]!);
  if (messages.length !== 1) throw new SoapFault('Client', 'the SOAP Body must hold exactly one SAML message');
  return serialize(messages[0]!);
}

/** A SOAP envelope (1.1 unless told) around one SAML message (our own, already signed XML). */
export function soapEnvelope(messageXml: string, version: SoapVersion = '1.1'): string {
  const body = messageXml.replace(/^<\?xml[^>]*\?>\s*/, '');
  return `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP_VERSIONS[version].namespace}"><SOAP-ENV:Body>${body}</SOAP-ENV:Body></SOAP-ENV:Envelope>`;
}

/** SOAP 1.2 renamed the 1.1 fault codes Client and Server (SOAP 1.2 Part 1 §5.4.6). */
const SOAP12_CODES: Readonly<Record<SoapFault['code'], string>> = {
  Client: 'Sender',
  Server: 'Receiver',
  MustUnderstand: 'MustUnderstand',
  VersionMismatch: 'VersionMismatch',
};

/** A SOAP Fault envelope (1.1 unless told); the reason is ours (never an input echoed unescaped). */
export function soapFaultEnvelope(fault: SoapFault, version: SoapVersion = '1.1'): string {
  const open = `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP_VERSIONS[version].namespace}"><SOAP-ENV:Body><SOAP-ENV:Fault>`;
  const close = `</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`;
  if (version === '1.2') {
    return `${open}<SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:${SOAP12_CODES[fault.code]}</SOAP-ENV:Value></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">${xmlEscape(fault.message)}</SOAP-ENV:Text></SOAP-ENV:Reason>${close}`;
  }
  return `${open}<faultcode>SOAP-ENV:${fault.code}</faultcode><faultstring>${xmlEscape(fault.message)}</faultstring>${close}`;
}

/**
 * The HTTP status of a Fault: always 500 in SOAP 1.1 (§6.2, which the SAML SOAP binding keeps, Bindings
 * §3.2.3.3); in SOAP 1.2 a Sender fault is 400 and the others 500 (Part 2 §7.5.1.2).
 */
export const soapFaultStatus = (fault: SoapFault, version: SoapVersion): number => (version === '1.2' && fault.code === 'Client' ? 400 : 500);
