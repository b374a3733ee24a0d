/**
 * The media types API Gateway treats as binary (the REST API's `binaryMediaTypes`, set by lib/api.ts), and
 * the local gateway with it, so both encode bodies the same way: a request or response body of one of
 * these types travels base64 in the proxy event and result (`isBase64Encoded: true`); every other body
 * travels as UTF-8 text (`isBase64Encoded: false`), as API Gateway does for types not in the list.
 * Card API payloads (APDUs, certificates) use these types. No aws-cdk-lib here: the local gateway and the
 * functions import this file too.
 */
export const BINARY_MEDIA_TYPES: readonly string[] = [
  'application/octet-stream',
  'application/cbor',
  // The card CA's PKI endpoints (RFC 2585, RFC 6960): certificates, CRLs, OCSP requests and responses.
  'application/pkix-cert',
  'application/pkix-crl',
  'application/ocsp-request',
  'application/ocsp-response',
];

/** Whether a Content-Type header names one of the binary media types (parameters and case ignored). */
export function isBinaryMediaType(contentType: string | undefined): boolean {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return BINARY_MEDIA_TYPES.includes(mediaType);
}
