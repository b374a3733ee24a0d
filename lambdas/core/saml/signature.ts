import type { KeyObject } from 'node:crypto';
import type { Document, Element } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { child, children, elementsWithId, NS, parseXml, SamlError } from './xml.ts';

export const ALG = {
  rsaSha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  excC14n: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  enveloped: 'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
} as const;

/** Accepted on what the SPs send us: SHA-256 or better, never SHA-1. */
const ACCEPTED_SIGNATURE_ALGORITHMS = new Set([ALG.rsaSha256, 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512']);

export interface SigningKey {
  readonly privateKey: KeyObject;
  /** The certificate published in our metadata (PEM), sent in KeyInfo for the SP's convenience only. */
  readonly certificatePem: string;
}

/**
 * Signs one element enveloped (RSA-SHA256, exclusive C14N, Reference URI = the element's ID) and places
 * the Signature right after the element's Issuer, where the SAML schema wants it.
 * `path` is an XPath to the element, e.g. `/*[local-name()='Response']`.
 */
export function signEnveloped(xml: string, path: string, key: SigningKey, place: 'after-issuer' | 'first-child' = 'after-issuer'): string {
  const signed = new SignedXml({
    // The KeyObject itself: no PEM export and re-parse of the private key on every signature.
    privateKey: key.privateKey,
    publicCert: key.certificatePem,
    signatureAlgorithm: ALG.rsaSha256,
    canonicalizationAlgorithm: ALG.excC14n,
  });
  signed.addReference({ xpath: path, digestAlgorithm: ALG.sha256, transforms: [ALG.enveloped, ALG.excC14n] });
  signed.computeSignature(xml, {
    prefix: 'ds',
    location: place === 'after-issuer' ? { reference: `${path}/*[local-name()='Issuer']`, action: 'after' } : { reference: path, action: 'prepend' },
  });
  return signed.getSignedXml();
}

/**
 * Verifies the enveloped signature of the document's root element with the SP's metadata certificates
 * only (KeyInfo is ignored), and returns the root as it was signed. Refused: no signature or more than
 * one, a reference to anything but the root by its ID (wrapping), an ID that occurs twice, a transform
 * other than enveloped + C14N, a weak algorithm.
 */
export function verifyRootSignature(xml: string, document: Document, certificates: readonly string[]): Element {
  const root = document.documentElement!;
  const signatures = children(root, NS.dsig, 'Signature');
  if (signatures.length !== 1) throw new SamlError(signatures.length ? 'more than one signature on the message' : 'the message is not signed');
  const id = root.getAttribute('ID');
  if (!id) throw new SamlError('the signed element has no ID');
  if (elementsWithId(document, id).length !== 1) throw new SamlError('the signed ID occurs more than once');
  const signatureNode = signatures[0]!;
  const signedInfo = child(signatureNode, NS.dsig, 'SignedInfo');
  const method = signedInfo && child(signedInfo, NS.dsig, 'SignatureMethod')?.getAttribute('Algorithm');
  if (!method || !ACCEPTED_SIGNATURE_ALGORITHMS.has(method)) throw new SamlError('the signature algorithm is not accepted (SHA-256 or better)');
  const references = signedInfo ? children(signedInfo, NS.dsig, 'Reference') : [];
  if (references.length !== 1 || references[0]!.getAttribute('URI') !== `#${id}`) throw new SamlError('the signature does not cover the message it is on');
  if (certificates.length === 0) throw new SamlError('the service provider has no signing certificate in its metadata');
  for (const certificate of certificates) {
    const verifier = new SignedXml({ publicCert: certificate, getCertFromKeyInfo: () => null });
    verifier.loadSignature(signatureNode);
    let valid = false;
    try {
      valid = verifier.checkSignature(xml);
    } catch {
      valid = false;
    }
    if (!valid) continue;
    const signedReferences = verifier.getSignedReferences();
    if (signedReferences.length !== 1) throw new SamlError('the signature does not cover exactly one element');
    // Consume what was signed, not the document around it.
    const signed = parseXml(signedReferences[0]!).documentElement!;
    if (signed.localName !== root.localName || signed.namespaceURI !== root.namespaceURI || signed.getAttribute('ID') !== id) {
      throw new SamlError('the signed element is not the message');
    }
    return signed;
  }
  throw new SamlError("the signature is not valid with the service provider's metadata key");
}
