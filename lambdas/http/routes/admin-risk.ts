import type { DirectoryServices } from '../../runtime.ts';
import { DEFAULT_RISK_POLICY } from '../../core/risk/policy.ts';
import { NO_SSF_TRANSMITTERS } from '../../core/ssf/transmitters.ts';
import { NO_BRANDING } from '../../core/portal/branding.ts';
import { HttpProblem } from '../problem.ts';
import type { Route, RouteHandler } from '../router.ts';
import { json, type ApiRequest } from '../types.ts';

export interface AdminRiskRouteOptions {
  /** `/t/:tenant/admin/v1` */
  readonly base: string;
  readonly guarded: (handle: RouteHandler) => RouteHandler;
  readonly objectBody: (request: ApiRequest) => Record<string, unknown>;
}

/**
 * Token protection in the admin API: the tenant's risk policy (GET, PUT: validated whole, a 400 names
 * each bad field), and a user's sessions and refresh-token families with their last context and
 * decision (GET), one of which an administrator may end (DELETE); the Shared Signals transmitters whose
 * Security Event Tokens the tenant accepts (GET, PUT); the portal's branding (GET, PUT: validated whole).
 */
export function adminRiskRoutes(services: DirectoryServices, { base, guarded, objectBody }: AdminRiskRouteOptions): Route[] {
  const tenantOf = (request: ApiRequest): string => request.params['tenant']!;
  const sessions = () => {
    if (!services.userSessions) throw new HttpProblem(503, 'Service unavailable', { detail: 'sessions need the state table' });
    return services.userSessions;
  };
  const devices = () => {
    if (!services.devices) throw new HttpProblem(503, 'Service unavailable', { detail: 'devices need the state table' });
    return services.devices;
  };
  const knownUser = async (request: ApiRequest): Promise<string> => (await services.users.get(tenantOf(request), request.params['username']!)).username;

  return [
    {
      method: 'GET',
      path: `${base}/risk-policy`,
      handle: guarded(async (request) => json(200, (await services.tenants.get(tenantOf(request))).riskPolicy ?? DEFAULT_RISK_POLICY)),
    },
    {
      method: 'PUT',
      path: `${base}/risk-policy`,
      handle: guarded(async (request) => json(200, await services.tenants.setRiskPolicy(tenantOf(request), objectBody(request)))),
    },
    {
      method: 'GET',
      path: `${base}/ssf-transmitters`,
      handle: guarded(async (request) => json(200, (await services.tenants.get(tenantOf(request))).ssfTransmitters ?? NO_SSF_TRANSMITTERS)),
    },
    {
      method: 'PUT',
      path: `${base}/ssf-transmitters`,
      handle: guarded(async (request) => json(200, await services.tenants.setSsfTransmitters(tenantOf(request), objectBody(request)))),
    },
    {
      method: 'GET',
      path: `${base}/branding`,
      handle: guarded(async (request) => json(200, (await services.tenants.get(tenantOf(request))).branding ?? NO_BRANDING)),
    },
    {
      method: 'PUT',
      path: `${base}/branding`,
      handle: guarded(async (request) => json(200, await services.tenants.setBranding(tenantOf(request), objectBody(request)))),
    },
    {
      method: 'GET',
      path: `${base}/users/:username/sessions`,
      handle: guarded(async (request) => json(200, { sessions: await sessions().list(tenantOf(request), await knownUser(request)) })),
    },
    {
      method: 'DELETE',
      path: `${base}/users/:username/sessions/:id`,
      handle: guarded(async (request) => {
        await sessions().end(tenantOf(request), await knownUser(request), request.params['id']!);
        return { statusCode: 204, headers: {}, body: '' };
      }),
    },
    {
      method: 'GET',
      path: `${base}/users/:username/devices`,
      handle: guarded(async (request) => json(200, { devices: await devices().list(tenantOf(request), await knownUser(request)) })),
    },
    {
      // Removing a device ends its PRT (the families bound to its key) and its card sessions.
      method: 'DELETE',
      path: `${base}/users/:username/devices/:id`,
      handle: guarded(async (request) => {
        await devices().remove(tenantOf(request), await knownUser(request), request.params['id']!);
        return { statusCode: 204, headers: {}, body: '' };
      }),
    },
  ];
}
