import { describe, expect, it } from '@jest/globals';
import SmallLru from '../../lambdas/adapters/small-lru.ts';

describe("SmallLru (the bundles' stand-in for mnemonist/lru-cache)", () => {
  it('evicts the least recently used entry past its capacity; get refreshes recency, peek does not', () => {
    const lru = new SmallLru<string, number>(2);
    lru.set('a', 1).set('b', 2);
    expect(lru.get('a')).toBe(1);
    lru.set('c', 3);
    expect([lru.has('a'), lru.has('b'), lru.has('c'), lru.size]).toEqual([true, false, true, 2]);
    expect(lru.peek('a')).toBe(1);
    lru.set('d', 4);
    expect([lru.has('a'), lru.has('c'), lru.has('d')]).toEqual([false, true, true]);
    lru.set('c', 30);
    lru.set('e', 5);
    expect([lru.peek('c'), lru.has('d'), lru.get('missing')]).toEqual([30, false, undefined]);
    lru.clear();
    expect(lru.size).toBe(0);
  });

  it('refuses a capacity that could hold nothing', () => {
    expect(() => new SmallLru(0)).toThrow('positive capacity');
  });
});
