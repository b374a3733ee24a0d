import type { RoutesFactory } from '../../apps.ts';
import { createOidc, type Oidc } from '../../core/oidc/provider.ts';
import { directoryServices, type Runtime } from '../../runtime.ts';
import { oidcRoutes } from '../routes/oidc/index.ts';

/** The OIDC models over a runtime, with whatever key services it carries (the oidc and saml contexts). */
export const oidcModels = (runtime: Runtime): Oidc =>
  createOidc({
    directory: runtime.directory,
    state: runtime.state,
    clock: runtime.clock,
    random: runtime.random,
    outbound: runtime.outbound,
    ...(runtime.custody ? { custody: runtime.custody } : {}),
    ...(runtime.signer ? { platformSigner: runtime.signer } : {}),
  });

/** The OpenID Provider of every tenant: discovery, JWKS and the OAuth 2.0 / OIDC endpoints. */
export const oidcContext: RoutesFactory = (runtime) => {
  const services = directoryServices(runtime);
  const oidc = oidcModels(runtime);
  const credentials = services.credentials!;
  return oidcRoutes({ oidc, access: services.access, tenants: services.tenants, users: services.users, signIn: (...args) => credentials.signIn(...args) });
};
