import type { RoutesFactory } from '../../apps.ts';

/**
 * The OIDC, SAML, portal and card contexts gain their routes in later issues; until then every path
 * under them answers 404 problem JSON.
 */
export const pendingContext: RoutesFactory = () => [];
