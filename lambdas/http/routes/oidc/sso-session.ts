import type { AccessCheck, ContinuationKind } from '../../../core/access/access-check.ts';
import type { User } from '../../../core/directory/user.ts';
import type { Oidc } from '../../../core/oidc/provider.ts';
import { sessionHash, type SsoSession } from '../../../core/oidc/sessions.ts';
import { ssoSecretOf } from '../../cookies.ts';
import type { ApiRequest } from '../../types.ts';
import { accessContext, type TenantContext } from './common.ts';

export type SsoReuse =
  | { readonly kind: 'reuse'; readonly secret: string; readonly session: SsoSession; readonly user?: User }
  /** Risk asks for a stronger sign-in: the old session is ended; the caller starts a login at the one-time-code level for `sub`. */
  | { readonly kind: 'step-up'; readonly sub: string }
  | { readonly kind: 'none' };

/**
 * The browser's SSO session and what the access check says about reusing it here (user and tenant
 * active, not revoked since the sign-in, and the risk of this request's context against the session's).
 * A refused session is ended and counts as none, so each protocol answers as for a signed-out browser:
 * OIDC `login_required` for prompt=none and a fresh login otherwise, SAML `NoPassive` for IsPassive and a
 * fresh login otherwise. A step-up also ends it: the fresh login is asked at the one-time-code level.
 */
export async function ssoReuse(
  deps: { readonly oidc: Oidc; readonly access: Pick<AccessCheck, 'continueAccess'> },
  tenant: TenantContext,
  request: ApiRequest,
  kind: Extract<ContinuationKind, 'sso-reuse-oidc' | 'sso-reuse-saml'>,
  audience?: string,
  /** Which cookie may carry the session here: the SSO endpoints also take the cross-site copy on top-level navigations. */
  secretOf: (headers: ApiRequest['headers']) => string | undefined = ssoSecretOf,
): Promise<SsoReuse> {
  const secret = secretOf(request.headers);
  const session = await deps.oidc.sessions.find(tenant.tenant.id, secret);
  if (!session || !secret) return { kind: 'none' };
  const relyingParty = audience?.startsWith('saml:') ? { sp: audience.slice(5) } : audience ? { clientId: audience } : {};
  const decision = await deps.access.continueAccess({
    kind,
    tenant: tenant.tenant.id,
    subject: { user: session.sub },
    ...(audience ? { audience } : {}),
    grantedAt: session.authTime,
    sessionId: session.sid,
    record: { kind: 'sso', hash: sessionHash(secret) },
    context: accessContext(request, undefined, { amr: session.amr, ...relyingParty }),
  });
  if (decision.outcome === 'allow') return { kind: 'reuse', secret, session, ...(decision.user ? { user: decision.user } : {}) };
  await deps.oidc.sessions.end(secret);
  return decision.outcome === 'step-up' ? { kind: 'step-up', sub: session.sub } : { kind: 'none' };
}

/** The session if it may be reused as it is; a step-up counts as no session (a fresh login). */
export async function reusableSession(
  deps: { readonly oidc: Oidc; readonly access: Pick<AccessCheck, 'continueAccess'> },
  tenant: TenantContext,
  request: ApiRequest,
  kind: Extract<ContinuationKind, 'sso-reuse-oidc' | 'sso-reuse-saml'>,
  audience?: string,
): Promise<{ secret: string; session: SsoSession; user?: User } | undefined> {
  const reuse = await ssoReuse(deps, tenant, request, kind, audience);
  return reuse.kind === 'reuse' ? reuse : undefined;
}
