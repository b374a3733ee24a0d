import type { Route } from '../../router.ts';
import { accountRoutes } from './account.ts';
import { certificateRoutes } from './certificate.ts';
import { consentRoutes } from './consent.ts';
import type { PortalDeps } from './deps.ts';
import { deviceRoutes } from './device.ts';
import { loginRoutes } from './login.ts';
import { ssoTransferRoutes } from './sso-transfer.ts';
import { CATALOGUES } from '../../../core/portal/i18n/catalogues.ts';
import { useCatalogues } from '../../../core/portal/i18n/index.ts';

/** The authentication portal's pages for one tenant, in every language: the portal registers the whole catalogues. */
export const portalRoutes = (deps: PortalDeps): Route[] => {
  useCatalogues(CATALOGUES);
  return [...loginRoutes(deps), ...certificateRoutes(deps), ...consentRoutes(deps), ...deviceRoutes(deps), ...accountRoutes(deps), ...ssoTransferRoutes(deps)];
};
