import type { AccessCheck, ContinuationKind } from '../../../core/access/access-check.ts';
import type { User } from '../../../core/directory/user.ts';
import type { Oidc } from '../../../core/oidc/provider.ts';
import type { SsoSession } from '../../../core/oidc/sessions.ts';
import { ssoSecretOf } from '../../cookies.ts';
import type { ApiRequest } from '../../types.ts';
import { accessContext, type TenantContext } from './common.ts';

/**
 * The browser's SSO session, if it may be reused: found by the cookie, and still allowed by the access
 * check (user and tenant active, not revoked since the sign-in). A session the check refuses is ended and
 * treated as absent, so each protocol answers as for a signed-out browser: OIDC `login_required` for
 * prompt=none and a fresh login otherwise, SAML `NoPassive` for IsPassive and a fresh login otherwise.
 */
export async function reusableSession(
  deps: { readonly oidc: Oidc; readonly access: Pick<AccessCheck, 'continueAccess'> },
  tenant: TenantContext,
  request: ApiRequest,
  kind: Extract<ContinuationKind, 'sso-reuse-oidc' | 'sso-reuse-saml'>,
  audience?: string,
): Promise<{ secret: string; session: SsoSession; user?: User } | undefined> {
  const secret = ssoSecretOf(request.headers);
  const session = await deps.oidc.sessions.find(tenant.tenant.id, secret);
  if (!session || !secret) return undefined;
  const decision = await deps.access.continueAccess({
    kind,
    tenant: tenant.tenant.id,
    subject: { user: session.sub },
    ...(audience ? { audience } : {}),
    grantedAt: session.authTime,
    sessionId: session.sid,
    context: accessContext(request),
  });
  if (decision.outcome === 'allow') return { secret, session, ...(decision.user ? { user: decision.user } : {}) };
  await deps.oidc.sessions.end(secret);
  return undefined;
}
