import { Logger } from '@aws-lambda-powertools/logger';
import type { RoutesFactory } from '../../apps.ts';
import { createOidc } from '../../core/oidc/provider.ts';
import { directoryServices, type DirectoryServices, type Runtime } from '../../runtime.ts';
import { AdminAuthenticator } from '../admin-auth.ts';
import { adminRoutes } from '../routes/admin.ts';
import { platformRoutes } from '../routes/platform.ts';
import type { OidcRouteDeps } from '../routes/oidc/deps.ts';

/** The admin context: /health, /openapi.json, the tenant admin API, and the API's catch-all 404. */
export const adminContext: RoutesFactory = (runtime) => {
  const services = directoryServices(runtime);
  // One structured line per admin change, under its own service name so it can be routed and retained.
  const audit = new Logger({ serviceName: 'cloudcard-admin-audit' });
  return [
    ...platformRoutes(runtime),
    ...adminRoutes(services, new AdminAuthenticator(services.adminClients, runtime.clock, tenantTokens(runtime, services)), (entry) =>
      audit.info('admin change', entry),
    ),
  ];
};

/**
 * What verifying a tenant's own access tokens (the `admin` scope) needs: its published keys, grants,
 * revocations, DPoP. No key custody or signer: verification reads public keys only, so a token for a
 * tenant that never signed anything fails instead of making that tenant's first keys here.
 */
function tenantTokens(runtime: Runtime, services: DirectoryServices): OidcRouteDeps {
  const oidc = createOidc({ directory: runtime.directory, state: runtime.state, clock: runtime.clock, random: runtime.random });
  const credentials = services.credentials;
  return {
    oidc,
    access: services.access,
    tenants: services.tenants,
    users: services.users,
    signIn: async (...args) => {
      if (!credentials) throw new Error('password sign-in needs the state table');
      return credentials.signIn(...args);
    },
  };
}
