import type { Runtime } from './runtime.ts';
import { AccessCheck } from './core/access/access-check.ts';
import { AccessRevocation } from './core/access/revocation.ts';
import { RiskRecords } from './core/access/risk-records.ts';
import { UserSessions } from './core/access/user-sessions.ts';
import { Devices, RegisteredDevices } from './core/access/devices.ts';
import { DeviceCorrelations } from './core/access/correlations.ts';
import { CaepLevels } from './core/access/caep-levels.ts';
import { AdminClients } from './core/directory/admin-client.ts';
import { AuditTrail } from './core/directory/audit-trail.ts';
import { oidcSettingsOf, Tenants } from './core/directory/tenant.ts';
import { signJwt } from './core/oidc/jwt.ts';
import { TenantKeys } from './core/oidc/keys.ts';
import { TrustedCas } from './core/pki/trusted-cas.ts';
import { TruststorePublisher } from './core/pki/truststore.ts';
import { ExternalRisk, type RiskRequestSigner } from './core/risk/external.ts';
import { Users } from './core/directory/user.ts';
import { Credentials } from './core/portal/credentials.ts';
import { LoginThrottle } from './core/portal/login-throttle.ts';
import { TotpEnrolment } from './core/portal/totp.ts';
import { RecoveryCodes } from './core/portal/recovery-codes.ts';
import { Clients } from './core/oidc/client.ts';
import { InitialAccessTokens } from './core/oidc/registration-tokens.ts';
import { NO_OUTBOUND } from './core/outbound/none.ts';
import { ParticipantLogout, RelayedParticipantLogout, type LogoutChannels } from './core/access/participant-logout.ts';
import { OidcBackChannelLogout } from './core/oidc/backchannel-logout.ts';
import { SamlLogoutHandOff } from './core/access/saml-logout-handoff.ts';
import type { OidcSettings } from './core/directory/tenant.ts';
import { NO_SECURITY_EVENTS } from './core/security-events.ts';
import { requestBaseUrl } from './http/request-scope.ts';

/**
 * The directory services every function needs (tenants, users, the access check, clients, sign-in),
 * apart from those that pull heavy libraries (SAML metadata: xmldom; cards: X.509 and ASN.1), so the oidc
 * and portal functions bundle only what their routes use. `directoryServices` (runtime.ts) adds the rest.
 */
export interface BaseServices {
  readonly tenants: Tenants;
  readonly users: Users;
  /** The one check every continuation of granted access goes through (refresh, SSO reuse, APDU, ...). */
  readonly access: AccessCheck;
  /** Proactive revocation on disable and card delete; present when a state store was given. */
  readonly revocation?: AccessRevocation;
  readonly adminClients: AdminClients;
  /** The tenant's OAuth clients. */
  readonly clients: Clients;
  /** TOTP enrolment and verification; present when a key custody was given (it wraps the secrets). */
  readonly totp?: TotpEnrolment;
  /** One-time recovery codes for the second factor (stored hashed on the user). */
  readonly recoveryCodes: RecoveryCodes;
  /** Sign-in failure counting and locks; present when a state store was given. */
  readonly throttle?: LoginThrottle;
  /** Initial access tokens for dynamic registration (RFC 7591 §3); present when a state store was given. */
  readonly initialAccessTokens?: InitialAccessTokens;
  /** The portal's password sign-in (throttle + password); present when a state store was given. */
  readonly credentials?: Credentials;
  /** A user's SSO sessions and refresh-token families with their last context (token protection); present when a state store was given. */
  readonly userSessions?: UserSessions;
  /** A user's registered agent devices; present when a state store was given. */
  readonly devices?: Devices;
  /** SSO session ↔ device correlation at sign-in (the access check re-checks it); present when a state store was given. */
  readonly correlations?: DeviceCorrelations;
  /** The tenant's trusted external CAs (certificate login with certificates from other issuers). */
  readonly trustedCas: TrustedCas;
  /** Rewrites the mutual-TLS truststore; present when the runtime has a truststore writer. */
  readonly truststore?: TruststorePublisher;
  /** The tenants' token-signing keys (tokens, assertions, and the external risk service's requests). */
  readonly signingKeys: TenantKeys;
  /** Administrative changes (admin API, CLI), newest first; present when a state store was given. */
  readonly audit?: AuditTrail;
  /** The one delivery of participant logouts (the oidc function runs it for relayed requests); present when a state store was given. */
  readonly participantLogout?: ParticipantLogout;
}

export type BaseRuntime = Pick<Runtime, 'directory' | 'clock' | 'random' | 'config'> &
  Partial<Pick<Runtime, 'custody' | 'state' | 'outbound' | 'truststore' | 'securityEvents' | 'logoutRelay'>>;

/** What a function that bundles the SAML IdP adds: its back-channel logout (the oidc and portal functions bundle no XML). */
export interface BaseOptions {
  readonly samlLogout?: (deps: { readonly signingKeys: TenantKeys; readonly settings: (tenant: string) => Promise<OidcSettings> }) => LogoutChannels['saml'];
}

