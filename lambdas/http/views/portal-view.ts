import type { Tenant } from '../../core/directory/tenant.ts';
import type { Interaction } from '../../core/oidc/interactions.ts';
import { CATALOGUES, type MessageKey } from '../../core/portal/i18n/index.ts';
import type { ApiRequest } from '../types.ts';
import { sourcesOf, viewWith, type AppIdentity, type PageView, type ViewSources } from './view.ts';

/**
 * The portal's views: all its messages (login, consent, device, account...). Only the portal's routes
 * import this module, so only the portal function bundles the full catalogues (issue 14).
 */
export type PortalView = PageView<MessageKey>;

export const portalView = (sources: ViewSources): PortalView => viewWith(CATALOGUES, sources);

export const portalRequestView = (request: ApiRequest, tenant?: Tenant, interaction?: Interaction, app?: AppIdentity): PortalView =>
  portalView(sourcesOf(request, tenant, interaction, app));
