import type { RoutesFactory } from '../../apps.ts';
import { createOidc } from '../../core/oidc/provider.ts';
import { directoryServices } from '../../runtime.ts';
import { oidcRoutes } from '../routes/oidc/index.ts';

/** The OpenID Provider of every tenant: discovery, JWKS and the OAuth 2.0 / OIDC endpoints. */
export const oidcContext: RoutesFactory = (runtime) => {
  const services = directoryServices(runtime);
  const oidc = createOidc({
    directory: runtime.directory,
    state: runtime.state,
    clock: runtime.clock,
    random: runtime.random,
    ...(runtime.custody ? { custody: runtime.custody } : {}),
    ...(runtime.signer ? { platformSigner: runtime.signer } : {}),
  });
  const credentials = services.credentials!;
  return oidcRoutes({ oidc, tenants: services.tenants, users: services.users, signIn: (...args) => credentials.signIn(...args) });
};
