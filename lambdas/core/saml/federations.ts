import { ConflictError } from '../errors.ts';
import type { DirectoryStore, Item, Random } from '../../ports.ts';
import { tenantPartition } from '../directory/keys.ts';
import { entityHash } from './service-providers.ts';

/**
 * A federated identity (SAML Core §8.3.7, §3.6): the persistent, pseudonymous NameID one user has at one
 * SP. Made on first use; `linked` once the SP confirmed it (it resolved the artifact that delivered the
 * assertion, or named its own identifier with a ManageNameIDRequest NewID); ended by Terminate.
 */
export interface Federation {
  readonly alias: string;
  readonly username: string;
  readonly spEntityId: string;
  readonly createdAt: string;
  readonly linked?: boolean;
  readonly linkedAt?: string;
  /** The SP's own identifier for the user (ManageNameIDRequest NewID), sent back as SPProvidedID. */
  readonly spProvidedId?: string;
}

type FederationItem = Item & Federation;

const federationKey = (tenant: string, spEntityId: string, username: string) => ({
  PK: tenantPartition(tenant),
  SK: `NAMEID#${entityHash(spEntityId)}#${username}`,
});
/** GSI1: a federation by its alias, within one SP (requests from the SP name the alias, not the user). */
const aliasIndex = (tenant: string, spEntityId: string) => `${tenantPartition(tenant)}#NAMEID#${entityHash(spEntityId)}`;

export class Federations {
  readonly #directory: DirectoryStore;
  readonly #random: Random;

  constructor(directory: DirectoryStore, random: Random) {
    this.#directory = directory;
    this.#random = random;
  }

  async find(tenant: string, spEntityId: string, username: string): Promise<Federation | undefined> {
    return this.#directory.get<FederationItem>(federationKey(tenant, spEntityId, username));
  }

  /**
   * The user's alias at this SP, made on first use by one put-if-absent, so two concurrent first logins
   * agree on the same alias. After Terminate the next call makes a new one.
   */
  async aliasFor(tenant: string, spEntityId: string, username: string, now: number): Promise<string> {
    const existing = await this.find(tenant, spEntityId, username);
    if (existing) return existing.alias;
    const alias = Buffer.from(this.#random.bytes(32)).toString('base64url');
    const item: FederationItem = {
      ...federationKey(tenant, spEntityId, username),
      GSI1PK: aliasIndex(tenant, spEntityId),
      GSI1SK: alias,
      alias,
      username,
      spEntityId,
      createdAt: new Date(now).toISOString(),
    };
    try {
      await this.#directory.put(item, { absent: true });
      return alias;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      return (await this.find(tenant, spEntityId, username))!.alias;
    }
  }

  /** The federation an SP's request names by its alias (the NameID we issued). */
  async findByAlias(tenant: string, spEntityId: string, alias: string): Promise<Federation | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(alias)) return undefined;
    const page = await this.#directory.query<FederationItem>({ index: 'GSI1', partition: aliasIndex(tenant, spEntityId), sortPrefix: alias, limit: 2 });
    const found = page.items.filter((item) => item.alias === alias && item.spEntityId === spEntityId);
    return found.length === 1 ? found[0] : undefined;
  }

  /** Records that the SP confirmed the link; a federation terminated meanwhile stays terminated. */
  async link(tenant: string, federation: Federation, now: number, spProvidedId?: string): Promise<boolean> {
    const changes = { linked: true, linkedAt: new Date(now).toISOString(), ...(spProvidedId !== undefined ? { spProvidedId } : {}) };
    try {
      await this.#directory.update(federationKey(tenant, federation.spEntityId, federation.username), changes, { equals: { alias: federation.alias } });
      return true;
    } catch (error) {
      if (error instanceof ConflictError) return false;
      throw error;
    }
  }

  /** Ends the federation (ManageNameIDRequest Terminate): the next login makes a new alias. */
  /** The user's federation with this SP, whatever its alias (a deleted user's: a new user of the same name gets a new alias). */
  async forget(tenant: string, spEntityId: string, username: string): Promise<void> {
    await this.#directory.delete(federationKey(tenant, spEntityId, username));
  }

  async terminate(tenant: string, federation: Federation): Promise<boolean> {
    try {
      await this.#directory.delete(federationKey(tenant, federation.spEntityId, federation.username), { equals: { alias: federation.alias } });
      return true;
    } catch (error) {
      if (error instanceof ConflictError) return false;
      throw error;
    }
  }
}
