/**
 * The media types API Gateway treats as binary (the REST API's `binaryMediaTypes`, set by lib/api.ts), and
 * the local gateway with it, so both encode bodies the same way. The list is `*\/*`, every type:
 *
 * - Requests: every body reaches the functions base64-encoded (`isBase64Encoded: true`); the one body
 *   parser (lambdas/http/body.ts) decodes it before any route reads it, so forms, JSON and SAML XML are
 *   seen exactly as before.
 * - Responses: API Gateway decodes a result to bytes only when the function flagged it base64
 *   (`isBase64Encoded: true`) and the client's first `Accept` type matches the list. With `*\/*` every
 *   Accept matches, a missing one included, so the PKI answers (DER certificate, CRL, OCSP response) and
 *   the card API's bytes reach `openssl ocsp -url`, `curl` and Windows' CRL fetcher as bytes without the
 *   client naming the type; text results (`isBase64Encoded: false`) pass through unchanged.
 *
 * A narrower list would need every relying party to send the exact type first in `Accept`, which OpenSSL
 * and CryptoAPI do not. No aws-cdk-lib here: the local gateway and the functions import this file too.
 */
export const BINARY_MEDIA_TYPES: readonly string[] = ['*/*'];

/**
 * Whether a Content-Type (request) or first Accept type (response) matches one of the binary media types,
 * parameters and case ignored, `type/*` and `*\/*` as wildcards. A missing header is "any type" (RFC 9110
 * §12.5.1 for Accept), which only `*\/*` matches.
 */
export function isBinaryMediaType(mediaTypeHeader: string | undefined): boolean {
  const mediaType = (mediaTypeHeader ?? '').split(';')[0]!.trim().toLowerCase();
  const [type = '', subtype = ''] = mediaType.split('/');
  return BINARY_MEDIA_TYPES.some((pattern) => {
    if (pattern === '*/*') return true;
    const [patternType, patternSubtype] = pattern.split('/');
    return patternType === type && (patternSubtype === '*' || patternSubtype === subtype);
  });
}
