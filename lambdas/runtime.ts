import type { Config } from './config.ts';
import { AdminClients } from './core/directory/admin-client.ts';
import { Tenants } from './core/directory/tenant.ts';
import { Users } from './core/directory/user.ts';
import { Credentials } from './core/portal/credentials.ts';
import { LoginThrottle } from './core/portal/login-throttle.ts';
import { TotpEnrolment } from './core/portal/totp.ts';
import { Clients } from './core/oidc/client.ts';
import { TenantKeys } from './core/oidc/keys.ts';
import { ServiceProviders } from './core/saml/service-providers.ts';
import { CardAuthority } from './core/cards/authority.ts';
import { Cards } from './core/cards/cards.ts';
import { ResidentSlotKeys, WrappedSlotKeys } from './core/cards/slot-keys.ts';
import type { Clock, DirectoryStore, KeyCustody, Random, ResidentKeys, Signer, StateStore } from './ports.ts';

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
  readonly clock: Clock;
  readonly random: Random;
}

export interface DirectoryServices {
  readonly tenants: Tenants;
  readonly users: Users;
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
  /** The portal's password sign-in (throttle + password); present when a state store was given. */
  readonly credentials?: Credentials;
  /** Cards (enrolment, admin operations, the PIV view); present when key custody and resident keys were given. */
  readonly cards?: Cards;
}

/** The directory services; those that need key custody or the state table only when they are given. */
export function directoryServices(
  runtime: Pick<Runtime, 'directory' | 'clock' | 'random' | 'config'> & Partial<Pick<Runtime, 'custody' | 'state' | 'residentKeys'>>,
): DirectoryServices {
  const tenants = new Tenants(runtime.directory, runtime.clock, runtime.config.defaultCustody);
  const users = new Users(runtime.directory, tenants, runtime.clock);
  const throttle = runtime.state ? new LoginThrottle(runtime.state, runtime.clock) : undefined;
  const totp = runtime.custody ? new TotpEnrolment(runtime.directory, runtime.custody, runtime.clock) : undefined;
  return {
    tenants,
    users,
    adminClients: new AdminClients(runtime.directory, runtime.clock, runtime.random),
    clients: new Clients(runtime.directory, runtime.clock, runtime.random),
    serviceProviders: new ServiceProviders(runtime.directory, runtime.clock),
    signingKeys: new TenantKeys({ directory: runtime.directory, clock: runtime.clock, ...(runtime.custody ? { custody: runtime.custody } : {}) }),
    ...(totp ? { totp } : {}),
    ...(throttle ? { throttle, credentials: new Credentials(users, throttle, totp) } : {}),
    ...(runtime.custody && runtime.residentKeys
      ? {
          cards: new Cards({
            directory: runtime.directory,
            custody: runtime.custody,
            slotKeys: { wrapped: new WrappedSlotKeys(runtime.custody), 'kms-resident': new ResidentSlotKeys(runtime.residentKeys) },
            authority: new CardAuthority(runtime.directory, runtime.residentKeys, runtime.clock),
            tenants,
            users,
            clock: runtime.clock,
            random: runtime.random,
          }),
        }
      : {}),
  };
}
