import type { RoutesFactory } from '../../apps.ts';
import { createOidc } from '../../core/oidc/provider.ts';
import { createSaml } from '../../core/saml/provider.ts';
import { directoryServices } from '../../runtime.ts';
import { samlRoutes } from '../routes/saml/index.ts';

/** The SAML 2.0 identity provider of every tenant: metadata and Web Browser SSO. */
export const samlContext: RoutesFactory = (runtime) => {
  const services = directoryServices(runtime);
  const oidc = createOidc({
    directory: runtime.directory,
    state: runtime.state,
    clock: runtime.clock,
    random: runtime.random,
    ...(runtime.custody ? { custody: runtime.custody } : {}),
    ...(runtime.signer ? { platformSigner: runtime.signer } : {}),
  });
  return samlRoutes({ saml: createSaml(oidc, runtime.directory), tenants: services.tenants, users: services.users });
};
