import { decodeJwt } from 'jose';
import { clientOrigins } from '../../../core/oidc/client-origins.ts';
import type { Oidc } from '../../../core/oidc/provider.ts';
import type { CorsPolicy } from '../../cors.ts';
import type { ApiRequest } from '../../types.ts';
import { oauthJson } from './common.ts';

/**
 * The client a request names, read without verifying anything: it only decides which origins may read
 * the answer, and the endpoint then authenticates that very client (or the token) itself. Basic
 * credentials, `client_id`, a client assertion's `sub` (token, revocation, introspection), or the access
 * token's `client_id` claim (RFC 9068, userinfo: header or `access_token` form field).
 */
export function requestClientId(request: ApiRequest): string | undefined {
  const form = (request.body ?? {}) as Record<string, string | undefined>;
  const authorization = request.headers['authorization']?.trim() ?? '';
  const basic = /^basic\s+([A-Za-z0-9+/]+={0,2})$/i.exec(authorization);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 1) return undefined;
    try {
      return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    } catch {
      return undefined;
    }
  }
  if (typeof form['client_id'] === 'string') return form['client_id'];
  if (typeof form['client_assertion'] === 'string') return claim(form['client_assertion'], 'sub');
  const token = /^(?:bearer|dpop)\s+(\S+)$/i.exec(authorization)?.[1] ?? (typeof form['access_token'] === 'string' ? form['access_token'] : undefined);
  return token ? claim(token, 'client_id') : undefined;
}

function claim(jwt: string, name: string): string | undefined {
  try {
    const value = decodeJwt(jwt)[name];
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CORS for the endpoints a client calls itself (token, userinfo, revocation, introspection): the origins
 * of the registered redirect URIs of the client the request names. A disallowed origin gets RFC 6749's
 * `invalid_request`, as oidc-provider answers.
 */
export function clientCors(oidc: Pick<Oidc, 'clients'>): CorsPolicy {
  return {
    kind: 'client',
    originsOf: async (request) => {
      const tenant = request.params['tenant'];
      const clientId = requestClientId(request);
      const client = tenant && clientId ? await oidc.clients.find(tenant, clientId) : undefined;
      return client ? clientOrigins(client.redirect_uris) : [];
    },
    refuse: (origin) =>
      oauthJson(400, {
        error: 'invalid_request',
        error_description: `origin ${origin.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?')} is not allowed for this client`,
      }),
  };
}
