import { decodeProtectedHeader, errors } from 'jose';
import type { Clock } from '../../ports.ts';
import { OutboundCallError } from '../outbound/url-policy.ts';
import { CLIENT_SIGNING_ALGORITHMS, type OidcClient } from './client.ts';
import { verifyWithClientKeys, type ClientKeys } from './client-keys.ts';
import { OAuthError } from './errors.ts';

export const REQUEST_OBJECT_ALGORITHMS: readonly string[] = CLIENT_SIGNING_ALGORITHMS;
/** RFC 9101 §4: the media type request objects should name; plain `JWT` (or none) is accepted too. */
const REQUEST_OBJECT_TYPES = ['oauth-authz-req+jwt', 'JWT'];
const CLOCK_TOLERANCE_SECONDS = 30;
/** A request object is used at once; one valid for longer than this is refused (a replayable request). */
const MAX_LIFETIME_SECONDS = 3600;
/** JWT claims that are about the request object itself, not authorization request parameters. */
const JWT_CLAIMS = new Set(['iss', 'aud', 'exp', 'iat', 'nbf', 'jti']);

const invalidRequestObject = (description: string) => new OAuthError('invalid_request_object', description);

export interface RequestObjectDeps {
  readonly keys: Pick<ClientKeys, 'resolver'>;
  readonly clock: Clock;
}

/**
 * A signed request object (RFC 9101, JAR) by value: verified with the client's registered keys (`jwks` or
 * `jwks_uri`), with an asymmetric algorithm (the client's `request_object_signing_alg` when it set one;
 * never `none`), `aud` naming the issuer, `iss` and `client_id` (when present) naming the client. Its
 * claims are the authorization request's parameters, and the only ones (RFC 9101 §5): the caller uses
 * them instead of the query's, with the outer `client_id`.
 */
export async function verifyRequestObject(jwt: string, client: OidcClient, issuer: string, deps: RequestObjectDeps): Promise<Record<string, string>> {
  let header;
  try {
    header = decodeProtectedHeader(jwt);
  } catch {
    throw invalidRequestObject('the request object is not a signed JWT');
  }
  if (jwt.split('.').length !== 3) throw invalidRequestObject('the request object must be a signed JWT (JWS), not encrypted');
  const alg = header.alg ?? '';
  if (!REQUEST_OBJECT_ALGORITHMS.includes(alg)) throw invalidRequestObject(`request object alg must be one of ${REQUEST_OBJECT_ALGORITHMS.join(', ')}`);
  if (client.request_object_signing_alg && alg !== client.request_object_signing_alg)
    throw invalidRequestObject(`this client signs request objects with ${client.request_object_signing_alg}`);
  if (header.typ !== undefined && !REQUEST_OBJECT_TYPES.includes(header.typ)) throw invalidRequestObject('request object typ must be oauth-authz-req+jwt');
  const keys = deps.keys.resolver(client);
  if (!keys) throw invalidRequestObject('the client has registered no keys (jwks or jwks_uri) to verify request objects with');

  let payload;
  try {
    ({ payload } = await verifyWithClientKeys(jwt, keys, {
      algorithms: [alg],
      audience: issuer,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      currentDate: new Date(deps.clock.now()),
    }));
  } catch (error) {
    throw invalidRequestObject(failure(error));
  }
  if (payload.iss !== undefined && payload.iss !== client.client_id) throw invalidRequestObject('request object iss must be the client_id');
  if (payload['client_id'] !== undefined && payload['client_id'] !== client.client_id)
    throw invalidRequestObject('request object client_id does not match the client_id parameter');
  if (payload.exp !== undefined && payload.exp > deps.clock.now() / 1000 + MAX_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS)
    throw invalidRequestObject('request object expires too far in the future');
  if (payload['request'] !== undefined || payload['request_uri'] !== undefined)
    throw invalidRequestObject('a request object must not contain request or request_uri');

  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(payload)) {
    if (JWT_CLAIMS.has(name) || value === null || value === undefined) continue;
    // Parameters are strings in a query; a number (max_age) or an object (claims) is their JSON form.
    params[name] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  params['client_id'] = client.client_id;
  return params;
}

function failure(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the request object has expired';
  if (error instanceof errors.JWTClaimValidationFailed)
    return error.claim === 'aud' ? 'request object aud must name this issuer' : `request object ${error.claim} claim is invalid`;
  if (error instanceof errors.JWKSNoMatchingKey) return 'no registered key of the client matches the request object';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the request object signature is invalid';
  if (error instanceof OutboundCallError) return 'the client keys (jwks_uri) could not be fetched';
  return 'the request object is invalid';
}
