import {
  SoapFault,
  soapBodyMessage,
  soapEnvelope,
  soapFaultEnvelope,
  soapFaultStatus,
  soapVersionOf,
  SOAP_VERSIONS,
  type SoapVersion,
} from '../../../core/saml/soap.ts';
import type { HttpProblem } from '../../problem.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';

const mediaTypeOf = (request: ApiRequest): string => (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();

/**
 * Whether a POST to an endpoint that serves both the browser and SOAP goes to SOAP: everything that is
 * not an HTML form, so a wrong Content-Type gets a SOAP Fault rather than a page (one rule for every endpoint).
 */
export const isSoapPost = (request: ApiRequest): boolean => request.method === 'POST' && mediaTypeOf(request) !== 'application/x-www-form-urlencoded';

export const soapResponse = (envelope: string, version: SoapVersion = '1.1'): ApiResponse => ({
  statusCode: 200,
  headers: { 'Content-Type': SOAP_VERSIONS[version].contentType, 'Cache-Control': 'no-store' },
  body: envelope,
});

/**
 * A Fault, with the HTTP status its SOAP version's binding gives it. Faults answer the caller's mistakes
 * (bad media type or envelope), so they are counted as `SoapFault`, apart from the failures the API 5xx
 * alarm watches (lib/monitoring.ts subtracts them).
 */
export const soapFaultResponse = (fault: SoapFault, version: SoapVersion = '1.1'): ApiResponse => ({
  statusCode: soapFaultStatus(fault, version),
  headers: { 'Content-Type': SOAP_VERSIONS[version].contentType, 'Cache-Control': 'no-store' },
  body: soapFaultEnvelope(fault, version),
  countAs: 'SoapFault',
});

/** A body the frame could not parse (JSON sent to a SOAP endpoint) is a SOAP 1.1 Client Fault, like any other media type. */
export const soapMalformedBody = (problem: HttpProblem): ApiResponse => soapFaultResponse(new SoapFault('Client', problem.detail ?? problem.title));

/**
 * Runs a SOAP endpoint on the SAML message in the Body: `text/xml` is SOAP 1.1 (the SAML binding),
 * `application/soap+xml` SOAP 1.2, and the answer (`run` returns our SAML message) goes back in the same
 * version. Any other media type, a malformed or oversized envelope, one of the other version or a header
 * we must understand is a Fault (SOAP 1.1 when the media type names no version).
 */
export async function soapEndpoint(request: ApiRequest, run: (messageXml: string) => Promise<string>): Promise<ApiResponse> {
  const version = soapVersionOf(mediaTypeOf(request));
  if (!version) return soapFaultResponse(new SoapFault('Client', 'a SOAP message must be sent as text/xml (SOAP 1.1) or application/soap+xml (SOAP 1.2)'));
  const envelope = request.rawBody?.toString('utf8') ?? '';
  if (!envelope) return soapFaultResponse(new SoapFault('Client', 'the request has no SOAP envelope'), version);
  try {
    return soapResponse(soapEnvelope(await run(soapBodyMessage(envelope, undefined, version)), version), version);
  } catch (error) {
    if (error instanceof SoapFault) return soapFaultResponse(error, version);
    throw error;
  }
}
