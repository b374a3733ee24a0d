import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
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
      await expect(backend.state.update({ PK: 'S#3', SK: 'CODE' }, { used: true }, { present: true, equals: { used: false } })).rejects.toBeInstanceOf(ConflictError);
      // ...and a new item may take its key.
      await backend.state.put({ PK: 'S#3', SK: 'CODE', expiresAt: now() + 10, used: false }, { absent: true });
      clock.advance(-11);
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
