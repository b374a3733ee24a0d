import type { ContextName } from './contexts.ts';
import { createApp, type ProxyHandler } from './http/app.ts';
import type { Route } from './http/router.ts';
import { securityEventsOf, type Observability } from './observability.ts';
import type { Runtime } from './runtime.ts';

/** What each bounded context needs from the key services; the stack grants exactly these. */
export const CONTEXT_KEY_NEEDS: Readonly<
  Record<ContextName, { cardKek: boolean; signingKey: boolean; residentKeys: boolean; cardSessionKey: boolean; cardPinKey: boolean }>
> = {
  // oidc: per-tenant token keys are wrapped under the KEK; kms-mode tenants sign with the stack key.
  oidc: { cardKek: true, signingKey: true, residentKeys: false, cardSessionKey: false, cardPinKey: false },
  // saml: signs with the tenant's wrapped token keys (unwrap only).
  saml: { cardKek: true, signingKey: true, residentKeys: false, cardSessionKey: false, cardPinKey: false },
  // portal: TOTP secrets are wrapped under the KEK.
  portal: { cardKek: true, signingKey: false, residentKeys: false, cardSessionKey: false, cardPinKey: false },
  // card: unwraps card keys; KMS-resident card keys sign and agree keys in KMS (and GENERATE makes them);
  // seals card-session state; checks and changes PINs.
  card: { cardKek: true, signingKey: false, residentKeys: true, cardSessionKey: true, cardPinKey: true },
  // admin: enrolment wraps card keys, makes resident card keys, the tenant CA key and card-list key, signs
  // certificates with the CA key, hashes initial and unblock PINs.
  admin: { cardKek: true, signingKey: true, residentKeys: true, cardSessionKey: false, cardPinKey: true },
  // pki: signs CRLs and OCSP answers with the tenant CA key; nothing else.
  pki: { cardKek: false, signingKey: false, residentKeys: true, cardSessionKey: false, cardPinKey: false },
};

/** Builds a context's routes over a runtime. Each handler imports only its own, to keep bundles lean. */
export type RoutesFactory = (runtime: Runtime) => Route[];

/** The API Gateway proxy handler of one bounded context, over whichever adapters the runtime carries. */
export function createContextHandler(name: ContextName, runtime: Runtime, routes: RoutesFactory, observability: Observability): ProxyHandler {
  return createApp({
    name,
    // Security events go out through this function's logger and metrics, whatever route emits them.
    routes: routes({ ...runtime, securityEvents: securityEventsOf(observability) }),
    observability,
    maxBodyBytes: runtime.config.maxBodyBytes,
    trustedLocationHeaders: runtime.config.trustedLocationHeaders,
    ...(runtime.config.publicBaseUrl ? { publicBaseUrl: runtime.config.publicBaseUrl } : {}),
  });
}
