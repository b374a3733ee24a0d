import { SOAP_CONTENT_TYPE, SoapFault, soapFaultEnvelope } from '../../../core/saml/soap.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';

/** Whether a POST is a SOAP message (SAML SOAP binding: `text/xml`) rather than an HTML form. */
export const isSoap = (request: ApiRequest): boolean => (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === 'text/xml';

export const soapResponse = (envelope: string): ApiResponse => ({
  statusCode: 200,
  headers: { 'Content-Type': SOAP_CONTENT_TYPE, 'Cache-Control': 'no-store' },
  body: envelope,
});

/** SOAP 1.1 §6.2: a fault is answered with HTTP 500 and the Fault envelope. */
export const soapFaultResponse = (fault: SoapFault): ApiResponse => ({
  statusCode: 500,
  headers: { 'Content-Type': SOAP_CONTENT_TYPE, 'Cache-Control': 'no-store' },
  body: soapFaultEnvelope(fault),
});

/**
 * Runs a SOAP endpoint: the body must be `text/xml`; a SoapFault (malformed or oversized envelope,
 * header we must understand) becomes a Fault response rather than a problem JSON.
 */
export async function soapEndpoint(request: ApiRequest, run: (envelope: string) => Promise<string>): Promise<ApiResponse> {
  if (!isSoap(request)) return soapFaultResponse(new SoapFault('Client', 'a SOAP message must be sent as text/xml'));
  const envelope = request.rawBody?.toString('utf8') ?? '';
  if (!envelope) return soapFaultResponse(new SoapFault('Client', 'the request has no SOAP envelope'));
  try {
    return soapResponse(await run(envelope));
  } catch (error) {
    if (error instanceof SoapFault) return soapFaultResponse(error);
    throw error;
  }
}
