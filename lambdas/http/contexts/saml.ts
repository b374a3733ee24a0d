import type { RoutesFactory } from '../../apps.ts';
import { oidcModels } from './oidc.ts';
import { createSaml } from '../../core/saml/provider.ts';
import { SamlBackChannelLogout } from '../../core/saml/backchannel-logout.ts';
import { IdpCertificates } from '../../core/saml/idp-certificate.ts';
import { ServiceProviders } from '../../core/saml/service-providers.ts';
import { ReplayCache } from '../../core/oidc/replay.ts';
import { directoryServices } from '../../runtime.ts';
import { samlRoutes } from '../routes/saml/index.ts';

/** The SAML 2.0 identity provider of every tenant: metadata and Web Browser SSO. */
export const samlContext: RoutesFactory = (runtime) => {
  // The one function that bundles the SAML IdP sends SOAP LogoutRequests itself; the others hand them here.
  const services = directoryServices(runtime, {
    samlLogout: ({ signingKeys, settings }) =>
      new SamlBackChannelLogout({
        serviceProviders: new ServiceProviders(runtime.directory, runtime.clock, runtime.outbound),
        certificates: new IdpCertificates(signingKeys, runtime.directory, runtime.clock),
        settings,
        http: runtime.outbound,
        replay: new ReplayCache(runtime.state, runtime.clock),
        clock: runtime.clock,
        random: runtime.random,
      }),
  });
  return samlRoutes({
    saml: createSaml(oidcModels(runtime), runtime.directory, { state: runtime.state, outbound: runtime.outbound }),
    access: services.access,
    tenants: services.tenants,
    users: services.users,
    certificateLogin: Boolean(runtime.config.certBaseUrl),
  });
};
