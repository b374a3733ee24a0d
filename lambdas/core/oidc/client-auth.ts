import { decodeJwt, errors, type JWTPayload } from 'jose';
import type { Clock } from '../../ports.ts';
import { type Clients, type OidcClient } from './client.ts';
import { verifyWithClientKeys, type ClientKeys } from './client-keys.ts';
import { invalidClient, invalidRequest } from './errors.ts';
import type { ReplayCache } from './replay.ts';
import { OutboundCallError } from '../outbound/url-policy.ts';

export interface ClientAuthRequest {
  readonly tenant: string;
  /** The Authorization header. */
  readonly authorization?: string;
  /** The parsed x-www-form-urlencoded body. */
  readonly form: Readonly<Record<string, string>>;
  /** Acceptable `aud` values for client assertions: the endpoint URL and the issuer. */
  readonly audiences: readonly string[];
}

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

export interface ClientAuthDeps {
  readonly clients: Pick<Clients, 'find' | 'verifySecret'>;
  readonly replay: Pick<ReplayCache, 'firstUse'>;
  readonly clock: Clock;
  /** The client's registered keys (`jwks` or `jwks_uri`). */
  readonly keys: Pick<ClientKeys, 'resolver'>;
}

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/**
 * The `alg`s a client assertion may use, at every endpoint that authenticates clients (token, device,
 * introspection, revocation); discovery advertises exactly these for each. Asymmetric only: there is
 * no client_secret_jwt, so HS256 never authenticates anyone. `Ed25519` is the fully-specified name of
 * EdDSA over Ed25519 (RFC 9864), which openid-client 6 puts in the header of an Ed25519 key's assertion.
 */
export const CLIENT_ASSERTION_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'] as const;
const CLOCK_TOLERANCE_SECONDS = 30;
/** A client assertion is a one-shot credential: refuse long-lived ones (they would be replayable bearer keys). */
const MAX_ASSERTION_LIFETIME_SECONDS = 600;
/** RFC 6749 §5.2: a failed Basic authentication answers 401 with a challenge for the same scheme. */
const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="cloudcard", error="invalid_client"' };

type Presented =
  | { readonly method: 'client_secret_basic' | 'client_secret_post'; readonly clientId: string; readonly secret: string }
  | { readonly method: 'none'; readonly clientId: string }
  | { readonly method: 'private_key_jwt'; readonly assertion: string };

/**
 * Authenticates the client of a token, introspection or revocation request by whichever one method it
 * used (RFC 6749 §2.3, RFC 7523 §2.2), and only if that is the method the client registered.
 */
export async function authenticateClient(request: ClientAuthRequest, deps: ClientAuthDeps): Promise<{ client: OidcClient; method: ClientAuthMethod }> {
  const presented = detect(request);
  if (presented.method === 'private_key_jwt') return { client: await assertionClient(request, presented.assertion, deps), method: 'private_key_jwt' };

  const challenge = presented.method === 'client_secret_basic' ? BASIC_CHALLENGE : {};
  const client = await deps.clients.find(request.tenant, presented.clientId);
  if (!client) throw invalidClient('unknown client', challenge);
  requireMethod(client, presented.method, challenge);
  if (presented.method !== 'none' && !(await deps.clients.verifySecret(request.tenant, client.client_id, presented.secret, client))) {
    throw invalidClient('invalid client secret', challenge);
  }
  return { client, method: presented.method };
}

/** Which method the request used; structural problems are reported before any lookup. */
function detect(request: ClientAuthRequest): Presented {
  const { form } = request;
  const basic = request.authorization !== undefined && /^basic(\s|$)/i.test(request.authorization.trim());
  const post = form['client_secret'] !== undefined;
  const jwt = form['client_assertion'] !== undefined || form['client_assertion_type'] !== undefined;
  if (Number(basic) + Number(post) + Number(jwt) > 1) throw invalidRequest('more than one client authentication method');

  if (basic) {
    const { clientId, secret } = parseBasic(request.authorization!);
    if (form['client_id'] !== undefined && form['client_id'] !== clientId) throw invalidRequest('client_id does not match the authenticated client');
    return { method: 'client_secret_basic', clientId, secret };
  }
  if (jwt) {
    if (form['client_assertion_type'] !== CLIENT_ASSERTION_TYPE) throw invalidClient('unsupported client_assertion_type');
    const assertion = form['client_assertion'];
    if (!assertion) throw invalidRequest('client_assertion is missing');
    return { method: 'private_key_jwt', assertion };
  }
  const clientId = form['client_id'];
  if (post) {
    if (!clientId) throw invalidRequest('client_secret requires client_id');
    return { method: 'client_secret_post', clientId, secret: form['client_secret']! };
  }
  if (!clientId) throw invalidClient('no client authentication');
  return { method: 'none', clientId };
}

