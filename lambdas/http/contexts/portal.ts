import type { RoutesFactory } from '../../apps.ts';
import { createOidc } from '../../core/oidc/provider.ts';
import { baseServices } from '../../base-services.ts';
import { portalRoutes } from '../routes/portal/index.ts';
import { CertificateLogins } from '../../core/pki/cert-login.ts';
import { CertificateRegistry } from '../../core/pki/registry.ts';

/** The authentication portal: sign-in, one-time codes, consent and device approval pages. */
export const portalContext: RoutesFactory = (runtime) => {
  const services = baseServices(runtime);
  // The portal issues no tokens: it gets the OIDC state models without any signer.
  const oidc = createOidc({ directory: runtime.directory, state: runtime.state, clock: runtime.clock, random: runtime.random });
  // Certificate login reads the card partition (CA, register, cards) and the tenant's trusted CAs: read only.
  const certificateLogins = new CertificateLogins({
    directory: runtime.directory,
    users: services.users,
    registry: new CertificateRegistry(runtime.directory, runtime.clock),
    trustedCas: services.trustedCas,
    clock: runtime.clock,
  });
  return portalRoutes({
    oidc,
    access: services.access,
    ...(services.correlations ? { correlations: services.correlations } : {}),
    tenants: services.tenants,
    credentials: services.credentials!,
    ...(services.totp ? { totp: services.totp } : {}),
    certificateLogins,
    ...(runtime.config.certBaseUrl ? { certBaseUrl: runtime.config.certBaseUrl } : {}),
  });
};
