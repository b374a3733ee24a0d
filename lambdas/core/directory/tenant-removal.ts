import type { DirectoryStore, Item, ItemStore, QueryRequest, ResidentKeys, StateStore } from '../../ports.ts';
import { ownerPartition } from '../access/owner-index.ts';
import { cardKeys, cardPartition, slotsOf, type CardItem } from '../cards/card-item.ts';
import type { Cards } from '../cards/cards.ts';
import { ValidationError } from '../errors.ts';
import { directoryKeys, tenantPartition } from './keys.ts';
import type { Tenants } from './tenant.ts';

/** What deleting a tenant removes: `tenant delete --dry-run` prints it, the real run returns it. */
export interface TenantRemovalPlan {
  readonly tenant: string;
  readonly users: number;
  readonly cards: number;
  /** Card keys: KMS-resident ones are scheduled for deletion, wrapped ones are forgotten with their card. */
  readonly cardKeys: { readonly kmsResident: number; readonly wrapped: number };
  /** The card CA and card-list signer keys (resident keys, scheduled for deletion). */
  readonly authorityKeys: number;
  readonly clients: number;
  readonly serviceProviders: number;
  /** Items deleted, per table. */
  readonly items: { readonly directory: number; readonly state: number };
  /** Kept on purpose: the audit trail (it expires by itself after 400 days), which records this deletion too. */
  readonly kept: readonly string[];
}

export interface TenantRemovalDeps {
  readonly directory: DirectoryStore;
  readonly tenants: Tenants;
  readonly state?: StateStore | undefined;
  readonly cards?: Cards | undefined;
  readonly residentKeys?: ResidentKeys | undefined;
}

/** The directory partitions a tenant owns besides its own (tenant, users, clients, SPs, signing keys): cards and the CRL. */
const crlPartition = (tenant: string): string => `CRL#${tenant}`;
/** State partitions keyed by the tenant id (the rest is found per user on the owner index, or expires by TTL within minutes). */
const tenantStatePartitions = (tenant: string): QueryRequest[] => [
  { partition: `DPOPNONCE#${tenant}` },
  { partition: `SSF#${tenant}` },
  { index: 'GSI1', partition: `IAT#LIST#${tenant}` },
];

/**
 * Deletes a tenant and everything it owns. The order makes an interrupted run safe and a re-run finish
 * it: the tenant is disabled first (every session, token and card session refused from then on, and
 * revoked), then each card is deleted (certificates revoked, keys destroyed), then the card CA and
 * list-signer keys, then the state items (per user on the owner index, and the tenant's own partitions),
 * then every directory item, the tenant item last (so a re-run still finds the tenant). A missing tenant
 * is a NotFoundError.
 */
export class TenantRemoval {
  readonly #deps: TenantRemovalDeps;

  constructor(deps: TenantRemovalDeps) {
    this.#deps = deps;
  }

