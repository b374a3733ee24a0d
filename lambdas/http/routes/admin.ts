import type { DirectoryServices } from '../../runtime.ts';
import type { AdminAuthenticator } from '../admin-auth.ts';
import { HttpProblem, toProblem } from '../problem.ts';
import type { Route, RouteHandler } from '../router.ts';
import { json, type ApiRequest } from '../types.ts';
import { OAuthError } from '../../core/oidc/errors.ts';
import { SamlError } from '../../core/saml/xml.ts';
import { adminCardRoutes } from './admin-cards.ts';
import { adminClientRoutes } from './admin-clients.ts';
import { adminServiceProviderRoutes } from './admin-service-providers.ts';
import { adminRiskRoutes } from './admin-risk.ts';

/**
 * The tenant admin API under /t/{tenant}/admin/v1/: the tenant's settings and its users. Every route
 * authenticates an admin client first.
 */
export function adminRoutes(services: DirectoryServices, auth: AdminAuthenticator, audit?: (entry: Record<string, unknown>) => void): Route[] {
  const { tenants, users } = services;
  const guarded =
    (handle: RouteHandler): RouteHandler =>
    async (request) => {
      const principal = await auth.authenticate(request);
      if (request.method === 'GET') return handle(request);
      // The audit trail: who changed what, refused attempts included (never the body, which may carry a
      // password, PIN or PUK). One place for every admin route; see AuditTrail.
      let outcome = 500;
      try {
        const response = await handle(request);
        outcome = response.statusCode;
        return response;
      } catch (error) {
        outcome = toProblem(error).status;
        throw error;
      } finally {
        const event = {
          actor: { kind: principal.kind, id: principal.clientId },
          via: 'admin-api' as const,
          action: `${request.method} ${(request.route ?? request.path).replace(/^\/t\/:tenant\/admin\/v1/, '')}`,
          target: { ...request.params },
          outcome,
          requestId: request.requestId,
        };
        // The log line keeps its earlier fields (via = the credential kind) for log queries written against them.
        audit?.({ ...event, adminClientId: principal.clientId, via: principal.kind, method: request.method, path: request.path, status: outcome });
        await services.audit
          ?.record(tenantOf(request), event)
          .catch((error: unknown) => audit?.({ auditStoreFailed: String(error), requestId: request.requestId }));
      }
    };
  const base = '/t/:tenant/admin/v1';
  const tenantOf = (request: ApiRequest): string => request.params['tenant']!;

  return [
    {
      method: 'POST',
      path: `${base}/tenant`,
      handle: guarded(async (request) => {
        const body = objectBody(request);
        if (body['id'] !== undefined && body['id'] !== tenantOf(request)) {
          throw new HttpProblem(400, 'Invalid request', { detail: 'the tenant id in the body differs from the one in the path' });
        }
        const tenant = await tenants.create({ ...body, id: tenantOf(request) });
        return json(201, tenant, { Location: `${request.baseUrl}/t/${tenant.id}/admin/v1/tenant` });
      }),
    },
    { method: 'GET', path: `${base}/tenant`, handle: guarded(async (request) => json(200, await tenants.get(tenantOf(request)))) },
    {
      method: 'PATCH',
      path: `${base}/tenant`,
      handle: guarded(async (request) => json(200, await tenants.update(tenantOf(request), objectBody(request)))),
    },
    { method: 'GET', path: `${base}/tenant/export`, handle: guarded(async (request) => json(200, await services.tenantTransfer.export(tenantOf(request)))) },
    {
      method: 'POST',
      path: `${base}/tenant/import`,
      handle: guarded(async (request) => {
        const imported = await services.tenantTransfer.import(tenantOf(request), objectBody(request)).catch((error: unknown) => {
          // Refused client or SP metadata inside the document is the caller's input: a 400 naming it.
          if (error instanceof SamlError) throw new HttpProblem(400, 'Invalid service provider', { detail: error.message });
          if (error instanceof OAuthError && error.status === 400)
            throw new HttpProblem(400, 'Invalid client metadata', { detail: error.message, extensions: { error: error.error } });
          throw error;
        });
        return json(201, imported, { Location: `${request.baseUrl}/t/${imported.tenant}/admin/v1/tenant`, 'Cache-Control': 'no-store' });
      }),
    },
    {
      method: 'DELETE',
      path: `${base}/tenant`,
      handle: guarded(async (request) => {
        // A tenant's own admin token must not be able to delete the tenant it lives in: platform admins only.
        if ((await auth.authenticate(request)).kind !== 'admin-client')
          throw new HttpProblem(403, 'Forbidden', { detail: 'deleting a tenant needs a platform admin client' });
        const dryRun = request.query['dryRun'];
        if (dryRun !== undefined && dryRun !== 'true' && dryRun !== 'false')
          throw new HttpProblem(400, 'Invalid request', { detail: 'dryRun must be true or false' });
        if (dryRun === 'true') return json(200, { dryRun: true, ...(await services.tenantRemoval.plan(tenantOf(request))) });
        return json(200, { dryRun: false, ...(await services.tenantRemoval.remove(tenantOf(request))) });
      }),
    },
    {
      method: 'GET',
      path: `${base}/users`,
      handle: guarded(async (request) => json(200, await users.list(tenantOf(request), { cursor: request.query['cursor'], limit: request.query['limit'] }))),
    },
    {
      method: 'POST',
      path: `${base}/users`,
      handle: guarded(async (request) => {
        const user = await users.add(tenantOf(request), objectBody(request));
        return json(201, user, { Location: `${request.baseUrl}/t/${user.tenant}/admin/v1/users/${encodeURIComponent(user.username)}` });
      }),
    },
    {
      method: 'POST',
      path: `${base}/users/import`,
      handle: guarded(async (request) => {
        if (!/^text\/csv\b/i.test(request.headers['content-type'] ?? ''))
          throw new HttpProblem(415, 'Unsupported media type', { detail: 'send the users as text/csv with a header row (username,email,displayName)' });
        await tenants.get(tenantOf(request));
        return json(200, await services.userImport.run(tenantOf(request), request.rawBody?.toString('utf8') ?? ''));
      }),
    },
    {
      method: 'GET',
      path: `${base}/users/:username`,
      handle: guarded(async (request) => json(200, await services.accounts.show(tenantOf(request), request.params['username']!))),
    },
    {
      method: 'DELETE',
      path: `${base}/users/:username`,
      handle: guarded(async (request) => {
        await services.accounts.delete(tenantOf(request), request.params['username']!);
        return { statusCode: 204, headers: {}, body: '' };
      }),
    },
    {
      method: 'PATCH',
      path: `${base}/users/:username`,
      handle: guarded(async (request) => json(200, await users.update(tenantOf(request), request.params['username']!, objectBody(request)))),
    },
    {
      method: 'POST',
      path: `${base}/users/:username/disable`,
      handle: guarded(async (request) => json(200, await users.disable(tenantOf(request), request.params['username']!))),
    },
    {
      method: 'POST',
      path: `${base}/users/:username/enable`,
      handle: guarded(async (request) => json(200, await users.enable(tenantOf(request), request.params['username']!))),
    },
    {
      method: 'GET',
      path: `${base}/audit`,
      handle: guarded(async (request) => {
        if (!services.audit) throw new HttpProblem(503, 'Service unavailable', { detail: 'the audit trail needs the state table' });
        return json(200, await services.audit.list(tenantOf(request), { cursor: request.query['cursor'], limit: request.query['limit'] }));
      }),
    },
    {
      method: 'GET',
      path: `${base}/trusted-cas`,
      handle: guarded(async (request) => json(200, { certificates: await services.trustedCas.list(tenantOf(request)) })),
    },
    {
      method: 'PUT',
      path: `${base}/trusted-cas`,
      handle: guarded(async (request) => json(200, { certificates: await services.trustedCas.replace(tenantOf(request), objectBody(request)) })),
    },
    ...adminCardRoutes(services, { base, guarded, objectBody, audit }),
    ...adminClientRoutes(services.clients, { base, guarded, objectBody }),
    ...adminServiceProviderRoutes(services.serviceProviders, { base, guarded, audit }),
    ...adminRiskRoutes(services, { base, guarded, objectBody }),
  ];
}

/** The admin API takes JSON objects only. */
function objectBody(request: ApiRequest): Record<string, unknown> {
  const contentType = request.headers['content-type'] ?? '';
  if (request.rawBody && !/^application\/json\b/i.test(contentType)) {
    throw new HttpProblem(415, 'Unsupported media type', { detail: 'send application/json' });
  }
  if (request.body === undefined) return {};
  if (typeof request.body !== 'object' || request.body === null || Array.isArray(request.body)) {
    throw new HttpProblem(400, 'Invalid request', { detail: 'the body must be a JSON object' });
  }
  return request.body as Record<string, unknown>;
}
