import { ConditionalCheckFailedException, DynamoDBClient, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand, type NativeAttributeValue } from '@aws-sdk/lib-dynamodb';
import { ConflictError, UnavailableError, ValidationError } from '../../core/errors.ts';
import type { Clock, Item, ItemKey, ItemStore, QueryPage, QueryRequest, StateStore, WriteGuard } from '../../ports.ts';

export interface DynamoItemStoreProps {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Name used in errors and health output ("directory", "state"). */
  readonly role: string;
}

/** Builds condition and update expressions with placeholders, so no attribute name is ever reserved. */
class Expression {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, NativeAttributeValue> = {};
  #n = 0;
  name(attribute: string): string {
    const placeholder = `#n${this.#n++}`;
    this.names[placeholder] = attribute;
    return placeholder;
  }
  value(v: unknown): string {
    const placeholder = `:v${this.#n++}`;
    this.values[placeholder] = v as NativeAttributeValue;
    return placeholder;
  }
  attributes(): { ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Record<string, NativeAttributeValue> } {
    return {
      ...(Object.keys(this.names).length ? { ExpressionAttributeNames: this.names } : {}),
      ...(Object.keys(this.values).length ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

/** What the SDK attaches to a lost condition: the item as stored when asked for ALL_OLD, and the attempts. */
type ConditionFailure = Error & { Item?: Record<string, AttributeValue>; $metadata?: { attempts?: number } };

const isConditionFailure = (error: unknown): error is ConditionFailure =>
  error instanceof ConditionalCheckFailedException || (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';

/** An ItemStore over one DynamoDB table (AWS, moto, LocalStack or the embedded dynalite). */
export class DynamoItemStore implements ItemStore {
  protected readonly documents: DynamoDBDocumentClient;
  protected readonly tableName: string;
  protected readonly role: string;

  constructor(props: DynamoItemStoreProps) {
    this.documents = DynamoDBDocumentClient.from(props.client, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
    this.tableName = props.tableName;
    this.role = props.role;
  }

  async get<T extends Item = Item>(key: ItemKey): Promise<T | undefined> {
    const out = await this.call(() =>
      this.documents.send(new GetCommand({ TableName: this.tableName, Key: { PK: key.PK, SK: key.SK }, ConsistentRead: true })),
    );
    return out.Item as T | undefined;
  }

  async put(item: Item, guard?: WriteGuard): Promise<void> {
    const expr = new Expression();
    const condition = this.condition(expr, guard);
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ...(condition ? { ConditionExpression: condition, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } : {}),
          ...expr.attributes(),
        }),
      );
    } catch (error) {
      // A create whose first attempt succeeded but whose response was lost (timeout, reset) is retried by
      // the SDK, and the retry then finds our own item in place. That is a success, not a conflict. Only a
      // retried call qualifies: on a single attempt an identical item can only be someone else's write
      // (a replayed one-time identifier, say), which must stay a conflict.
      if (guard?.absent && isConditionFailure(error) && (error.$metadata?.attempts ?? 1) > 1 && (await this.holds(item, error))) return;
      this.fail(error);
    }
  }

  async update<T extends Item = Item>(key: ItemKey, changes: Readonly<Record<string, unknown>>, guard?: WriteGuard): Promise<T> {
    const expr = new Expression();
    const sets: string[] = [];
    const removes: string[] = [];
    for (const [attribute, value] of Object.entries(changes)) {
      if (attribute === 'PK' || attribute === 'SK') throw new ValidationError('the key of an item cannot change');
      if (value === undefined) continue;
      if (value === null) removes.push(expr.name(attribute));
      else sets.push(`${expr.name(attribute)} = ${expr.value(value)}`);
    }
    if (sets.length === 0 && removes.length === 0) throw new ValidationError('an update must change something');
    const update = [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : ''].join(' ').trim();
    const condition = this.condition(expr, guard);
    try {
      const out = await this.documents.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { PK: key.PK, SK: key.SK },
          UpdateExpression: update,
          ...(condition ? { ConditionExpression: condition, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } : {}),
          ...expr.attributes(),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes as T;
    } catch (error) {
      if (guard?.reportCurrent && isConditionFailure(error)) {
        // DynamoDB returns the item as it stood (none: there was none); dynalite ignores ALL_OLD, so a
        // consistent read answers there instead.
        const current = error.Item ? (fromAttributeMap(error.Item) as Item) : await this.get(key);
        throw new ConflictError(`${this.role}: the item changed or does not meet the write condition`, {
          current: current && this.visible(current) ? current : undefined,
        });
      }
      this.fail(error);
    }
  }

  /** Whether a stored item counts as there (the state store hides expired ones). */
  protected visible(_item: Item): boolean {
    return true;
  }

  async delete(key: ItemKey, guard?: WriteGuard): Promise<void> {
    const expr = new Expression();
    const condition = this.condition(expr, guard);
    await this.call(() =>
      this.documents.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { PK: key.PK, SK: key.SK },
          ...(condition ? { ConditionExpression: condition } : {}),
          ...expr.attributes(),
        }),
      ),
    );
  }

  async query<T extends Item = Item>(request: QueryRequest): Promise<QueryPage<T>> {
    const expr = new Expression();
    const pk = request.index ? `${request.index}PK` : 'PK';
    const sk = request.index ? `${request.index}SK` : 'SK';
    // A page cursor is the LastEvaluatedKey of this very query: the table key, plus the index key when
    // querying an index, inside the queried partition. Anything else is forged or from another query.
    const startKey = request.cursor ? decodeCursor(request.cursor, request.index ? ['PK', 'SK', pk, sk] : ['PK', 'SK'], pk, request.partition) : undefined;
    let keyCondition = `${expr.name(pk)} = ${expr.value(request.partition)}`;
    if (request.sortPrefix) keyCondition += ` AND begins_with(${expr.name(sk)}, ${expr.value(request.sortPrefix)})`;
    const out = await this.call(() =>
      this.documents.send(
        new QueryCommand({
          TableName: this.tableName,
          ...(request.index ? { IndexName: request.index } : {}),
          KeyConditionExpression: keyCondition,
          ...expr.attributes(),
          ...(request.limit ? { Limit: request.limit } : {}),
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      ),
    );
    const items = (out.Items ?? []) as T[];
    return { items, ...(out.LastEvaluatedKey ? { cursor: encodeCursor(out.LastEvaluatedKey) } : {}) };
  }

  async ping(): Promise<void> {
    await this.get({ PK: 'health', SK: 'health' });
  }

  /** Turns a guard into a condition expression; the state store adds expiry to it. */
  protected condition(expr: Expression, guard: WriteGuard | undefined): string | undefined {
    if (!guard) return undefined;
    const parts: string[] = [];
    if (guard.absent) parts.push(`attribute_not_exists(${expr.name('PK')})`);
    if (guard.present) parts.push(`attribute_exists(${expr.name('PK')})`);
    parts.push(...this.equalities(expr, guard));
    return parts.length ? parts.join(' AND ') : undefined;
  }

  protected equalities(expr: Expression, guard: WriteGuard): string[] {
    return Object.entries(guard.equals ?? {}).map(([attribute, value]) => `${expr.name(attribute)} = ${expr.value(value)}`);
  }

  /** Whether the stored item is exactly `item`: from the failure's ALL_OLD copy, else read back. */
  private async holds(item: Item, failure: ConditionFailure): Promise<boolean> {
    // dynalite ignores ReturnValuesOnConditionCheckFailure; a consistent read answers the same question.
    const stored = failure.Item ? fromAttributeMap(failure.Item) : await this.get({ PK: item.PK, SK: item.SK });
    return stored !== undefined && sameValue(stripUndefined(item), stored);
  }

  /** Runs one SDK call, mapping its failure to a domain error. */
  protected async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      this.fail(error);
    }
  }

  /**
   * Maps SDK failures to domain errors: a lost condition is a conflict; a request the service refuses as
   * invalid (item over 400 KB, empty or mistyped key attribute) is the caller's bad input; anything else
   * (network, throttling, missing table, credentials) is an outage.
   */
  protected fail(error: unknown): never {
    if (isConditionFailure(error)) throw new ConflictError(`${this.role}: the item changed or does not meet the write condition`);
    if (error instanceof ValidationError) throw error;
    if ((error as { name?: string } | undefined)?.name === 'ValidationException') {
      // The service's message stays in the log (cause); the client learns only what kind of problem it is.
      throw Object.assign(new ValidationError(`${this.role}: the store refused the item as invalid (too large, or a bad key)`), { cause: error });
    }
    throw new UnavailableError(this.role, `${this.role} store unavailable: ${(error as Error | undefined)?.name ?? 'error'}`, { cause: error });
  }
}