export function baseServices(runtime: BaseRuntime, options: BaseOptions = {}): BaseServices {
  const outbound = runtime.outbound ?? NO_OUTBOUND;
  const signingKeys = new TenantKeys({ directory: runtime.directory, clock: runtime.clock, ...(runtime.custody ? { custody: runtime.custody } : {}) });
  const clients = new Clients(runtime.directory, runtime.clock, runtime.random, outbound);
  // `tenants` is made below (it takes the revocation); these run only once a session is ended.
  const settings = async (tenant: string): Promise<OidcSettings> => oidcSettingsOf(await tenants.get(tenant));
  const signWithTenantKey = async (tenant: string, claims: Record<string, unknown>, typ: string): Promise<string> => {
    const { kid, signer } = await signingKeys.currentSigner(tenant, await settings(tenant));
    return signJwt(signer, kid, claims, typ);
  };
  // A function without the SAML IdP (no XML in its bundle) hands each SAML participant to the saml function.
  const samlLogout = options.samlLogout
    ? options.samlLogout({ signingKeys, settings })
    : new SamlLogoutHandOff({ sign: signWithTenantKey, http: outbound, clock: runtime.clock, random: runtime.random });
  // A session ended by a decision not the user's own logs the user out of its relying parties.
  const logout = runtime.state
    ? new ParticipantLogout({
        state: runtime.state,
        events: runtime.securityEvents ?? NO_SECURITY_EVENTS,
        baseUrl: () => requestBaseUrl() ?? runtime.config.publicBaseUrl,
        oidc: new OidcBackChannelLogout({
          clients,
          sign: signWithTenantKey,
          http: outbound,
          clock: runtime.clock,
          random: runtime.random,
        }),
        ...(samlLogout ? { saml: samlLogout } : {}),
      })
    : undefined;
  // A function without the token key (admin, portal in AWS) hands the delivery to the oidc function.
  const notifier = runtime.logoutRelay
    ? new RelayedParticipantLogout(runtime.logoutRelay, runtime.securityEvents ?? NO_SECURITY_EVENTS, () => requestBaseUrl() ?? runtime.config.publicBaseUrl)
    : logout;
  const revocation = runtime.state ? new AccessRevocation(runtime.state, runtime.directory, notifier) : undefined;
  const tenants = new Tenants(runtime.directory, runtime.clock, runtime.config.defaultCustody, { outbound, ...(revocation ? { endings: revocation } : {}) });
  const users = new Users(runtime.directory, tenants, runtime.clock, revocation);
  const throttle = runtime.state ? new LoginThrottle(runtime.state, runtime.clock) : undefined;
  const totp = runtime.custody ? new TotpEnrolment(runtime.directory, runtime.custody, runtime.clock) : undefined;
  const recoveryCodes = new RecoveryCodes(runtime.directory, runtime.random, runtime.clock);
  const truststore = runtime.truststore ? new TruststorePublisher(runtime.directory, tenants, runtime.truststore, runtime.clock) : undefined;
  const correlations = runtime.state ? new DeviceCorrelations(runtime.state, runtime.clock) : undefined;
  // External risk requests are signed with the tenant's current token key (published in its JWKS).
  const signRiskRequest: RiskRequestSigner = async (tenant, payload) => {
    const { kid, signer } = await signingKeys.currentSigner(tenant, oidcSettingsOf(await tenants.get(tenant)));
    return signJwt(signer, kid, payload, 'risk-request+jwt');
  };
  return {
    tenants,
    users,
    access: new AccessCheck(tenants, users, {
      clock: runtime.clock,
      ...(runtime.state ? { records: new RiskRecords(runtime.state), caep: new CaepLevels(runtime.state), devices: new RegisteredDevices(runtime.state) } : {}),
      ...(correlations ? { correlations } : {}),
      ...(throttle ? { failures: throttle } : {}),
      ...(revocation ? { endings: revocation } : {}),
      external: new ExternalRisk(outbound, signRiskRequest),
      ...(runtime.securityEvents ? { events: runtime.securityEvents } : {}),
    }),
    ...(revocation
      ? { revocation, userSessions: new UserSessions(runtime.state!, revocation), devices: new Devices(runtime.state!, runtime.clock, revocation) }
      : {}),
    ...(runtime.state ? { audit: new AuditTrail(runtime.state, runtime.clock, runtime.random) } : {}),
    ...(correlations ? { correlations } : {}),
    adminClients: new AdminClients(runtime.directory, runtime.clock, runtime.random),
    clients,
    trustedCas: new TrustedCas(runtime.directory, tenants, runtime.clock, { truststore, outbound }),
    ...(truststore ? { truststore } : {}),
    signingKeys,
    ...(totp ? { totp } : {}),
    recoveryCodes,
    ...(throttle ? { throttle, credentials: new Credentials(users, throttle, totp, runtime.securityEvents, recoveryCodes) } : {}),
    ...(runtime.state ? { initialAccessTokens: new InitialAccessTokens(runtime.state, runtime.clock, runtime.random) } : {}),
    ...(logout ? { participantLogout: logout } : {}),
  };
}
