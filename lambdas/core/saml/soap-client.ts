import { SOAP_CONTENT_TYPE, SoapFault, soapBodyMessage, soapEnvelope } from './soap.ts';
import { MAX_MESSAGE_BYTES, SamlError } from './xml.ts';

/** What the core needs to call a service provider: one HTTP POST, bounded in time and size. */
export interface HttpPost {
  (url: string, request: { readonly body: string; readonly headers: Readonly<Record<string, string>>; readonly timeoutMs: number; readonly maxResponseBytes: number }): Promise<{
    readonly status: number;
    readonly contentType: string;
    readonly body: string;
  }>;
}

/** A SOAP call to an SP must finish well inside the function's own timeout. */
export const SOAP_TIMEOUT_MS = 3000;

/**
 * One SAML SOAP exchange (Bindings §3.2.3): POSTs our message in an envelope and returns the SAML
 * message in the answer's Body, as a standalone document. Faults, other statuses, oversized or
 * malformed answers become SamlErrors (the caller answers its own peer with a SAML status).
 */
export async function soapCall(http: HttpPost, url: string, messageXml: string): Promise<string> {
  let answer;
  try {
    answer = await http(url, {
      body: soapEnvelope(messageXml),
      headers: { 'Content-Type': SOAP_CONTENT_TYPE, SOAPAction: 'http://www.oasis-open.org/committees/security' },
      timeoutMs: SOAP_TIMEOUT_MS,
      maxResponseBytes: MAX_MESSAGE_BYTES,
    });
  } catch (error) {
    throw new SamlError(`the SOAP call to ${url} failed: ${(error as Error).message}`, 'urn:oasis:names:tc:SAML:2.0:status:Responder');
  }
  if (Buffer.byteLength(answer.body, 'utf8') > MAX_MESSAGE_BYTES) throw new SamlError('the SOAP answer is too large', 'urn:oasis:names:tc:SAML:2.0:status:Responder');
  if (answer.status !== 200) throw new SamlError(`the SOAP endpoint answered HTTP ${answer.status}`, 'urn:oasis:names:tc:SAML:2.0:status:Responder');
  try {
    return soapBodyMessage(answer.body);
  } catch (error) {
    if (error instanceof SoapFault) throw new SamlError(`the SOAP answer is not valid: ${error.message}`, 'urn:oasis:names:tc:SAML:2.0:status:Responder');
    throw error;
  }
}