/** The state table: every item has `expiresAt` and an expired item reads, and guards, as absent. */
export class DynamoStateStore extends DynamoItemStore implements StateStore {
  readonly #clock: Clock;

  constructor(props: DynamoItemStoreProps & { clock: Clock }) {
    super(props);
    this.#clock = props.clock;
  }

  override async put(item: Item & { expiresAt: number }, guard?: WriteGuard): Promise<void> {
    if (!validExpiry(item.expiresAt)) throw new ValidationError('state items need an integer expiresAt');
    return super.put(item, guard);
  }

  /**
   * An update never creates a state item by accident: it needs the item present and live, whatever the
   * guard (none, or `equals` only, included). The one way to create through an update is an `absent`
   * guard together with a valid `expiresAt` in the changes, so the new item cannot lack an expiry.
   */
  override async update<T extends Item = Item>(key: ItemKey, changes: Readonly<Record<string, unknown>>, guard?: WriteGuard): Promise<T> {
    const expiresAt = changes['expiresAt'];
    if (expiresAt !== undefined && !validExpiry(expiresAt)) throw new ValidationError('state items need an integer expiresAt');
    if (guard?.absent) {
      if (expiresAt === undefined) throw new ValidationError('an update that may create a state item must set an integer expiresAt');
      return super.update<T>(key, changes, guard);
    }
    return super.update<T>(key, changes, { ...guard, present: true });
  }

