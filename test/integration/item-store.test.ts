import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDynamoClient } from '../../lambdas/adapters/dynamodb/client.ts';
import { DynamoItemStore, DynamoStateStore } from '../../lambdas/adapters/dynamodb/item-store.ts';
import { ConflictError, UnavailableError, ValidationError } from '../../lambdas/core/errors.ts';
import { BACKENDS, openBackend, testClock, type Backend } from '../support/backends.ts';
import { freePort } from '../support/emulator.ts';

describe.each(BACKENDS)('table adapters on the %s backend', (name) => {
  const clock = testClock();
  let backend: Backend;
  beforeAll(async () => {
    backend = await openBackend(name, clock);
  });
  afterAll(async () => backend.close());

  describe('directory store', () => {
    it('puts, gets and deletes an item', async () => {
      await backend.directory.put({ PK: 'T#a', SK: 'USER#x', n: 1, nested: { list: [1, 2], flag: true } });
      expect(await backend.directory.get({ PK: 'T#a', SK: 'USER#x' })).toEqual({ PK: 'T#a', SK: 'USER#x', n: 1, nested: { list: [1, 2], flag: true } });
      await backend.directory.delete({ PK: 'T#a', SK: 'USER#x' });
      expect(await backend.directory.get({ PK: 'T#a', SK: 'USER#x' })).toBeUndefined();
    });

    it('refuses to create an item twice (absent guard)', async () => {
      await backend.directory.put({ PK: 'T#b', SK: 'ONCE', v: 1 }, { absent: true });
      await expect(backend.directory.put({ PK: 'T#b', SK: 'ONCE', v: 2 }, { absent: true })).rejects.toBeInstanceOf(ConflictError);
      expect((await backend.directory.get({ PK: 'T#b', SK: 'ONCE' }))?.['v']).toBe(1);
    });

    it('updates only when the guard holds, and returns the new item', async () => {
      await backend.directory.put({ PK: 'T#c', SK: 'ITEM', version: 1, keep: 'yes', drop: 'x' });
      const updated = await backend.directory.update({ PK: 'T#c', SK: 'ITEM' }, { version: 2, drop: null }, { present: true, equals: { version: 1 } });
      expect(updated).toEqual({ PK: 'T#c', SK: 'ITEM', version: 2, keep: 'yes' });
      await expect(backend.directory.update({ PK: 'T#c', SK: 'ITEM' }, { version: 3 }, { equals: { version: 1 } })).rejects.toBeInstanceOf(ConflictError);
      await expect(backend.directory.update({ PK: 'T#c', SK: 'MISSING' }, { version: 1 }, { present: true })).rejects.toBeInstanceOf(ConflictError);
      expect(await backend.directory.get({ PK: 'T#c', SK: 'MISSING' })).toBeUndefined();
    });

    it('lets exactly one of many concurrent guarded updates win', async () => {
      await backend.directory.put({ PK: 'T#race', SK: 'COUNTER', version: 0 });
      const attempts = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => backend.directory.update({ PK: 'T#race', SK: 'COUNTER' }, { version: 1, winner: i }, { equals: { version: 0 } })),
      );
      const won = attempts.filter((a) => a.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const lost of attempts.filter((a) => a.status === 'rejected')) expect((lost as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
      const item = await backend.directory.get({ PK: 'T#race', SK: 'COUNTER' });
      expect(item?.['winner']).toBe((won[0] as PromiseFulfilledResult<Record<string, unknown>>).value['winner']);
    });

    it('deletes only when the guard holds', async () => {
      await backend.directory.put({ PK: 'T#d', SK: 'ITEM', version: 5 });
      await expect(backend.directory.delete({ PK: 'T#d', SK: 'ITEM' }, { equals: { version: 4 } })).rejects.toBeInstanceOf(ConflictError);
      await backend.directory.delete({ PK: 'T#d', SK: 'ITEM' }, { equals: { version: 5 } });
      expect(await backend.directory.get({ PK: 'T#d', SK: 'ITEM' })).toBeUndefined();
    });

    it('queries by sort-key prefix, in pages, and through a secondary index', async () => {
      for (let i = 0; i < 5; i++) {
        await backend.directory.put({ PK: 'T#q', SK: `USER#${i}`, GSI1PK: 'EMAIL', GSI1SK: `u${i}@x`, i });
      }
      await backend.directory.put({ PK: 'T#q', SK: 'TENANT' });
      const first = await backend.directory.query({ partition: 'T#q', sortPrefix: 'USER#', limit: 3 });
      expect(first.items.map((item) => item['i'])).toEqual([0, 1, 2]);
      expect(first.cursor).toBeDefined();
      const second = await backend.directory.query({ partition: 'T#q', sortPrefix: 'USER#', limit: 3, cursor: first.cursor! });
      expect(second.items.map((item) => item['i'])).toEqual([3, 4]);
      const byEmail = await backend.directory.query({ index: 'GSI1', partition: 'EMAIL', sortPrefix: 'u3@' });
      expect(byEmail.items.map((item) => item.SK)).toEqual(['USER#3']);
    });

    it('rejects a forged page cursor', async () => {
      await expect(backend.directory.query({ partition: 'T#q', cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(ValidationError);
    });

    it('pages through a secondary index with the index key in the cursor', async () => {
      for (let i = 0; i < 3; i++) await backend.directory.put({ PK: `T#g${i}`, SK: 'TENANT', GSI2PK: 'GLIST', GSI2SK: `g${i}` });
      const first = await backend.directory.query({ index: 'GSI2', partition: 'GLIST', limit: 2 });
      expect(first.items.map((item) => item['GSI2SK'])).toEqual(['g0', 'g1']);
      expect(Object.keys(JSON.parse(Buffer.from(first.cursor!, 'base64url').toString())).sort()).toEqual(['GSI2PK', 'GSI2SK', 'PK', 'SK']);
      const second = await backend.directory.query({ index: 'GSI2', partition: 'GLIST', limit: 2, cursor: first.cursor! });
      expect(second.items.map((item) => item['GSI2SK'])).toEqual(['g2']);
    });

    it.each([
      ['a JSON array', ['T#q', 'USER#1']],
      ['a number as a key value', { PK: 'T#q', SK: 1 }],
      ['an extra attribute', { PK: 'T#q', SK: 'USER#1', i: 'x' }],
      ['a missing sort key', { PK: 'T#q' }],
      ['another partition', { PK: 'T#other', SK: 'USER#1' }],
      ['an index key on a table query', { PK: 'T#q', SK: 'USER#1', GSI1PK: 'EMAIL', GSI1SK: 'u1@x' }],
    ])('rejects a cursor that is %s with ValidationError', async (_label, key) => {
      const cursor = Buffer.from(JSON.stringify(key)).toString('base64url');
      await expect(backend.directory.query({ partition: 'T#q', sortPrefix: 'USER#', cursor })).rejects.toThrow(new ValidationError('invalid page cursor'));
    });

    it('rejects a table cursor on an index query, and an index cursor of another index partition', async () => {
      const table = Buffer.from(JSON.stringify({ PK: 'T#q', SK: 'USER#1' })).toString('base64url');
      await expect(backend.directory.query({ index: 'GSI1', partition: 'EMAIL', cursor: table })).rejects.toBeInstanceOf(ValidationError);
      const other = Buffer.from(JSON.stringify({ PK: 'T#q', SK: 'USER#1', GSI1PK: 'OTHER', GSI1SK: 'u1@x' })).toString('base64url');
      await expect(backend.directory.query({ index: 'GSI1', partition: 'EMAIL', cursor: other })).rejects.toBeInstanceOf(ValidationError);
    });

    it('maps an item the store refuses (over 400 KB, empty key) to ValidationError, not an outage', async () => {
      const big = { PK: 'T#big', SK: 'ITEM', blob: 'x'.repeat(410 * 1024) };
      await expect(backend.directory.put(big)).rejects.toBeInstanceOf(ValidationError);
      await expect(backend.directory.put({ PK: 'T#big', SK: '' })).rejects.toBeInstanceOf(ValidationError);
      expect(await backend.directory.get({ PK: 'T#big', SK: 'ITEM' })).toBeUndefined();
    });

    it('still refuses an identical create made by someone else (one attempt)', async () => {
      const item = { PK: 'T#same', SK: 'ONCE', v: 1 };
      await backend.directory.put(item, { absent: true });
      await expect(backend.directory.put({ ...item }, { absent: true })).rejects.toBeInstanceOf(ConflictError);
    });

    it('treats an SDK retry that finds its own first attempt written as success', async () => {
      const item = { PK: 'T#retry', SK: 'ONCE', v: 1, nested: { list: [1, 'a'], bytes: Buffer.from([1, 2, 3]) } };
      // The first PutItem reaches the store, but its response is "lost": the SDK sees a timeout and retries.
      await withLostFirstResponse(backend.dynamo, 'after', () => backend.directory.put(item, { absent: true }));
      expect(await backend.directory.get({ PK: 'T#retry', SK: 'ONCE' })).toMatchObject({ v: 1 });
      // A retry that finds a different item is a real conflict.
      await expect(withLostFirstResponse(backend.dynamo, 'before', () => backend.directory.put({ ...item, v: 2 }, { absent: true }))).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect((await backend.directory.get({ PK: 'T#retry', SK: 'ONCE' }))?.['v']).toBe(1);
    });

    it('refuses to change an item key in an update', async () => {
      await expect(backend.directory.update({ PK: 'T#e', SK: 'X' }, { PK: 'T#other' })).rejects.toBeInstanceOf(ValidationError);
    });
  });

  describe('state store', () => {
    const now = (): number => Math.floor(clock.now() / 1000);

    it('requires an expiry on every item', async () => {
      await expect(backend.state.put({ PK: 'S#1', SK: 'X', expiresAt: 0 })).rejects.toBeInstanceOf(ValidationError);
      await expect(backend.state.put({ PK: 'S#1', SK: 'X', expiresAt: 1.5 })).rejects.toBeInstanceOf(ValidationError);
    });

    it('reads an expired item as absent even though TTL has not removed it', async () => {
      await backend.state.put({ PK: 'S#2', SK: 'CODE', expiresAt: now() + 60 });
      expect(await backend.state.get({ PK: 'S#2', SK: 'CODE' })).toBeDefined();
      clock.advance(61);
      expect(await backend.state.get({ PK: 'S#2', SK: 'CODE' })).toBeUndefined();
      expect((await backend.state.query({ partition: 'S#2' })).items).toEqual([]);
      clock.advance(-61);
    });

    it('treats an expired item as absent in guards: it may be replaced, not consumed', async () => {
      await backend.state.put({ PK: 'S#3', SK: 'CODE', expiresAt: now() + 10, used: false }, { absent: true });
      await expect(backend.state.put({ PK: 'S#3', SK: 'CODE', expiresAt: now() + 10 }, { absent: true })).rejects.toBeInstanceOf(ConflictError);
      clock.advance(11);
      // Consuming the expired code fails as if it did not exist...
      await expect(backend.state.update({ PK: 'S#3', SK: 'CODE' }, { used: true }, { present: true, equals: { used: false } })).rejects.toBeInstanceOf(
        ConflictError,
      );
      // ...and a new item may take its key.
      await backend.state.put({ PK: 'S#3', SK: 'CODE', expiresAt: now() + 10, used: false }, { absent: true });
      clock.advance(-11);
    });

    it('requires a live item for an equals-only guard: update, put and delete of an expired item conflict', async () => {
      await backend.state.put({ PK: 'S#5', SK: 'CODE', expiresAt: now() + 10, used: false });
      clock.advance(11);
      await expect(backend.state.update({ PK: 'S#5', SK: 'CODE' }, { used: true }, { equals: { used: false } })).rejects.toBeInstanceOf(ConflictError);
      await expect(backend.state.put({ PK: 'S#5', SK: 'CODE', expiresAt: now() + 60, used: true }, { equals: { used: false } })).rejects.toBeInstanceOf(
        ConflictError,
      );
      await expect(backend.state.delete({ PK: 'S#5', SK: 'CODE' }, { equals: { used: false } })).rejects.toBeInstanceOf(ConflictError);
      clock.advance(-11);
      // The same guard on the live item holds.
      expect(await backend.state.update({ PK: 'S#5', SK: 'CODE' }, { used: true }, { equals: { used: false } })).toMatchObject({ used: true });
    });

    it('never creates an item through an update without an absent guard', async () => {
      await expect(backend.state.update({ PK: 'S#6', SK: 'NEW' }, { count: 1 })).rejects.toBeInstanceOf(ConflictError);
      await expect(backend.state.update({ PK: 'S#6', SK: 'NEW' }, { count: 1, expiresAt: now() + 60 })).rejects.toBeInstanceOf(ConflictError);
      await expect(backend.state.update({ PK: 'S#6', SK: 'NEW' }, { count: 1 }, { equals: { count: 0 } })).rejects.toBeInstanceOf(ConflictError);
      // Nothing was written, not even an item without expiresAt that only a raw read would show.
      const raw = new DynamoItemStore({ client: backend.dynamo, tableName: (backend.state as unknown as { tableName: string }).tableName, role: 'raw' });
      expect(await raw.get({ PK: 'S#6', SK: 'NEW' })).toBeUndefined();
      expect((await backend.state.query({ partition: 'S#6' })).items).toEqual([]);
      // An unguarded update of an expired item does not revive it either.
      await backend.state.put({ PK: 'S#6', SK: 'OLD', expiresAt: now() + 10, count: 1 });
      clock.advance(11);
      await expect(backend.state.update({ PK: 'S#6', SK: 'OLD' }, { count: 2 })).rejects.toBeInstanceOf(ConflictError);
      clock.advance(-11);
      // An unguarded update of a live item works.
      expect(await backend.state.update({ PK: 'S#6', SK: 'OLD' }, { count: 3 })).toMatchObject({ count: 3 });
    });

    it('creates through an update only with an absent guard and a valid expiresAt', async () => {
      await expect(backend.state.update({ PK: 'S#7', SK: 'NEW' }, { count: 1 }, { absent: true })).rejects.toBeInstanceOf(ValidationError);
      await expect(backend.state.update({ PK: 'S#7', SK: 'NEW' }, { count: 1, expiresAt: 1.5 }, { absent: true })).rejects.toBeInstanceOf(ValidationError);
      await expect(backend.state.update({ PK: 'S#7', SK: 'NEW' }, { expiresAt: null })).rejects.toBeInstanceOf(ValidationError);
      expect(await backend.state.update({ PK: 'S#7', SK: 'NEW' }, { count: 1, expiresAt: now() + 60 }, { absent: true })).toMatchObject({ count: 1 });
      await expect(backend.state.update({ PK: 'S#7', SK: 'NEW' }, { count: 2, expiresAt: now() + 60 }, { absent: true })).rejects.toBeInstanceOf(ConflictError);
    });

    it('consumes a single-use item exactly once under concurrency', async () => {
      await backend.state.put({ PK: 'S#4', SK: 'CODE', expiresAt: now() + 60, used: false });
      const attempts = await Promise.allSettled(
        Array.from({ length: 10 }, () => backend.state.update({ PK: 'S#4', SK: 'CODE' }, { used: true }, { present: true, equals: { used: false } })),
      );
      expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    });
  });

  it('reports an unreachable store as unavailable, not as missing data', async () => {
    const port = await freePort();
    const client = createDynamoClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const dead = new DynamoItemStore({ client, tableName: 'nowhere', role: 'directory' });
    const deadState = new DynamoStateStore({ client, tableName: 'nowhere', role: 'state', clock });
    await expect(dead.get({ PK: 'a', SK: 'b' })).rejects.toBeInstanceOf(UnavailableError);
    await expect(deadState.put({ PK: 'a', SK: 'b', expiresAt: now() + 5 }, { absent: true })).rejects.toBeInstanceOf(UnavailableError);
    await expect(dead.ping()).rejects.toMatchObject({ dependency: 'directory' });
    client.destroy();
    function now(): number {
      return Math.floor(Date.now() / 1000);
    }
  });

  it('reports a missing table as unavailable', async () => {
    const missing = new DynamoItemStore({ client: backend.dynamo, tableName: 'cc-no-such-table', role: 'directory' });
    await expect(missing.ping()).rejects.toBeInstanceOf(UnavailableError);
  });
});

describe('table adapters when the store is silent', () => {
  it('gives up on a store that accepts connections but never answers within the Lambda budget', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const client = createDynamoClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const store = new DynamoItemStore({ client, tableName: 'silent', role: 'directory' });
    const started = Date.now();
    try {
      await expect(store.get({ PK: 'a', SK: 'b' })).rejects.toBeInstanceOf(UnavailableError);
      // Two attempts of 2 s each plus a short backoff: well inside the functions' 10 s timeout.
      expect(Date.now() - started).toBeLessThan(7_000);
    } finally {
      client.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

/**
 * Runs `operation` with the first PutItem on `client` failing as a timeout the SDK retries: `after` the
 * request reached the store (its response lost), or `before` it was sent.
 */
async function withLostFirstResponse<T>(client: DynamoDBClient, when: 'before' | 'after', operation: () => Promise<T>): Promise<T> {
  let lost = false;
  const name = 'cloudcard-test-lose-first-response';
  const lose = () => {
    lost = true;
    return Object.assign(new Error('the response was lost'), { name: 'TimeoutError' });
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (lost || (context as { commandName?: string }).commandName !== 'PutItemCommand') return next(args);
      if (when === 'before') throw lose();
      await next(args);
      throw lose();
    },
    { step: 'finalizeRequest', priority: 'low', name },
  );
  try {
    const result = await operation();
    expect(lost).toBe(true);
    return result;
  } finally {
    client.middlewareStack.remove(name);
  }
}
