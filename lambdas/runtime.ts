import type { Config } from './config.ts';
import { AccessCheck } from './core/access/access-check.ts';
import { AccessRevocation } from './core/access/revocation.ts';
import { RiskRecords } from './core/access/risk-records.ts';
import { UserSessions } from './core/access/user-sessions.ts';
import { signJwt } from './core/oidc/jwt.ts';
import { ExternalRisk, type RiskRequestSigner } from './core/risk/external.ts';
import { AdminClients } from './core/directory/admin-client.ts';
import { oidcSettingsOf, Tenants } from './core/directory/tenant.ts';
import { Users } from './core/directory/user.ts';
import { Credentials } from './core/portal/credentials.ts';
import { LoginThrottle } from './core/portal/login-throttle.ts';
import { TotpEnrolment } from './core/portal/totp.ts';
import { Clients } from './core/oidc/client.ts';
import { TenantKeys } from './core/oidc/keys.ts';
import { InitialAccessTokens } from './core/oidc/registration-tokens.ts';
import { ServiceProviders } from './core/saml/service-providers.ts';
import { CardAuthority } from './core/cards/authority.ts';
import { TrustedCas } from './core/pki/trusted-cas.ts';
import { Cards } from './core/cards/cards.ts';
import { PinHasher } from './core/cards/pin-hash.ts';
import { ResidentSlotKeys, WrappedSlotKeys } from './core/cards/slot-keys.ts';
import { NO_OUTBOUND } from './core/outbound/none.ts';
import type { Clock, DirectoryStore, KeyCustody, MacKey, OutboundHttp, Random, ResidentKeys, Signer, StateStore } from './ports.ts';

/** Everything a bounded context needs, wired once per process by a handler or by the local gateway. */
export interface Runtime {
  readonly config: Config;
  readonly directory: DirectoryStore;
  readonly state: StateStore;
  /** Present only in functions allowed to wrap/unwrap card keys. */
  readonly custody?: KeyCustody;
  /** Present only in functions allowed to sign. */
  readonly signer?: Signer;
  /** Present only in functions that make or use KMS-resident keys (card keys, card CA keys). */
  readonly residentKeys?: ResidentKeys;
  /** Present only in the card function: the MAC key sealing card-session security state. */
  readonly cardSessionKey?: MacKey;
  /** Present only in functions that hash or check card PINs (card, admin): keys the PIN hashes. */
  readonly cardPinKey?: MacKey;
  readonly clock: Clock;
  readonly random: Random;
  /**
   * HTTP to URLs tenant data names (SP SOAP endpoints, trusted-issuer JWKS), through the outbound URL
   * policy. Its loopback exception is on only where the local stack or a test turns it on.
   */
  readonly outbound: OutboundHttp;
}

export interface DirectoryServices {
  readonly tenants: Tenants;
  readonly users: Users;
  /** The one check every continuation of granted access goes through (refresh, SSO reuse, APDU, ...). */
  readonly access: AccessCheck;
  /** Proactive revocation on disable and card delete; present when a state store was given. */
  readonly revocation?: AccessRevocation;
  readonly adminClients: AdminClients;
  /** The tenant's OAuth clients. */
  readonly clients: Clients;
  /** The tenant's token-signing keys (rotation needs key custody to wrap the new key). */
  readonly signingKeys: TenantKeys;
  /** SAML service providers, registered from their metadata. */
  readonly serviceProviders: ServiceProviders;
  /** TOTP enrolment and verification; present when a key custody was given (it wraps the secrets). */
  readonly totp?: TotpEnrolment;
  /** Sign-in failure counting and locks; present when a state store was given. */
  readonly throttle?: LoginThrottle;
  /** Initial access tokens for dynamic registration (RFC 7591 §3); present when a state store was given. */
  readonly initialAccessTokens?: InitialAccessTokens;
  /** The portal's password sign-in (throttle + password); present when a state store was given. */
  readonly credentials?: Credentials;
  /** A user's SSO sessions and refresh-token families with their last context (token protection); present when a state store was given. */
  readonly userSessions?: UserSessions;
  /** The tenant's trusted external CAs (certificate login with certificates from other issuers). */
  readonly trustedCas: TrustedCas;
  /** Cards (enrolment, admin operations, the PIV view); present when key custody, resident keys and the PIN key were given. */
  readonly cards?: Cards;
}

/**
 * The directory services; those that need key custody or the state table only when they are given.
 * Without outbound HTTP, no URL that the platform would call (SP SOAP endpoints, JWKS URIs) is accepted.
 */
export function directoryServices(
  runtime: Pick<Runtime, 'directory' | 'clock' | 'random' | 'config'> & Partial<Pick<Runtime, 'custody' | 'state' | 'residentKeys' | 'outbound' | 'cardPinKey'>>,
): DirectoryServices {
  const outbound = runtime.outbound ?? NO_OUTBOUND;
  const revocation = runtime.state ? new AccessRevocation(runtime.state, runtime.directory) : undefined;
  const tenants = new Tenants(runtime.directory, runtime.clock, runtime.config.defaultCustody, { outbound, ...(revocation ? { endings: revocation } : {}) });
  const users = new Users(runtime.directory, tenants, runtime.clock, revocation);
  const throttle = runtime.state ? new LoginThrottle(runtime.state, runtime.clock) : undefined;
  const totp = runtime.custody ? new TotpEnrolment(runtime.directory, runtime.custody, runtime.clock) : undefined;
  const signingKeys = new TenantKeys({ directory: runtime.directory, clock: runtime.clock, ...(runtime.custody ? { custody: runtime.custody } : {}) });
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
      ...(runtime.state ? { records: new RiskRecords(runtime.state) } : {}),
      ...(throttle ? { failures: throttle } : {}),
      ...(revocation ? { endings: revocation } : {}),
      external: new ExternalRisk(outbound, signRiskRequest),
    }),
    ...(revocation ? { revocation, userSessions: new UserSessions(runtime.state!, revocation) } : {}),
    adminClients: new AdminClients(runtime.directory, runtime.clock, runtime.random),
    clients: new Clients(runtime.directory, runtime.clock, runtime.random, outbound),
    serviceProviders: new ServiceProviders(runtime.directory, runtime.clock, outbound),
    trustedCas: new TrustedCas(runtime.directory, tenants, runtime.clock),
    signingKeys,
    ...(totp ? { totp } : {}),
    ...(throttle ? { throttle, credentials: new Credentials(users, throttle, totp) } : {}),
    ...(runtime.state ? { initialAccessTokens: new InitialAccessTokens(runtime.state, runtime.clock, runtime.random) } : {}),
    ...(runtime.custody && runtime.residentKeys && runtime.cardPinKey
      ? {
          cards: new Cards({
            directory: runtime.directory,
            custody: runtime.custody,
            slotKeys: { wrapped: new WrappedSlotKeys(runtime.custody), 'kms-resident': new ResidentSlotKeys(runtime.residentKeys) },
            authority: new CardAuthority(runtime.directory, runtime.residentKeys, runtime.clock),
            pins: new PinHasher(runtime.cardPinKey),
            tenants,
            users,
            clock: runtime.clock,
            random: runtime.random,
            ...(revocation ? { sessionEndings: revocation } : {}),
          }),
        }
      : {}),
  };
}
