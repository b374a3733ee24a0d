import type { SecurityEvents } from './core/security-events.ts';
import type { LogoutRelay } from './core/access/participant-logout.ts';
import type { Config } from './config.ts';
import { baseServices, type BaseOptions, type BaseServices } from './base-services.ts';
import { TenantKeys } from './core/oidc/keys.ts';
import { ServiceProviders } from './core/saml/service-providers.ts';
import { UserAccounts } from './core/directory/user-accounts.ts';
import { Consents } from './core/oidc/consents.ts';
import { Federations } from './core/saml/federations.ts';
import { TenantRemoval } from './core/directory/tenant-removal.ts';
import { UserImport } from './core/directory/user-import.ts';
import { TenantTransfer } from './core/directory/tenant-transfer.ts';
import { NO_OUTBOUND } from './core/outbound/none.ts';
import { cardService } from './card-service.ts';
import type { Cards } from './core/cards/cards.ts';
import type { Clock, DirectoryStore, KeyCustody, MacKey, OutboundHttp, Random, ResidentKeys, Signer, StateStore, TruststoreWriter } from './ports.ts';

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
  /** Structured security events (core/security-events.ts); the function's observability when it runs behind the API. */
  readonly securityEvents?: SecurityEvents;
  /**
   * Present only where the mutual-TLS truststore is rewritten (the admin function when the stack has a
   * certificate domain; the local stack's data directory): trusted-CA changes and new tenant CAs publish.
   */
  readonly truststore?: TruststoreWriter;
  /**
   * Present only in functions that hold no token-signing key but end sessions (admin, portal in AWS):
   * relying-party logouts are handed to the oidc function (lambdas/internal-events.ts), which signs them.
   */
  readonly logoutRelay?: LogoutRelay;
}

export interface DirectoryServices extends BaseServices {
  /** The tenant's token-signing keys (rotation needs key custody to wrap the new key). */
  readonly signingKeys: TenantKeys;
  /** SAML service providers, registered from their metadata. */
  readonly serviceProviders: ServiceProviders;
  /** Cards (enrolment, admin operations, the PIV view); present when key custody, resident keys and the PIN key were given. */
  readonly cards?: Cards;
  /** A user's whole account (with cards and devices): show and delete. */
  readonly accounts: UserAccounts;
  /** Deleting a tenant and everything it owns (with a dry run). */
  readonly tenantRemoval: TenantRemoval;
  /** Bulk user creation from CSV. */
  readonly userImport: UserImport;
  /** Tenant export (JSON, no secrets) and import into a new tenant. */
  readonly tenantTransfer: TenantTransfer;
}

/**
 * The directory services; those that need key custody or the state table only when they are given.
 * Without outbound HTTP, no URL that the platform would call (SP SOAP endpoints, JWKS URIs) is accepted.
 * A function whose routes need none of service providers, signing-key administration or cards builds
 * `baseServices` (base-services.ts) instead, and does not bundle their libraries.
 */
export function directoryServices(
  runtime: Pick<Runtime, 'directory' | 'clock' | 'random' | 'config'> &
    Partial<Pick<Runtime, 'custody' | 'state' | 'residentKeys' | 'outbound' | 'cardPinKey' | 'truststore'>>,
  /** The saml function passes its direct SAML back-channel logout; every other function hands SAML participants to it. */
  options: BaseOptions = {},
): DirectoryServices {
  const base = baseServices(runtime, options);
  const { tenants, users } = base;
  const outbound = runtime.outbound ?? NO_OUTBOUND;
  const cards = cardService(runtime, base);
  const serviceProviders = new ServiceProviders(runtime.directory, runtime.clock, outbound);
  const tenantRemoval = new TenantRemoval({ directory: runtime.directory, tenants, state: runtime.state, cards, residentKeys: runtime.residentKeys });
  return {
    ...base,
    serviceProviders,
    ...(cards ? { cards } : {}),
    accounts: new UserAccounts(users, cards, base.devices, {
      forget: async (tenantId, username) => {
        await new Consents(runtime.directory).forget(tenantId, username);
        const federations = new Federations(runtime.directory, runtime.random);
        for (const sp of await serviceProviders.list(tenantId)) await federations.forget(tenantId, sp.entityId, username);
      },
    }),
    userImport: new UserImport(users),
    tenantRemoval,
    tenantTransfer: new TenantTransfer({ tenants, users, clients: base.clients, serviceProviders, removal: tenantRemoval, clock: runtime.clock }),
  };
}
