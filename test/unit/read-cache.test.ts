import { describe, expect, it } from '@jest/globals';
import { ReadCache } from '../../lambdas/core/read-cache.ts';

const clockAt = () => {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

describe("ReadCache (the token path's tenant and client cache)", () => {
  it('serves a value for at most the TTL after the read that filled it', async () => {
    const clock = clockAt();
    const cache = new ReadCache<{ v: number }>(clock, 30_000);
    let reads = 0;
    const load = async () => ({ v: ++reads });
    expect(await cache.get('k', load)).toEqual({ v: 1 });
    clock.advance(29_999);
    expect(await cache.get('k', load)).toEqual({ v: 1 });
    clock.advance(1);
    expect(await cache.get('k', load)).toEqual({ v: 2 });
  });

  it('never caches a miss, and forgets an entry on demand', async () => {
    const cache = new ReadCache<{ v: number }>(clockAt(), 30_000);
    let value: { v: number } | undefined;
    expect(await cache.get('k', async () => value)).toBeUndefined();
    value = { v: 1 };
    expect(await cache.get('k', async () => value)).toEqual({ v: 1 });
    cache.forget('k');
    value = { v: 2 };
    expect(await cache.get('k', async () => value)).toEqual({ v: 2 });
  });

  it('shares one read between concurrent misses and drops the oldest entry when full', async () => {
    const cache = new ReadCache<{ v: string }>(clockAt(), 30_000, 2);
    let reads = 0;
    const load = (v: string) => async () => (reads++, { v });
    await Promise.all([cache.get('a', load('a')), cache.get('a', load('a')), cache.get('a', load('a'))]);
    expect(reads).toBe(1);
    await cache.get('b', load('b'));
    await cache.get('c', load('c'));
    await cache.get('a', load('a2'));
    expect(reads).toBe(4);
  });

  it('reads every time with a TTL of 0', async () => {
    const cache = new ReadCache<{ v: number }>(clockAt(), 0);
    let reads = 0;
    await cache.get('k', async () => ({ v: ++reads }));
    await cache.get('k', async () => ({ v: ++reads }));
    expect(reads).toBe(2);
  });
});