  /** The dry run: counts what `remove` would delete, changes nothing. */
  async plan(tenantId: string): Promise<TenantRemovalPlan> {
    await this.#deps.tenants.get(tenantId);
    const counts = { users: 0, cards: 0, kmsResident: 0, wrapped: 0, authorityKeys: 0, clients: 0, serviceProviders: 0, directory: 0, state: 0 };
    const usernames: string[] = [];
    for (const partition of this.#directoryPartitions(tenantId)) {
      await each(this.#deps.directory, { partition }, async (item) => {
        counts.directory += 1;
        const sk = String(item.SK);
        if (partition === tenantPartition(tenantId) && sk.startsWith(directoryKeys.userPrefix)) usernames.push(sk.slice(directoryKeys.userPrefix.length));
        if (sk.startsWith('CLIENT#')) counts.clients += 1;
        if (sk.startsWith('SP#')) counts.serviceProviders += 1;
        if (partition === cardPartition(tenantId) && sk.startsWith(cardKeys.cardPrefix)) {
          counts.cards += 1;
          const keys = slotsOf(item as CardItem).length;
          if ((item as CardItem).custody === 'kms-resident') counts.kmsResident += keys;
          else counts.wrapped += keys;
        }
      });
    }
    counts.users = usernames.length;
    counts.authorityKeys = (await this.#authorityKeys(tenantId)).size;
    if (this.#deps.state)
      for (const request of this.#statePartitions(tenantId, usernames)) await each(this.#deps.state, request, async () => void (counts.state += 1));
    return {
      tenant: tenantId,
      users: counts.users,
      cards: counts.cards,
      cardKeys: { kmsResident: counts.kmsResident, wrapped: counts.wrapped },
      authorityKeys: counts.authorityKeys,
      clients: counts.clients,
      serviceProviders: counts.serviceProviders,
      items: { directory: counts.directory, state: counts.state },
      kept: [`the audit trail of tenant ${tenantId} (expires 400 days after each event)`],
    };
  }

  /** Deletes the tenant (see the class comment); returns what there was, as counted before. */
  async remove(tenantId: string): Promise<TenantRemovalPlan> {
    const plan = await this.plan(tenantId);
    const tenant = await this.#deps.tenants.get(tenantId);
    if (tenant.status !== 'disabled') await this.#deps.tenants.update(tenantId, { status: 'disabled' });
    if (plan.cards && !this.#deps.cards)
      throw new ValidationError(`tenant ${tenantId} has cards: deleting them needs the card key custody, which this target lacks`);
    const cardIds: string[] = [];
    await each(
      this.#deps.directory,
      { partition: cardPartition(tenantId), sortPrefix: cardKeys.cardPrefix },
      async (item) => void cardIds.push(String(item.SK).slice(cardKeys.cardPrefix.length)),
    );
    for (const id of cardIds) await this.#deps.cards!.delete(tenantId, id);
    for (const keyId of await this.#authorityKeys(tenantId)) await this.#deps.residentKeys!.destroy(keyId);
    const usernames: string[] = [];
    await each(
      this.#deps.directory,
      { partition: tenantPartition(tenantId), sortPrefix: directoryKeys.userPrefix },
      async (item) => void usernames.push(String(item.SK).slice(directoryKeys.userPrefix.length)),
    );
    if (this.#deps.state) {
      for (const request of this.#statePartitions(tenantId, usernames)) await deleteAll(this.#deps.state, request);
    }
    for (const partition of this.#directoryPartitions(tenantId))
      await deleteAll(this.#deps.directory, { partition }, (item) => !(partition === tenantPartition(tenantId) && item.SK === 'TENANT'));
    await this.#deps.directory.delete(directoryKeys.tenant(tenantId));
    return plan;
  }

  #directoryPartitions(tenantId: string): string[] {
    return [cardPartition(tenantId), crlPartition(tenantId), tenantPartition(tenantId)];
  }

  #statePartitions(tenantId: string, usernames: readonly string[]): QueryRequest[] {
    return [
      ...usernames.map((username): QueryRequest => ({ index: 'GSI1', partition: ownerPartition(tenantId, username) })),
      ...tenantStatePartitions(tenantId),
    ];
  }

  /** The resident keys the tenant's card partition names outside cards: the card CA and list-signer keys. */
  async #authorityKeys(tenantId: string): Promise<Set<string>> {
    const keys = new Set<string>();
    await each(this.#deps.directory, { partition: cardPartition(tenantId) }, async (item) => {
      if (!String(item.SK).startsWith(cardKeys.cardPrefix) && typeof item['keyId'] === 'string') keys.add(item['keyId']);
    });
    if (keys.size && !this.#deps.residentKeys) throw new ValidationError('destroying the card CA keys needs the resident key service, which this target lacks');
    return keys;
  }
}

/** Visits every item a query names, page by page. */
async function each(store: ItemStore, request: QueryRequest, visit: (item: Item) => Promise<void>): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await store.query({ ...request, limit: 100, ...(cursor ? { cursor } : {}) });
    for (const item of page.items) await visit(item);
    cursor = page.cursor;
  } while (cursor);
}

/** Deletes the items a query names (those `which` picks); gathers the keys first so paging is not disturbed by the deletes. */
async function deleteAll(store: ItemStore, request: QueryRequest, which: (item: Item) => boolean = () => true): Promise<void> {
  const keys: { PK: string; SK: string }[] = [];
  await each(store, request, async (item) => {
    if (which(item)) keys.push({ PK: String(item.PK), SK: String(item.SK) });
  });
  for (const key of keys) await store.delete(key);
}
