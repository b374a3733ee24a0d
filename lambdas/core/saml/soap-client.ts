import type { OutboundHttp } from '../../ports.ts';
import { SOAP_CONTENT_TYPE, SoapFault, soapBodyMessage, soapEnvelope } from './soap.ts';
import { MAX_MESSAGE_BYTES, SamlError } from './xml.ts';

/** A SOAP call to an SP must finish well inside the function's own timeout. */
export const SOAP_TIMEOUT_MS = 3000;

/**
 * What a caller (a browser, an SP) learns of any failed SOAP call. Refused by the outbound policy, no
 * connection, timeout, too large, an HTTP error status, a SOAP Fault or no SAML message: all read the
 * same, so the IdP cannot be used to tell open ports or hosts apart. The details are in the logs.
 */
export const SP_UNREACHABLE = 'the service provider could not be reached';

/**
 * One SAML SOAP exchange (Bindings §3.2.3): POSTs our message in an envelope through the outbound
 * HTTP port and returns the SAML message in the answer's Body, as a standalone document. Every failure
 * is the same SamlError (the caller answers its own peer with a SAML status).
 */
export async function soapCall(http: OutboundHttp, url: string, messageXml: string): Promise<string> {
  const unreachable = () => new SamlError(SP_UNREACHABLE, 'urn:oasis:names:tc:SAML:2.0:status:Responder');
  let answer;
  try {
    answer = await http.request(url, {
      method: 'POST',
      body: soapEnvelope(messageXml),
      headers: { 'Content-Type': SOAP_CONTENT_TYPE, SOAPAction: 'http://www.oasis-open.org/committees/security' },
      timeoutMs: SOAP_TIMEOUT_MS,
      maxResponseBytes: MAX_MESSAGE_BYTES,
    });
  } catch {
    throw unreachable(); // the port logged why
  }
  if (answer.status !== 200 || Buffer.byteLength(answer.body, 'utf8') > MAX_MESSAGE_BYTES) throw unreachable(); // status logged by the port
  try {
    return soapBodyMessage(answer.body);
  } catch (error) {
    if (error instanceof SoapFault || error instanceof SamlError) throw unreachable();
    throw error;
  }
}
