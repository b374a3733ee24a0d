import type { Route } from '../../router.ts';
import { artifactRoutes } from './artifact.ts';
import { backChannelLogoutRoutes } from './backchannel-logout.ts';
import type { SamlRouteDeps } from './deps.ts';
import { metadataRoutes } from './metadata.ts';
import { nameIdRoutes } from './nameid.ts';
import { logoutPageRoutes } from './logout-page.ts';
import { sloRoutes } from './slo.ts';
import { ssoRoutes } from './sso.ts';

/** Every SAML IdP endpoint of a tenant. */
export const samlRoutes = (deps: SamlRouteDeps): Route[] => [
  ...metadataRoutes(deps),
  ...ssoRoutes(deps),
  ...artifactRoutes(deps),
  ...nameIdRoutes(deps),
  ...sloRoutes(deps),
  ...logoutPageRoutes(deps),
  ...backChannelLogoutRoutes(deps),
];