/** RFC 6749 §2.3.1: id and secret are each form-urlencoded, then joined by ":" and base64-encoded. */
function parseBasic(header: string): { clientId: string; secret: string } {
  const match = /^basic\s+([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim());
  const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon < 1) throw invalidClient('malformed Basic authorization header', BASIC_CHALLENGE);
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw invalidClient('malformed Basic authorization header', BASIC_CHALLENGE);
  }
}

const formDecode = (value: string): string => decodeURIComponent(value.replace(/\+/g, ' '));

function requireMethod(client: OidcClient, method: ClientAuthMethod, challenge: Record<string, string>): void {
  if (client.token_endpoint_auth_method !== method) {
    throw invalidClient(`client is registered for ${client.token_endpoint_auth_method}, not ${method}`, challenge);
  }
}

/** RFC 7523 §3: a JWT signed with one of the client's registered keys, single use. */
async function assertionClient(request: ClientAuthRequest, assertion: string, deps: ClientAuthDeps): Promise<OidcClient> {
  // The cheap checks on the unverified claims first: they also tell which client's keys to use.
  let claims: JWTPayload;
  try {
    claims = decodeJwt(assertion);
  } catch {
    throw invalidClient('client assertion is not a JWT');
  }
  const clientId = claims.sub;
  if (typeof clientId !== 'string' || clientId === '') throw invalidClient('client assertion lacks the sub claim');
  if (claims.iss !== clientId) throw invalidClient('client assertion iss must equal sub');
  if (request.form['client_id'] !== undefined && request.form['client_id'] !== clientId)
    throw invalidRequest('client_id does not match the authenticated client');
  const { exp, jti } = claims;
  if (typeof exp !== 'number') throw invalidClient('client assertion lacks the exp claim');
  const now = deps.clock.now() / 1000;
  if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS) throw invalidClient('client assertion expires too far in the future');
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) throw invalidClient('client assertion lacks a valid jti');

  const client = await deps.clients.find(request.tenant, clientId);
  if (!client) throw invalidClient('unknown client');
  requireMethod(client, 'private_key_jwt', {});
  const keys = deps.keys.resolver(client);
  if (!keys) throw invalidClient('client has no registered keys');

  try {
    await verifyWithClientKeys(assertion, keys, {
      algorithms: [...CLIENT_ASSERTION_ALGORITHMS],
      issuer: clientId,
      subject: clientId,
      audience: [...request.audiences],
      requiredClaims: ['exp', 'jti'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      currentDate: new Date(deps.clock.now()),
    });
  } catch (error) {
    throw invalidClient(assertionFailure(error));
  }
  // Kept past exp by the tolerance, since an assertion is accepted that much after its exp.
  if (!(await deps.replay.firstUse(`pkjwt:${request.tenant}:${clientId}`, jti, exp + CLOCK_TOLERANCE_SECONDS))) {
    throw invalidClient('client assertion replayed');
  }
  return client;
}

function assertionFailure(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'client assertion has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return `client assertion lacks the ${error.claim} claim`;
    return error.claim === 'aud' ? 'client assertion aud does not name this server' : `client assertion ${error.claim} claim is invalid`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'client assertion alg is not allowed';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no registered key matches the client assertion';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'client assertion signature is invalid';
  // The keys at the client's jwks_uri could not be fetched: the cause is in the outbound log.
  if (error instanceof OutboundCallError) return 'the client keys (jwks_uri) could not be fetched';
  return 'client assertion is invalid';
}