  override async get<T extends Item = Item>(key: ItemKey): Promise<T | undefined> {
    const item = await super.get<T>(key);
    return item && this.live(item) ? item : undefined;
  }

  override async query<T extends Item = Item>(request: QueryRequest): Promise<QueryPage<T>> {
    const page = await super.query<T>(request);
    return { ...page, items: page.items.filter((item) => this.live(item)) };
  }

  /**
   * `absent` means missing or expired (an expired item TTL has not removed yet may be overwritten). Every
   * other guard, `equals` alone included, also requires the item to exist and be live, so an expired
   * item can never be consumed, changed or deleted under a guard as if it were still valid.
   */
  protected override condition(expr: Expression, guard: WriteGuard | undefined): string | undefined {
    if (!guard) return undefined;
    const now = Math.floor(this.#clock.now() / 1000);
    const parts: string[] = [];
    if (guard.absent) parts.push(`(attribute_not_exists(${expr.name('PK')}) OR ${expr.name('expiresAt')} <= ${expr.value(now)})`);
    if (guard.present || (!guard.absent && guard.equals)) {
      parts.push(`(attribute_exists(${expr.name('PK')}) AND ${expr.name('expiresAt')} > ${expr.value(now)})`);
    }
    parts.push(...this.equalities(expr, guard));
    return parts.length ? parts.join(' AND ') : undefined;
  }

  protected override visible(item: Item): boolean {
    return this.live(item);
  }

  private live(item: Item): boolean {
    const expiresAt = item['expiresAt'];
    return typeof expiresAt === 'number' && expiresAt * 1000 > this.#clock.now();
  }
}

const validExpiry = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value > 0;

function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * Decodes a page cursor and checks it is a key of the queried table or index: exactly the expected
 * attributes, each a string, with the partition attribute equal to the queried partition.
 */
function decodeCursor(cursor: string, keyAttributes: readonly string[], partitionAttribute: string, partition: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new ValidationError('invalid page cursor');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ValidationError('invalid page cursor');
  const entries = Object.entries(value as Record<string, unknown>);
  const expected = new Set(keyAttributes);
  const valid =
    entries.length === expected.size &&
    entries.every(([name, v]) => expected.has(name) && typeof v === 'string' && v.length > 0) &&
    (value as Record<string, unknown>)[partitionAttribute] === partition;
  if (!valid) throw new ValidationError('invalid page cursor');
  return value as Record<string, string>;
}

/** The document client's view of a raw attribute map (ALL_OLD items come back raw in the error). */
function fromAttributeMap(map: Record<string, AttributeValue>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(map).map(([name, value]) => [name, fromAttribute(value)]));
}

function fromAttribute(value: AttributeValue): unknown {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL !== undefined) return null;
  if (value.B !== undefined) return value.B;
  if (value.M !== undefined) return fromAttributeMap(value.M);
  if (value.L !== undefined) return value.L.map(fromAttribute);
  if (value.SS !== undefined) return new Set(value.SS);
  if (value.NS !== undefined) return new Set(value.NS.map(Number));
  if (value.BS !== undefined) return new Set(value.BS);
  return undefined;
}

/** The item as the document client writes it: undefined members are dropped (removeUndefinedValues). */
function stripUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripUndefined);
  if (value && typeof value === 'object' && !(value instanceof Uint8Array) && !(value instanceof Set)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, stripUndefined(v)]),
    );
  }
  return value;
}

/** Structural equality of stored values: bytes by content, sets by members, maps regardless of key order. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  }
  if (a instanceof Set || b instanceof Set) {
    if (!(a instanceof Set && b instanceof Set) || a.size !== b.size) return false;
    const others = [...b];
    return [...a].every((x) => others.some((y) => sameValue(x, y)));
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}
