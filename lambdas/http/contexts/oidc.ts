import type { RoutesFactory } from '../../apps.ts';
import type { Tenant, Tenants } from '../../core/directory/tenant.ts';
import { createOidc, type Oidc } from '../../core/oidc/provider.ts';
import { ReadCache } from '../../core/read-cache.ts';
import { baseServices } from '../../base-services.ts';
import type { Runtime } from '../../runtime.ts';
import { oidcRoutes } from '../routes/oidc/index.ts';
import { ssfRoutes } from '../routes/oidc/ssf.ts';
import { SetReceiver } from '../../core/ssf/receiver.ts';
import { ReplayCache } from '../../core/oidc/replay.ts';
import { RemoteKeySets } from '../../core/outbound/remote-key-sets.ts';
import { NO_OUTBOUND } from '../../core/outbound/none.ts';

/**
 * The OIDC models over a runtime, with whatever key services it carries (the oidc and saml contexts).
 * `cacheMs` turns on the per-container client cache (the oidc function's token path).
 */
export const oidcModels = (runtime: Runtime, cacheMs = 0): Oidc =>
  createOidc({
    directory: runtime.directory,
    state: runtime.state,
    clock: runtime.clock,
    random: runtime.random,
    outbound: runtime.outbound,
    ...(runtime.custody ? { custody: runtime.custody } : {}),
    ...(runtime.signer ? { platformSigner: runtime.signer } : {}),
    ...(cacheMs > 0 ? { clientCacheMs: cacheMs } : {}),
  });

/** The OpenID Provider of every tenant: discovery, JWKS and the OAuth 2.0 / OIDC endpoints. */
export const oidcContext: RoutesFactory = (runtime) => {
  const services = baseServices(runtime);
  // Tenants and clients are read on every token request: served from a short-TTL per-container cache
  // (the bound is the config's directoryCacheSeconds). The access check reads tenants through the same
  // cache (disabling a tenant revokes its grants and sessions at once; the cache bounds only a revocation
  // cut short) and users always fresh.
  const cacheMs = runtime.config.directoryCacheSeconds * 1000;
  const oidc = oidcModels(runtime, cacheMs);
  const credentials = services.credentials!;
  const tenants = cachedTenants(services.tenants, new ReadCache<Tenant>(runtime.clock, cacheMs));
  // Shared Signals push: tenants read fresh (a transmitter just configured is trusted at once).
  const ssf =
    runtime.state && services.revocation
      ? new SetReceiver({
          tenants: services.tenants,
          users: services.users,
          directory: runtime.directory,
          state: runtime.state,
          endings: services.revocation,
          replay: new ReplayCache(runtime.state, runtime.clock),
          keySets: new RemoteKeySets(runtime.outbound ?? NO_OUTBOUND, runtime.clock),
          clock: runtime.clock,
        })
      : undefined;
  return [
    ...oidcRoutes({
      oidc,
      access: services.access.withTenants(tenants),
      tenants,
      users: services.users,
      signIn: (...args) => credentials.signIn(...args),
      ...(runtime.securityEvents ? { events: runtime.securityEvents } : {}),
    }),
    ...ssfRoutes(ssf),
  ];
};

/** Tenant lookups through the cache (a tenant is only read here, never written: the admin function writes). */
const cachedTenants = (tenants: Pick<Tenants, 'find'>, cache: ReadCache<Tenant>): Pick<Tenants, 'find'> => ({
  find: (id) => cache.get(id, () => tenants.find(id)),
});
