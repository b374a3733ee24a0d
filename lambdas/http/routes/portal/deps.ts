import type { AccessCheck } from '../../../core/access/access-check.ts';
import type { DeviceCorrelations } from '../../../core/access/correlations.ts';
import type { Tenants } from '../../../core/directory/tenant.ts';
import type { Oidc } from '../../../core/oidc/provider.ts';
import type { Credentials } from '../../../core/portal/credentials.ts';
import type { TotpEnrolment } from '../../../core/portal/totp.ts';
import type { CertificateLogins } from '../../../core/pki/cert-login.ts';

export interface PortalDeps {
  readonly oidc: Oidc;
  /** The one access check: SSO-session reuse goes through it. */
  readonly access: Pick<AccessCheck, 'continueAccess'>;
  /** Correlates a new SSO session with a device (issue 13); absent without a state store. */
  readonly correlations?: Pick<DeviceCorrelations, 'atSignIn'>;
  readonly tenants: Tenants;
  readonly credentials: Credentials;
  /** Absent where the function cannot unwrap TOTP secrets; then no one-time-code step is offered. */
  readonly totp?: TotpEnrolment;
  /** Certificate login: the checks and the mapping; with `certBaseUrl`, the mutual-TLS origin it runs on. */
  readonly certificateLogins?: CertificateLogins;
  readonly certBaseUrl?: string;
}
