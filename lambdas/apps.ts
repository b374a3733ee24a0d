import type { ContextName } from './contexts.ts';
import { createApp, type ProxyHandler } from './http/app.ts';
import { AdminAuthenticator } from './http/admin-auth.ts';
import { adminRoutes } from './http/routes/admin.ts';
import { platformRoutes } from './http/routes/platform.ts';
import type { Route } from './http/router.ts';
import type { Observability } from './observability.ts';
import { directoryServices, type Runtime } from './runtime.ts';

/** What each bounded context needs from the key services; the stack grants exactly these. */
export const CONTEXT_KEY_NEEDS: Readonly<Record<ContextName, { cardKek: boolean; signingKey: boolean }>> = {
  oidc: { cardKek: false, signingKey: true },
  saml: { cardKek: false, signingKey: true },
  portal: { cardKek: false, signingKey: false },
  card: { cardKek: true, signingKey: true },
  admin: { cardKek: true, signingKey: true },
};

/**
 * The routes of each bounded context. The OIDC, SAML, portal and card contexts gain their routes in
 * later issues; until then every path under them answers 404 problem JSON.
 */
function routesFor(name: ContextName, runtime: Runtime): Route[] {
  switch (name) {
    case 'admin': {
      const services = directoryServices(runtime);
      return [...platformRoutes(runtime), ...adminRoutes(services, new AdminAuthenticator(services.adminClients, runtime.clock))];
    }
    case 'oidc':
    case 'saml':
    case 'portal':
    case 'card':
      return [];
  }
}

/** The API Gateway proxy handler of one bounded context, over whichever adapters the runtime carries. */
export function createContextHandler(name: ContextName, runtime: Runtime, observability: Observability): ProxyHandler {
  return createApp({
    name,
    routes: routesFor(name, runtime),
    observability,
    maxBodyBytes: runtime.config.maxBodyBytes,
    ...(runtime.config.publicBaseUrl ? { publicBaseUrl: runtime.config.publicBaseUrl } : {}),
  });
}
