import type { AccessCheck } from '../../../core/access/access-check.ts';
import type { Tenants } from '../../../core/directory/tenant.ts';
import type { User, Users } from '../../../core/directory/user.ts';
import type { Oidc } from '../../../core/oidc/provider.ts';
import type { SecurityEvents } from '../../../core/security-events.ts';

/** Password check with lockout (the portal's sign-in), shared by the portal and the password grant. */
export type SignIn = (
  tenant: string,
  username: string,
  password: string,
  ip: string,
) => Promise<{ outcome: 'ok'; user: User } | { outcome: 'invalid' } | { outcome: 'locked'; retryAfterSeconds: number }>;

export interface OidcRouteDeps {
  readonly oidc: Oidc;
  /** The one access check every continuation (refresh, code, device code, SSO reuse, userinfo) goes through. */
  readonly access: Pick<AccessCheck, 'continueAccess' | 'prefetch'>;
  /** Tenant lookups (in the oidc function through a short-TTL per-container cache: see ReadCache). */
  readonly tenants: Pick<Tenants, 'find'>;
  readonly users: Users;
  readonly signIn: SignIn;
  /** Tokens issued and revoked through the endpoints (the access check reports its own decisions). */
  readonly events?: SecurityEvents;
}
