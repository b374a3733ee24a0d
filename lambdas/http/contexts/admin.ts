import { Logger } from '@aws-lambda-powertools/logger';
import type { RoutesFactory } from '../../apps.ts';
import { directoryServices } from '../../runtime.ts';
import { AdminAuthenticator } from '../admin-auth.ts';
import { adminRoutes } from '../routes/admin.ts';
import { platformRoutes } from '../routes/platform.ts';

/** The admin context: /health, /openapi.json, the tenant admin API, and the API's catch-all 404. */
export const adminContext: RoutesFactory = (runtime) => {
  const services = directoryServices(runtime);
  // One structured line per admin change, under its own service name so it can be routed and retained.
  const audit = new Logger({ serviceName: 'cloudcard-admin-audit' });
  return [
    ...platformRoutes(runtime),
    ...adminRoutes(services, new AdminAuthenticator(services.adminClients, runtime.clock), (entry) => audit.info('admin change', entry)),
  ];
};
