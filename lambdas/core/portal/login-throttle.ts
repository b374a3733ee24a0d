import { createHash } from 'node:crypto';
import { ConflictError } from '../errors.ts';
import type { Clock, Item, ItemKey, StateStore } from '../../ports.ts';

/** When sign-in failures lock a user or a source address, and for how long. */
export interface LoginThrottlePolicy {
  /** Failures of one user (in one tenant) within the window that lock that user. */
  readonly userFailures: number;
  /** Failures from one source IP (in one tenant) within the window that lock that address. */
  readonly ipFailures: number;
  /** Failures are counted in a window that opens at the first failure. */
  readonly windowSeconds: number;
  /** How long a lock lasts from the failure that set it. */
  readonly lockSeconds: number;
}

export const LOGIN_THROTTLE_POLICY: LoginThrottlePolicy = { userFailures: 5, ipFailures: 20, windowSeconds: 15 * 60, lockSeconds: 15 * 60 };

export type ThrottleDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number; readonly reason: 'user' | 'ip' };

/** One failure counter on the state table. */
type CounterItem = Item & { expiresAt: number; failures: number; windowStart: number; lockedUntil?: number };

const KIND = 'LOGINFAIL';

/**
 * Keys of the counters. Both the source address and the user name are hashed (SHA-256, with the tenant):
 * the state table holds no address in clear, and a key has a fixed length whatever a client submits.
 */
export const loginThrottleKeys = {
  user: (tenant: string, username: string): ItemKey => ({ PK: `${KIND}#USER#${digest(tenant, normaliseUsername(username))}`, SK: KIND }),
  ip: (tenant: string, ip: string): ItemKey => ({ PK: `${KIND}#IP#${digest(tenant, normaliseIp(ip))}`, SK: KIND }),
};

function digest(tenant: string, value: string): string {
  return createHash('sha256').update(`${tenant}\0${value}`).digest('base64url');
}

function normaliseUsername(username: string): string {
  return username.trim().toLowerCase();
}

/** One address, one counter: case and the IPv4-mapped IPv6 prefix do not make a new one. */
function normaliseIp(ip: string): string {
  const value = ip.trim().toLowerCase();
  return value.startsWith('::ffff:') && value.includes('.') ? value.slice('::ffff:'.length) : value;
}

/**
 * Tries at one increment. Each losing try means another increment of the same counter succeeded, so this
 * bounds the concurrent failures of one user or address that are all counted; beyond it, recording fails.
 */
const MAX_ATTEMPTS = 64;

/**
 * Counts failed sign-ins per (tenant, user) and per (tenant, source IP) on the state table, and locks a
 * user or an address that fails too often. Every increment is a read and one write guarded on the value
 * read (or a create guarded on absence), retried on conflict: concurrent failures are each counted once.
 */
export class LoginThrottle {
  readonly #state: StateStore;
  readonly #clock: Clock;
  readonly #policy: LoginThrottlePolicy;

  constructor(state: StateStore, clock: Clock, policy: Partial<LoginThrottlePolicy> = {}) {
    this.#state = state;
    this.#clock = clock;
    this.#policy = { ...LOGIN_THROTTLE_POLICY, ...policy };
  }

  /** Whether a sign-in of this user from this address may be tried now (before checking any password). */
  async check(tenant: string, username: string, ip: string): Promise<ThrottleDecision> {
    const [user, address] = await Promise.all([
      this.#state.get<CounterItem>(loginThrottleKeys.user(tenant, username)),
      this.#state.get<CounterItem>(loginThrottleKeys.ip(tenant, ip)),
    ]);
    const locks = [
      { reason: 'user' as const, seconds: this.#lockedFor(user, this.#policy.userFailures) },
      { reason: 'ip' as const, seconds: this.#lockedFor(address, this.#policy.ipFailures) },
    ].filter((lock) => lock.seconds > 0);
    if (locks.length === 0) return { allowed: true };
    const longest = locks.reduce((a, b) => (b.seconds > a.seconds ? b : a));
    return { allowed: false, retryAfterSeconds: longest.seconds, reason: longest.reason };
  }

  /** Counts one failed sign-in against the user and against the source address. */
  async recordFailure(tenant: string, username: string, ip: string): Promise<void> {
    await Promise.all([
      this.#increment(loginThrottleKeys.user(tenant, username), this.#policy.userFailures),
      this.#increment(loginThrottleKeys.ip(tenant, ip), this.#policy.ipFailures),
    ]);
  }

  /** A successful sign-in forgets the user's failures (the address keeps its count). */
  async recordSuccess(tenant: string, username: string): Promise<void> {
    await this.#state.delete(loginThrottleKeys.user(tenant, username));
  }

  /** Administrator unlock: forgets the user's failures and lifts the user's lock. */
  async clear(tenant: string, username: string): Promise<void> {
    await this.#state.delete(loginThrottleKeys.user(tenant, username));
  }

  /** Failures currently counted in the open windows (for operators and tests). */
  async failures(tenant: string, username: string, ip: string): Promise<{ user: number; ip: number }> {
    const [user, address] = await Promise.all([
      this.#state.get<CounterItem>(loginThrottleKeys.user(tenant, username)),
      this.#state.get<CounterItem>(loginThrottleKeys.ip(tenant, ip)),
    ]);
    return { user: user?.failures ?? 0, ip: address?.failures ?? 0 };
  }

  /** Seconds until the counter's lock ends, or 0 when it does not lock. */
  #lockedFor(counter: CounterItem | undefined, limit: number): number {
    if (!counter || counter.failures < limit) return 0;
    const until = counter.lockedUntil ?? counter.expiresAt;
    return Math.max(0, Math.ceil(until - this.#clock.now() / 1000));
  }

  async #increment(key: ItemKey, limit: number): Promise<void> {
    const { windowSeconds, lockSeconds } = this.#policy;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = Math.floor(this.#clock.now() / 1000);
      const current = await this.#state.get<CounterItem>(key);
      try {
        if (!current) {
          // First failure of a window; "absent" also takes over an expired counter TTL has not removed yet.
          const item: CounterItem = { ...key, failures: 1, windowStart: now, expiresAt: now + windowSeconds };
          if (limit <= 1) Object.assign(item, { lockedUntil: now + lockSeconds, expiresAt: Math.max(item.expiresAt, now + lockSeconds) });
          await this.#state.put(item, { absent: true });
        } else {
          const failures = current.failures + 1;
          const locking = failures >= limit && !(current.lockedUntil !== undefined && current.lockedUntil > now);
          const lock = locking ? { lockedUntil: now + lockSeconds, expiresAt: Math.max(current.expiresAt, now + lockSeconds) } : {};
          await this.#state.update(key, { failures, ...lock }, { present: true, equals: { failures: current.failures, windowStart: current.windowStart } });
        }
        return;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        // Another failure was counted meanwhile: read it and count on top of it, after a short random pause.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 2 ** attempt)));
      }
    }
    throw new ConflictError('too many concurrent sign-in failures to count; retry');
  }
}
