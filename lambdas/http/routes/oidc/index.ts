import type { Route } from '../../router.ts';
import { authorizeRoutes } from './authorize.ts';
import type { OidcRouteDeps } from './deps.ts';
import { deviceRoutes } from './device.ts';
import { discoveryRoutes } from './discovery.ts';
import { introspectionRoutes } from './introspection.ts';
import { logoutRoutes } from './logout.ts';
import { parRoutes } from './par.ts';
import { registrationRoutes } from './registration.ts';
import { ssoTransferRoutes } from './sso-transfer.ts';
import { tokenRoutes } from './token.ts';
import { userinfoRoutes } from './userinfo.ts';

/** Every OpenID Provider endpoint of a tenant, one module per endpoint. */
export const oidcRoutes = (deps: OidcRouteDeps): Route[] => [
  ...discoveryRoutes(deps),
  ...authorizeRoutes(deps),
  ...parRoutes(deps),
  ...tokenRoutes(deps),
  ...userinfoRoutes(deps),
  ...introspectionRoutes(deps),
  ...registrationRoutes(deps),
  ...logoutRoutes(deps),
  ...deviceRoutes(deps),
  ...ssoTransferRoutes(deps),
];
