import type { RoutesFactory } from '../../apps.ts';
import { createOidc } from '../../core/oidc/provider.ts';
import { baseServices } from '../../base-services.ts';
import { portalRoutes } from '../routes/portal/index.ts';
import { CertificateLogins } from '../../core/pki/cert-login.ts';
import { CertificateRegistry } from '../../core/pki/registry.ts';
import { ExternalCrls } from '../../core/pki/external-crls.ts';
import { NO_OUTBOUND } from '../../core/outbound/none.ts';
import { Devices } from '../../core/access/devices.ts';
import { holderCards } from '../../core/cards/holder-cards.ts';

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
    // Per container: a CA's CRL is fetched once and reused until its nextUpdate (at most an hour).
    crls: new ExternalCrls(runtime.outbound ?? NO_OUTBOUND, runtime.clock),
    clock: runtime.clock,
    ...(runtime.securityEvents ? { events: runtime.securityEvents } : {}),
  });
  // The account page: a user's own sessions and devices. Signing a device out here ends its refresh-token
  // families only: card sessions are the card and admin functions' (lib/grants.ts).
  const { revocation, userSessions, audit } = services;
  const account =
    revocation && userSessions && audit && runtime.state
      ? {
          users: services.users,
          recoveryCodes: services.recoveryCodes,
          sessions: userSessions,
          devices: new Devices(runtime.state, runtime.clock, {
            endDevice: (t, u, jkt, grants) => revocation.endDevice(t, u, jkt, grants, { cardSessions: false }),
          }),
          audit,
          cards: (tenant: string, username: string) => holderCards(runtime.directory, tenant, username),
        }
      : undefined;
  return portalRoutes({
    oidc,
    access: services.access,
    ...(services.correlations ? { correlations: services.correlations } : {}),
    tenants: services.tenants,
    credentials: services.credentials!,
    throttle: services.throttle!,
    ...(services.totp ? { totp: services.totp } : {}),
    certificateLogins,
    ...(runtime.config.certBaseUrl ? { certBaseUrl: runtime.config.certBaseUrl } : {}),
    ...(account ? { account } : {}),
    ...(runtime.securityEvents ? { events: runtime.securityEvents } : {}),
  });
};
