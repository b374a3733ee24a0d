import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type NativeAttributeValue,
} from '@aws-sdk/lib-dynamodb';
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
    await this.call(() =>
      this.documents.send(
        new PutCommand({ TableName: this.tableName, Item: item, ...(condition ? { ConditionExpression: condition } : {}), ...expr.attributes() }),
      ),
    );
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
    const out = await this.call(() =>
      this.documents.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { PK: key.PK, SK: key.SK },
          UpdateExpression: update,
          ...(condition ? { ConditionExpression: condition } : {}),
          ...expr.attributes(),
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return out.Attributes as T;
  }

  async delete(key: ItemKey, guard?: WriteGuard): Promise<void> {
    const expr = new Expression();
    const condition = this.condition(expr, guard);
    await this.call(() =>
      this.documents.send(
        new DeleteCommand({ TableName: this.tableName, Key: { PK: key.PK, SK: key.SK }, ...(condition ? { ConditionExpression: condition } : {}), ...expr.attributes() }),
      ),
    );
  }

  async query<T extends Item = Item>(request: QueryRequest): Promise<QueryPage<T>> {
    const expr = new Expression();
    const pk = request.index ? `${request.index}PK` : 'PK';
    const sk = request.index ? `${request.index}SK` : 'SK';
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
          ...(request.cursor ? { ExclusiveStartKey: decodeCursor(request.cursor) } : {}),
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
    for (const [attribute, value] of Object.entries(guard.equals ?? {})) {
      parts.push(`${expr.name(attribute)} = ${expr.value(value)}`);
    }
    return parts.length ? parts.join(' AND ') : undefined;
  }

  /** Maps SDK failures to domain errors: a lost condition is a conflict, anything else is an outage. */
  protected async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || (error as { name?: string }).name === 'ConditionalCheckFailedException') {
        throw new ConflictError(`${this.role}: the item changed or does not meet the write condition`);
      }
      if (error instanceof ValidationError) throw error;
      throw new UnavailableError(this.role, `${this.role} store unavailable: ${(error as Error).name ?? 'error'}`, { cause: error });
    }
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
    if (!Number.isInteger(item.expiresAt) || item.expiresAt <= 0) throw new ValidationError('state items need an integer expiresAt');
    return super.put(item, guard);
  }

  override async get<T extends Item = Item>(key: ItemKey): Promise<T | undefined> {
    const item = await super.get<T>(key);
    return item && this.live(item) ? item : undefined;
  }

  override async query<T extends Item = Item>(request: QueryRequest): Promise<QueryPage<T>> {
    const page = await super.query<T>(request);
    return { ...page, items: page.items.filter((item) => this.live(item)) };
  }

  protected override condition(expr: Expression, guard: WriteGuard | undefined): string | undefined {
    if (!guard) return undefined;
    const now = Math.floor(this.#clock.now() / 1000);
    const parts: string[] = [];
    // An expired item that TTL has not removed yet counts as absent, so it may be overwritten.
    if (guard.absent) parts.push(`(attribute_not_exists(${expr.name('PK')}) OR ${expr.name('expiresAt')} <= ${expr.value(now)})`);
    if (guard.present) parts.push(`(attribute_exists(${expr.name('PK')}) AND ${expr.name('expiresAt')} > ${expr.value(now)})`);
    const rest = super.condition(expr, { ...(guard.equals ? { equals: guard.equals } : {}) });
    if (rest) parts.push(rest);
    return parts.length ? parts.join(' AND ') : undefined;
  }

  private live(item: Item): boolean {
    const expiresAt = item['expiresAt'];
    return typeof expiresAt === 'number' && expiresAt * 1000 > this.#clock.now();
  }
}

function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string): Record<string, NativeAttributeValue> {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, NativeAttributeValue>;
  } catch {
    // fall through
  }
  throw new ValidationError('invalid page cursor');
}
