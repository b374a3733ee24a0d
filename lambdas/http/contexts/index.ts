import type { RoutesFactory } from '../../apps.ts';
import type { ContextName } from '../../contexts.ts';
import { adminContext } from './admin.ts';
import { oidcContext } from './oidc.ts';
import { cardContext } from './card.ts';
import { portalContext } from './portal.ts';
import { samlContext } from './saml.ts';
import { pkiContext } from './pki.ts';

/** Every context's routes, for the local gateway (which serves them all in one process). */
export const CONTEXT_ROUTES: Readonly<Record<ContextName, RoutesFactory>> = {
  oidc: oidcContext,
  saml: samlContext,
  portal: portalContext,
  card: cardContext,
  admin: adminContext,
  pki: pkiContext,
};
