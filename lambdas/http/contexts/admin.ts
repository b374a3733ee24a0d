import type { RoutesFactory } from '../../apps.ts';
import { directoryServices } from '../../runtime.ts';
import { AdminAuthenticator } from '../admin-auth.ts';
import { adminRoutes } from '../routes/admin.ts';
import { platformRoutes } from '../routes/platform.ts';

/** The admin context: /health, /openapi.json, the tenant admin API, and the API's catch-all 404. */
export const adminContext: RoutesFactory = (runtime) => {
  const services = directoryServices(runtime);
  return [...platformRoutes(runtime), ...adminRoutes(services, new AdminAuthenticator(services.adminClients, runtime.clock))];
};
