import type { ContextName } from '../../lambdas/contexts.ts';
import type { Item, ItemKey, ItemStore, QueryRequest, StateStore, WriteGuard } from '../../lambdas/ports.ts';
import type { Rounds } from './store-rounds.ts';

/** One DynamoDB request an ItemStore call makes, as IAM sees it: the action, the table or index, the partition. */
export interface RecordedRequest {
  readonly context: ContextName;
  readonly table: 'directory' | 'state';
  readonly action: 'dynamodb:GetItem' | 'dynamodb:PutItem' | 'dynamodb:UpdateItem' | 'dynamodb:DeleteItem' | 'dynamodb:Query';
  readonly index?: 'GSI1' | 'GSI2';
  /** The request's dynamodb:LeadingKeys value: the item's PK, or the (index) partition queried. */
  readonly partition: string;
  /** Its sequential round trip within the request, when the store was given a round counter. */
  readonly round?: number;
}

/**
 * Wraps an ItemStore so every call is written down as the DynamoDB request the adapter makes for it
 * (lambdas/adapters/dynamodb/item-store.ts: one GetItem, PutItem, UpdateItem, DeleteItem or Query each;
 * ping is a GetItem of `health`), then passes through; with `rounds`, each with its round trip.
 */
export function recordingStore<S extends ItemStore | StateStore>(
  store: S,
  context: ContextName,
  table: RecordedRequest['table'],
  log: RecordedRequest[],
  rounds?: Rounds,
): S {
  const record = <R>(action: RecordedRequest['action'], partition: string, call: () => Promise<R>, index?: RecordedRequest['index']): Promise<R> => {
    const round = rounds?.start();
    log.push({ context, table, action, partition, ...(index ? { index } : {}), ...(round ? { round } : {}) });
    return round ? call().finally(() => rounds!.end(round)) : call();
  };
  const wrapped: ItemStore = {
    get: <T extends Item>(key: ItemKey) => record('dynamodb:GetItem', key.PK, () => store.get<T>(key)),
    put: (item: Item & { expiresAt: number }, guard?: WriteGuard) => record('dynamodb:PutItem', item.PK, () => store.put(item, guard)),
    update: <T extends Item>(key: ItemKey, changes: Readonly<Record<string, unknown>>, guard?: WriteGuard) =>
      record('dynamodb:UpdateItem', key.PK, () => store.update<T>(key, changes, guard)),
    delete: (key: ItemKey, guard?: WriteGuard) => record('dynamodb:DeleteItem', key.PK, () => store.delete(key, guard)),
    query: <T extends Item>(request: QueryRequest) => record('dynamodb:Query', request.partition, () => store.query<T>(request), request.index),
    ping: () => record('dynamodb:GetItem', 'health', () => store.ping()),
  };
  return wrapped as S;
}
