import type { Clients, OidcClient } from '../../core/oidc/client.ts';
import { OAuthError } from '../../core/oidc/errors.ts';
import { HttpProblem } from '../problem.ts';
import type { Route, RouteHandler } from '../router.ts';
import { json, type ApiRequest } from '../types.ts';

export interface AdminClientRouteOptions {
  /** `/t/:tenant/admin/v1` */
  readonly base: string;
  readonly guarded: (handle: RouteHandler) => RouteHandler;
  readonly objectBody: (request: ApiRequest) => Record<string, unknown>;
}

/** Refused client metadata (RFC 7591 §3.2.2 codes) as a 400 problem that keeps the OAuth error code. */
const metadataProblems =
  (handle: RouteHandler): RouteHandler =>
  async (request) => {
    try {
      return await handle(request);
    } catch (error) {
      if (error instanceof OAuthError && error.status === 400)
        throw new HttpProblem(400, 'Invalid client metadata', { detail: error.message, extensions: { error: error.error } });
      throw error;
    }
  };

/**
 * A tenant's OAuth clients under the admin API: show one, change its metadata (PATCH: members given
 * replace, null removes; validated as a new client of its origin would be) and rotate its secret.
 */
export function adminClientRoutes(clients: Clients, options: AdminClientRouteOptions): Route[] {
  const { base, guarded, objectBody } = options;
  const tenantOf = (request: ApiRequest): string => request.params['tenant']!;
  const clientOf = (request: ApiRequest): string => request.params['client']!;
  const noStore = { 'Cache-Control': 'no-store' };
  return [
    { method: 'GET', path: `${base}/clients/:client`, handle: guarded(async (request) => json(200, await clients.get(tenantOf(request), clientOf(request)))) },
    {
      method: 'PATCH',
      path: `${base}/clients/:client`,
      handle: guarded(metadataProblems(async (request) => json(200, await clients.update(tenantOf(request), clientOf(request), objectBody(request))))),
    },
    {
      method: 'POST',
      path: `${base}/clients/:client/secret`,
      handle: guarded(async (request) => {
        const body = objectBody(request);
        const unknown = Object.keys(body).filter((key) => key !== 'graceSeconds');
        if (unknown.length) throw new HttpProblem(400, 'Invalid request', { detail: `unknown members: ${unknown.join(', ')}` });
        const rotated = await clients.rotateSecret(tenantOf(request), clientOf(request), (body['graceSeconds'] as number | undefined) ?? 0);
        const answer: { client: OidcClient; client_secret: string; previous_secret_expires_at?: string } = {
          client: rotated.client,
          client_secret: rotated.clientSecret,
          ...(rotated.previousSecretExpiresAt ? { previous_secret_expires_at: rotated.previousSecretExpiresAt } : {}),
        };
        return json(200, answer, noStore);
      }),
    },
  ];
}
