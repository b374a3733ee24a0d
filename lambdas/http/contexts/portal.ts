import type { RoutesFactory } from '../../apps.ts';
import { createOidc } from '../../core/oidc/provider.ts';
import { baseServices } from '../../base-services.ts';
import { portalRoutes } from '../routes/portal/index.ts';

/** The authentication portal: sign-in, one-time codes, consent and device approval pages. */
export const portalContext: RoutesFactory = (runtime) => {
  const services = baseServices(runtime);
  // The portal issues no tokens: it gets the OIDC state models without any signer.
  const oidc = createOidc({ directory: runtime.directory, state: runtime.state, clock: runtime.clock, random: runtime.random });
  return portalRoutes({
    oidc,
    access: services.access,
    tenants: services.tenants,
    credentials: services.credentials!,
    ...(services.totp ? { totp: services.totp } : {}),
  });
};
