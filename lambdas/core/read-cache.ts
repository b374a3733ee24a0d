import type { Clock } from '../ports.ts';

/**
 * A per-container cache of directory reads (tenants, OAuth clients) for hot paths such as the token
 * endpoint. Staleness is bounded by `ttlMs`: an entry is served for at most that long after the read that
 * filled it, so a tenant or client disabled, changed or deleted elsewhere (another container, the admin
 * function), or a client secret rotated, is still honoured here for at most `ttlMs`. Writes through the
 * same process forget their entry at once. Misses are not cached (a new tenant or client is visible at
 * once, and unknown ids cannot fill the cache); concurrent misses share one read. Bounded in size: the
 * oldest entry goes first.
 */
export class ReadCache<V extends object> {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, { value: V; until: number }>();
  readonly #loading = new Map<string, Promise<V | undefined>>();

  constructor(clock: Clock, ttlMs: number, maxEntries = 1000) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  async get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    if (this.#ttlMs <= 0) return load();
    const entry = this.#entries.get(key);
    if (entry && entry.until > this.#clock.now()) return entry.value;
    const pending = this.#loading.get(key);
    if (pending) return pending;
    const started = this.#clock.now();
    const loading = load().then(
      (value) => {
        this.#loading.delete(key);
        if (value === undefined) this.#entries.delete(key);
        else this.#remember(key, value, started + this.#ttlMs);
        return value;
      },
      (error: unknown) => {
        this.#loading.delete(key);
        throw error;
      },
    );
    this.#loading.set(key, loading);
    return loading;
  }

  forget(key: string): void {
    this.#entries.delete(key);
    this.#loading.delete(key);
  }

  #remember(key: string, value: V, until: number): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { value, until });
  }
}
