import type { Config } from './config.ts';
import { AdminClients } from './core/directory/admin-client.ts';
import { Tenants } from './core/directory/tenant.ts';
import { Users } from './core/directory/user.ts';
import type { Clock, DirectoryStore, KeyCustody, Random, Signer, StateStore } from './ports.ts';

/** Everything a bounded context needs, wired once per process by a handler or by the local gateway. */
export interface Runtime {
  readonly config: Config;
  readonly directory: DirectoryStore;
  readonly state: StateStore;
  /** Present only in functions allowed to wrap/unwrap card keys. */
  readonly custody?: KeyCustody;
  /** Present only in functions allowed to sign. */
  readonly signer?: Signer;
  readonly clock: Clock;
  readonly random: Random;
}

export interface DirectoryServices {
  readonly tenants: Tenants;
  readonly users: Users;
  readonly adminClients: AdminClients;
}

export function directoryServices(runtime: Pick<Runtime, 'directory' | 'clock' | 'random' | 'config'>): DirectoryServices {
  const tenants = new Tenants(runtime.directory, runtime.clock, runtime.config.defaultCustody);
  return {
    tenants,
    users: new Users(runtime.directory, tenants, runtime.clock),
    adminClients: new AdminClients(runtime.directory, runtime.clock, runtime.random),
  };
}
