import { DOMParser, XMLSerializer, type Document, type Element } from '@xmldom/xmldom';

/** SAML, metadata and XML Signature namespaces. */
export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xs: 'http://www.w3.org/2001/XMLSchema',
} as const;

export const BINDING = {
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
  artifact: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact',
  soap: 'urn:oasis:names:tc:SAML:2.0:bindings:SOAP',
} as const;

/** A message we refuse: the caller answers with an error page or a SAML status, never a stack trace. */
export class SamlError extends Error {
  readonly status: string;
  constructor(message: string, status = 'urn:oasis:names:tc:SAML:2.0:status:Requester') {
    super(message);
    this.name = 'SamlError';
    this.status = status;
  }
}

/** Largest XML document we parse (a metadata document may be larger than a protocol message). */
export const MAX_MESSAGE_BYTES = 64 * 1024;
export const MAX_METADATA_BYTES = 512 * 1024;

/**
 * Parses untrusted XML. DTDs (and so every entity declaration, internal or external) are refused before
 * the parser sees the text: no XXE, no billion laughs. Every parser warning or error is fatal.
 */
export function parseXml(text: string, maxBytes = MAX_MESSAGE_BYTES): Document {
  if (Buffer.byteLength(text, 'utf8') > maxBytes) throw new SamlError(`the XML document exceeds ${maxBytes} bytes`);
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text)) throw new SamlError('XML with a document type declaration or entities is refused');
  // Processing instructions other than the XML declaration have no place in SAML messages.
  if (/<\?(?!xml[\s?])/i.test(text.replace(/^\uFEFF/, ''))) throw new SamlError('XML processing instructions are refused');
  let document: Document;
  try {
    document = new DOMParser({
      onError: (level, message) => {
        throw new SamlError(`malformed XML (${level}): ${message}`);
      },
    }).parseFromString(text, 'text/xml');
  } catch (error) {
    if (error instanceof SamlError) throw error;
    throw new SamlError(`malformed XML: ${(error as Error).message}`);
  }
  if (!document.documentElement) throw new SamlError('the XML document has no root element');
  return document;
}

export const serialize = (node: Document | Element): string => new XMLSerializer().serializeToString(node);

/** Element children of `parent` with this namespace and local name, in document order. */
export function children(parent: Element, ns: string, localName: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === 1) {
      const element = node as Element;
      if (element.namespaceURI === ns && element.localName === localName) found.push(element);
    }
  }
  return found;
}

/** The only child of that name, or undefined; two of them is a malformed message. */
export function child(parent: Element, ns: string, localName: string): Element | undefined {
  const found = children(parent, ns, localName);
  if (found.length > 1) throw new SamlError(`${parent.localName} has more than one ${localName}`);
  return found[0];
}

/**
 * The text of an element, refusing anything but text and CDATA inside: a comment inside a NameID or
 * Issuer (the comment-truncation trick) or a nested element is rejected rather than half-read.
 */
export function textOf(element: Element): string {
  let text = '';
  for (let node = element.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === 3 || node.nodeType === 4) text += node.nodeValue ?? '';
    else throw new SamlError(`${element.localName} must contain text only`);
  }
  return text.trim();
}

/** Every element (any depth) carrying this ID-type attribute value. */
export function elementsWithId(document: Document, id: string): Element[] {
  const found: Element[] = [];
  const walk = (element: Element): void => {
    for (const name of ['ID', 'Id', 'id']) if (element.getAttribute(name) === id) found.push(element);
    for (let node = element.firstChild; node; node = node.nextSibling) if (node.nodeType === 1) walk(node as Element);
  };
  walk(document.documentElement!);
  return found;
}

/** Escapes text for an attribute or element value in XML we build as text. */
export function xmlEscape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** SAML's xs:dateTime, UTC with millisecond precision dropped. */
export const samlInstant = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** A SAML ID: an NCName (must not start with a digit), 160 bits of randomness. */
export const samlId = (bytes: Uint8Array): string => `_${Buffer.from(bytes).toString('hex')}`;
