import type { AccessCheck } from '../../../core/access/access-check.ts';
import type { Tenants } from '../../../core/directory/tenant.ts';
import type { Users } from '../../../core/directory/user.ts';
import type { Saml } from '../../../core/saml/provider.ts';

export interface SamlRouteDeps {
  readonly saml: Saml;
  /** The one access check: SSO-session reuse goes through it. */
  readonly access: Pick<AccessCheck, 'continueAccess'>;
  readonly tenants: Tenants;
  readonly users: Users;
  /** The portal offers certificate login (a mutual-TLS origin is configured): smart-card contexts can be met. */
  readonly certificateLogin?: boolean;
}
