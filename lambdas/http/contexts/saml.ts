import type { RoutesFactory } from '../../apps.ts';
import { oidcModels } from './oidc.ts';
import { createSaml } from '../../core/saml/provider.ts';
import { directoryServices } from '../../runtime.ts';
import { samlRoutes } from '../routes/saml/index.ts';

/** The SAML 2.0 identity provider of every tenant: metadata and Web Browser SSO. */
export const samlContext: RoutesFactory = (runtime) => {
  const services = directoryServices(runtime);
  return samlRoutes({ saml: createSaml(oidcModels(runtime), runtime.directory, { state: runtime.state, outbound: runtime.outbound }), access: services.access, tenants: services.tenants, users: services.users, certificateLogin: Boolean(runtime.config.certBaseUrl) });
};
