import type { ContextName } from './contexts.ts';
import { createApp, type ProxyHandler } from './http/app.ts';
import type { Route } from './http/router.ts';
import type { Observability } from './observability.ts';
import type { Runtime } from './runtime.ts';

/** What each bounded context needs from the key services; the stack grants exactly these. */
export const CONTEXT_KEY_NEEDS: Readonly<Record<ContextName, { cardKek: boolean; signingKey: boolean }>> = {
  oidc: { cardKek: false, signingKey: true },
  saml: { cardKek: false, signingKey: true },
  portal: { cardKek: false, signingKey: false },
  card: { cardKek: true, signingKey: true },
  admin: { cardKek: true, signingKey: true },
};

/** Builds a context's routes over a runtime. Each handler imports only its own, to keep bundles lean. */
export type RoutesFactory = (runtime: Runtime) => Route[];

/** The API Gateway proxy handler of one bounded context, over whichever adapters the runtime carries. */
export function createContextHandler(name: ContextName, runtime: Runtime, routes: RoutesFactory, observability: Observability): ProxyHandler {
  return createApp({
    name,
    routes: routes(runtime),
    observability,
    maxBodyBytes: runtime.config.maxBodyBytes,
    ...(runtime.config.publicBaseUrl ? { publicBaseUrl: runtime.config.publicBaseUrl } : {}),
  });
}
