import type { ApiRequest, ApiResponse } from './types.ts';

/** Request headers a browser app may send: DPoP proofs, tokens, form or JSON bodies. */
export const CORS_ALLOW_HEADERS = 'Authorization, Content-Type, DPoP';
/** Response headers a browser app must read: the DPoP nonce and the RFC 6750 / RFC 9449 challenge. */
export const CORS_EXPOSE_HEADERS = 'DPoP-Nonce, WWW-Authenticate';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

/**
 * How a route may be called by scripts of other origins (a route opts in with `cors:` on its
 * declaration; without it, no CORS header is ever sent and OPTIONS is a 405).
 * - `public`: metadata anyone may read (discovery, JWKS): `Access-Control-Allow-Origin: *`.
 * - `client`: an endpoint a client calls with its own credentials in the request (token, userinfo,
 *   revocation, introspection): only the origins of the client making the request, never a wildcard and
 *   never with cookies (no `Access-Control-Allow-Credentials`). A request whose Origin is not the
 *   client's is refused before the route runs, with the route's own protocol error.
 */
export type CorsPolicy =
  | { readonly kind: 'public' }
  | {
      readonly kind: 'client';
      /** The origins of the client this request names (empty when it names none or an unknown one). */
      readonly originsOf: (request: ApiRequest) => Promise<readonly string[]>;
      /** The route's protocol error for a disallowed origin. */
      readonly refuse: (origin: string) => ApiResponse;
    };

export const PUBLIC_CORS: CorsPolicy = { kind: 'public' };

/**
 * The answer to a preflight (`OPTIONS`). A preflight carries no body and no credentials, so the client
 * is unknown yet: for `client` routes it is allowed for any origin with `*` (no origin is reflected, and
 * `*` forbids credentialed requests), and the real request is then held to the client's origins. This is
 * what oidc-provider does too (its preflight answers any origin; `clientBasedCORS` judges the request).
 */
export function preflightResponse(methods: readonly string[]): ApiResponse {
  return {
    statusCode: 204,
    headers: {
      Allow: [...methods, 'OPTIONS'].join(', '),
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Methods': methods.join(', '),
      'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS,
      'Access-Control-Max-Age': PREFLIGHT_MAX_AGE_SECONDS,
    },
    body: '',
  };
}

/**
 * The CORS headers for a real request on a route with a policy, or the refusal when the request comes
 * from an origin its client did not register. A request without Origin (a server, a same-origin GET) gets
 * only `Vary: Origin` on client routes.
 */
export async function corsDecision(policy: CorsPolicy, request: ApiRequest): Promise<{ headers: Record<string, string>; refused?: ApiResponse }> {
  if (policy.kind === 'public') return { headers: { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS } };
  const vary = { Vary: 'Origin' };
  const origin = request.headers['origin'];
  if (origin === undefined) return { headers: vary };
  const allowed = origin !== 'null' && (await policy.originsOf(request)).includes(origin);
  if (!allowed) return { headers: vary, refused: policy.refuse(origin) };
  return { headers: { ...vary, 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS } };
}
