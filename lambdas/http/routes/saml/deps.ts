import type { Tenants } from '../../../core/directory/tenant.ts';
import type { Users } from '../../../core/directory/user.ts';
import type { Saml } from '../../../core/saml/provider.ts';

export interface SamlRouteDeps {
  readonly saml: Saml;
  readonly tenants: Tenants;
  readonly users: Users;
}
