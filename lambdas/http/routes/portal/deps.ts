import type { AccessCheck } from '../../../core/access/access-check.ts';
import type { DeviceCorrelations } from '../../../core/access/correlations.ts';
import type { Tenants } from '../../../core/directory/tenant.ts';
import type { Oidc } from '../../../core/oidc/provider.ts';
import type { Credentials } from '../../../core/portal/credentials.ts';
import type { LoginThrottle } from '../../../core/portal/login-throttle.ts';
import type { TotpEnrolment } from '../../../core/portal/totp.ts';
import type { CertificateLogins } from '../../../core/pki/cert-login.ts';
import type { Devices } from '../../../core/access/devices.ts';
import type { UserSessions } from '../../../core/access/user-sessions.ts';
import type { HolderCard } from '../../../core/cards/holder-cards.ts';
import type { AuditTrail } from '../../../core/directory/audit-trail.ts';
import type { Users } from '../../../core/directory/user.ts';
import type { RecoveryCodes } from '../../../core/portal/recovery-codes.ts';
import type { SecurityEvents } from '../../../core/security-events.ts';

/** What the end-user account page works with; absent where there is no state table. */
export interface AccountServices {
  readonly users: Users;
  readonly recoveryCodes: RecoveryCodes;
  readonly sessions: UserSessions;
  /** Signing a device out ends its refresh-token families (the portal may not touch card sessions). */
  readonly devices: Devices;
  readonly audit: AuditTrail;
  readonly cards: (tenant: string, username: string) => Promise<HolderCard[]>;
}

export interface PortalDeps {
  readonly oidc: Oidc;
  /** The one access check: SSO-session reuse goes through it. */
  readonly access: Pick<AccessCheck, 'continueAccess'>;
  /** Correlates a new SSO session with a device (issue 13); absent without a state store. */
  readonly correlations?: Pick<DeviceCorrelations, 'atSignIn'>;
  readonly tenants: Tenants;
  readonly credentials: Credentials;
  /** Counts wrong device-flow user codes against the source address (RFC 8628 §5.1). */
  readonly throttle: Pick<LoginThrottle, 'attemptFromAddress'>;
  /** Absent where the function cannot unwrap TOTP secrets; then no one-time-code step is offered. */
  readonly totp?: TotpEnrolment;
  /** Certificate login: the checks and the mapping; with `certBaseUrl`, the mutual-TLS origin it runs on. */
  readonly certificateLogins?: CertificateLogins;
  readonly certBaseUrl?: string;
  readonly account?: AccountServices;
  /** Security events of the portal's own steps (consent given or refused, a browser-SSO transfer redeemed or refused). */
  readonly events?: SecurityEvents;
}
