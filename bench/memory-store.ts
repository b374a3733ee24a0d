import { isDeepStrictEqual } from 'node:util';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ConflictError, ValidationError } from '../lambdas/core/errors.ts';
import type { Clock, Item, ItemKey, ItemStore, QueryPage, QueryRequest, StateStore, WriteGuard } from '../lambdas/ports.ts';

/**
 * The store ports in memory, for the benchmark only: what cloudcard's handler costs without a store's
 * round trip, beside oidc-provider on its own in-memory adapter. Same semantics as the DynamoDB adapter
 * (lambdas/adapters/dynamodb/item-store.ts) for what the token path uses: guards (absent, present,
 * equals, reportCurrent), an update that upserts on the directory and needs a live item on the state
 * table, expired state items read and guard as absent, queries by partition and sort-key prefix in key
 * order with a limit and a cursor. Items are copied in and out, as over the wire.
 */
export class MemoryItemStore implements ItemStore {
  protected readonly items = new Map<string, Item>();
  readonly #role: string;

  constructor(role: string) {
    this.#role = role;
  }

  /** Loads items as they are (a copy of another store's tables). */
  load(items: Iterable<Item>): void {
    for (const item of items) this.items.set(keyOf(item), structuredClone(item));
  }

  async get<T extends Item = Item>(key: ItemKey): Promise<T | undefined> {
    const item = this.items.get(keyOf(key));
    return item && this.visible(item) ? (structuredClone(item) as T) : undefined;
  }

  async put(item: Item, guard?: WriteGuard): Promise<void> {
    this.check(this.items.get(keyOf(item)), guard);
    this.items.set(keyOf(item), structuredClone(item));
  }

  async update<T extends Item = Item>(key: ItemKey, changes: Readonly<Record<string, unknown>>, guard?: WriteGuard): Promise<T> {
    if ('PK' in changes || 'SK' in changes) throw new ValidationError('the key of an item cannot change');
    const entries = Object.entries(changes).filter(([, value]) => value !== undefined);
    if (entries.length === 0) throw new ValidationError('an update must change something');
    const current = this.items.get(keyOf(key));
    this.check(current, guard);
    const next: Item = structuredClone(current ?? { PK: key.PK, SK: key.SK });
    for (const [attribute, value] of entries) {
      if (value === null) delete next[attribute];
      else next[attribute] = structuredClone(value);
    }
    this.items.set(keyOf(key), next);
    return structuredClone(next) as T;
  }

  async delete(key: ItemKey, guard?: WriteGuard): Promise<void> {
    this.check(this.items.get(keyOf(key)), guard);
    this.items.delete(keyOf(key));
  }

  async query<T extends Item = Item>(request: QueryRequest): Promise<QueryPage<T>> {
    const pk = request.index ? `${request.index}PK` : 'PK';
    const sk = request.index ? `${request.index}SK` : 'SK';
    const after = request.cursor ? (JSON.parse(Buffer.from(request.cursor, 'base64url').toString('utf8')) as { sort: string; key: string }) : undefined;
    const matching = [...this.items.values()]
      .filter(
        (item) =>
          item[pk] === request.partition && typeof item[sk] === 'string' && (!request.sortPrefix || (item[sk] as string).startsWith(request.sortPrefix)),
      )
      .map((item) => ({ item, sort: item[sk] as string, key: keyOf(item) }))
      .sort((a, b) => compare(a.sort, b.sort) || compare(a.key, b.key))
      .filter((entry) => !after || compare(entry.sort, after.sort) > 0 || (entry.sort === after.sort && compare(entry.key, after.key) > 0));
    const page = request.limit ? matching.slice(0, request.limit) : matching;
    const last = page.at(-1);
    const more = request.limit !== undefined && matching.length > page.length && last;
    return {
      items: page
        .map((entry) => entry.item)
        .filter((item) => this.visible(item))
        .map((item) => structuredClone(item) as T),
      ...(more ? { cursor: Buffer.from(JSON.stringify({ sort: last.sort, key: last.key })).toString('base64url') } : {}),
    };
  }

  async ping(): Promise<void> {}

  /** Whether a stored item counts as there (the state store hides expired ones). */
  protected visible(_item: Item): boolean {
    return true;
  }

  /** The guard against the item as it stands; a lost guard is a ConflictError, with the item if asked. */
  protected check(current: Item | undefined, guard: WriteGuard | undefined): void {
    if (!guard) return;
    const there = current !== undefined && this.visible(current);
    const held =
      (!guard.absent || !there) &&
      (!guard.present || there) &&
      Object.entries(guard.equals ?? {}).every(([attribute, value]) => there && isDeepStrictEqual(current[attribute], value));
    if (!held)
      throw new ConflictError(
        `${this.#role}: the item changed or does not meet the write condition`,
        guard.reportCurrent ? { current: there ? structuredClone(current) : undefined } : undefined,
      );
  }
}

/** The state table in memory: expired items read, and guard, as absent; updates need a live item unless creating. */
export class MemoryStateStore extends MemoryItemStore implements StateStore {
  readonly #clock: Clock;

  constructor(clock: Clock) {
    super('state');
    this.#clock = clock;
  }

  override async put(item: Item & { expiresAt: number }, guard?: WriteGuard): Promise<void> {
    if (!Number.isInteger(item.expiresAt) || item.expiresAt <= 0) throw new ValidationError('state items need an integer expiresAt');
    return super.put(item, guard);
  }

  override async update<T extends Item = Item>(key: ItemKey, changes: Readonly<Record<string, unknown>>, guard?: WriteGuard): Promise<T> {
    if (guard?.absent) {
      if (changes['expiresAt'] === undefined) throw new ValidationError('an update that may create a state item must set an integer expiresAt');
      return super.update<T>(key, changes, guard);
    }
    return super.update<T>(key, changes, { ...guard, present: true });
  }

  protected override check(current: Item | undefined, guard: WriteGuard | undefined): void {
    // `equals` alone also needs a live item, as on the DynamoDB state table.
    super.check(current, guard && !guard.absent && guard.equals ? { ...guard, present: true } : guard);
  }

  protected override visible(item: Item): boolean {
    const expiresAt = item['expiresAt'];
    return typeof expiresAt === 'number' && expiresAt * 1000 > this.#clock.now();
  }
}

const keyOf = (key: ItemKey): string => `${key.PK}\u0000${key.SK}`;
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Every item of a table, read through the embedded store's client (a one-off copy, not measured). */
export async function scanTable(client: DynamoDBClient, tableName: string): Promise<Item[]> {
  const documents = DynamoDBDocumentClient.from(client);
  const items: Item[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(new ScanCommand({ TableName: tableName, ...(start ? { ExclusiveStartKey: start } : {}) }));
    items.push(...((page.Items ?? []) as Item[]));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}
