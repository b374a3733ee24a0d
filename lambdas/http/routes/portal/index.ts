import type { Route } from '../../router.ts';
import { accountRoutes } from './account.ts';
import { certificateRoutes } from './certificate.ts';
import { consentRoutes } from './consent.ts';
import type { PortalDeps } from './deps.ts';
import { deviceRoutes } from './device.ts';
import { loginRoutes } from './login.ts';
import { ssoTransferRoutes } from './sso-transfer.ts';

/** The authentication portal's pages for one tenant. */
export const portalRoutes = (deps: PortalDeps): Route[] => [
  ...loginRoutes(deps),
  ...certificateRoutes(deps),
  ...consentRoutes(deps),
  ...deviceRoutes(deps),
  ...accountRoutes(deps),
  ...ssoTransferRoutes(deps),
];
