/**
 * A bounded least-recently-used map over `Map`'s insertion order, standing in for `mnemonist/lru-cache`
 * in the function bundles (lib/function.ts `BUNDLE_ALIASES`): the SDK's DynamoDB endpoint cache is its only
 * user there, and mnemonist brings ~7 KiB for it. Same API subset: get, set, peek, has, clear, size.
 */
export default class SmallLru<K, V> {
  readonly #capacity: number;
  readonly #items = new Map<K, V>();

  constructor(capacity: number) {
    if (!(capacity > 0)) throw new Error('an LRU cache needs a positive capacity');
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#items.size;
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    if (!this.#items.has(key)) return undefined;
    const value = this.#items.get(key) as V;
    this.#items.delete(key);
    this.#items.set(key, value);
    return value;
  }

  /** The value, without touching its recency. */
  peek(key: K): V | undefined {
    return this.#items.get(key);
  }

  has(key: K): boolean {
    return this.#items.has(key);
  }

  /** Stores the value as the most recently used, evicting the least recently used past the capacity. */
  set(key: K, value: V): this {
    this.#items.delete(key);
    this.#items.set(key, value);
    if (this.#items.size > this.#capacity) this.#items.delete(this.#items.keys().next().value as K);
    return this;
  }

  clear(): void {
    this.#items.clear();
  }
}
