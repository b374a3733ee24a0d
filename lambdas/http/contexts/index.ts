import type { RoutesFactory } from '../../apps.ts';
import type { ContextName } from '../../contexts.ts';
import { adminContext } from './admin.ts';
import { pendingContext } from './pending.ts';

/** Every context's routes, for the local gateway (which serves them all in one process). */
export const CONTEXT_ROUTES: Readonly<Record<ContextName, RoutesFactory>> = {
  oidc: pendingContext,
  saml: pendingContext,
  portal: pendingContext,
  card: pendingContext,
  admin: adminContext,
};
