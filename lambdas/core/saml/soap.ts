import type { Element } from '@xmldom/xmldom';
import { MAX_MESSAGE_BYTES, parseXml, SamlError, serialize, xmlEscape } from './xml.ts';

/** SOAP 1.1, the envelope the SAML SOAP binding uses (SAML Bindings §3.2). */
export const SOAP_ENV = 'http://schemas.xmlsoap.org/soap/envelope/';
export const SOAP_CONTENT_TYPE = 'text/xml; charset=utf-8';

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
    else if ((node.nodeType === 3 || node.nodeType === 4) && (node.nodeValue ?? '').trim()) throw new SoapFault('Client', `text is not allowed in ${parent.localName}`);
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
export function soapBodyMessage(text: string, maxBytes = MAX_MESSAGE_BYTES): string {
  let root: Element;
  try {
    root = parseXml(text, maxBytes).documentElement!;
  } catch (error) {
    if (error instanceof SamlError) throw new SoapFault('Client', error.message);
    throw error;
  }
  if (root.localName !== 'Envelope') throw new SoapFault('Client', 'the message is not a SOAP envelope');
  if (root.namespaceURI !== SOAP_ENV) throw new SoapFault('VersionMismatch', 'only SOAP 1.1 envelopes are accepted');
  const parts = elementChildren(root);
  const header = parts[0]?.localName === 'Header' && parts[0].namespaceURI === SOAP_ENV ? parts.shift() : undefined;
  if (parts.length !== 1 || parts[0]!.localName !== 'Body' || parts[0]!.namespaceURI !== SOAP_ENV) throw new SoapFault('Client', 'the envelope must hold exactly one Body (after an optional Header)');
  if (header) {
    for (const entry of elementChildren(header)) {
      const mustUnderstand = entry.getAttributeNS(SOAP_ENV, 'mustUnderstand');
      if (mustUnderstand === '1' || mustUnderstand === 'true') throw new SoapFault('MustUnderstand', `header ${entry.localName} is not understood`);
    }
  }
  const messages = elementChildren(parts[0]!);
  if (messages.length !== 1) throw new SoapFault('Client', 'the SOAP Body must hold exactly one SAML message');
  return serialize(messages[0]!);
}

/** A SOAP 1.1 envelope around one SAML message (our own, already signed XML). */
export function soapEnvelope(messageXml: string): string {
  const body = messageXml.replace(/^<\?xml[^>]*\?>\s*/, '');
  return `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP_ENV}"><SOAP-ENV:Body>${body}</SOAP-ENV:Body></SOAP-ENV:Envelope>`;
}

/** A SOAP 1.1 Fault envelope; the reason is ours (never an input echoed unescaped). */
export function soapFaultEnvelope(fault: SoapFault): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP_ENV}"><SOAP-ENV:Body><SOAP-ENV:Fault>` +
    `<faultcode>SOAP-ENV:${fault.code}</faultcode><faultstring>${xmlEscape(fault.message)}</faultstring>` +
    `</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`
  );
}
