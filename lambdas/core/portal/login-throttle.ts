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

export type ThrottleDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number; readonly reason: 'user' | 'ip' };

/** One failure counter on the state table. */
type CounterItem = Item & { expiresAt: number; failures: number; windowStart: number; lockedUntil?: number };

const KIND = 'LOGINFAIL';

/** What a sign-in attempt proves: the password, or the one-time code of the second step. */
export type Factor = 'password' | 'otp';

/**
 * Keys of the counters. Both the source address and the user name are hashed (SHA-256, with the tenant):
 * the state table holds no address in clear, and a key has a fixed length whatever a client submits. The
 * one-time-code step counts on a key of its own, so a right password never clears its failures.
 */
export const loginThrottleKeys = {
  user: (tenant: string, username: string): ItemKey => ({ PK: `${KIND}#USER#${digest(tenant, normaliseUsername(username))}`, SK: KIND }),
  otp: (tenant: string, username: string): ItemKey => ({ PK: `${KIND}#OTP#${digest(tenant, normaliseUsername(username))}`, SK: KIND }),
  ip: (tenant: string, ip: string): ItemKey => ({ PK: `${KIND}#IP#${digest(tenant, normaliseIp(ip))}`, SK: KIND }),
};

const factorKey = (factor: Factor) => (factor === 'password' ? loginThrottleKeys.user : loginThrottleKeys.otp);

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
 * Tries at one counter write. Each losing try means another write of the same counter succeeded, so this
 * bounds the concurrent attempts on one user or address that are all served; beyond it, the attempt fails.
 */
const MAX_ATTEMPTS = 64;

/** The outcome of one throttled attempt: the comparison's value, a refusal, or a lock. */
export type AttemptResult<T> =
  | { readonly outcome: 'ok'; readonly value: T }
  | { readonly outcome: 'invalid' }
  | { readonly outcome: 'locked'; readonly retryAfterSeconds: number; readonly reason: 'user' | 'ip' };

type Reservation = { readonly reserved: true } | { readonly reserved: false; readonly retryAfterSeconds: number };

/**
 * Counts sign-in attempts per (tenant, user, factor) and per (tenant, source IP) on the state table, and
 * locks a user's factor or an address that fails too often.
 *
 * Try first: an attempt reserves one try on each counter with one write guarded on the value read (or a
 * create guarded on absence) BEFORE anything is compared, so a burst of parallel guesses can never compare
 * more than the limit. A failure keeps its tries; a success resets its factor's counter and gives the
 * address its try back. A password success never touches the one-time-code counter: only a right code or
 * an administrator's unlock clears that.
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

  /**
   * Runs `compare` (the password or code check; undefined means wrong) under the throttle: a try is
   * reserved on the factor's counter and on the address's counter first; a locked user or address is
   * refused without calling `compare` at all.
   */
  async attempt<T>(tenant: string, username: string, ip: string, factor: Factor, compare: () => Promise<T | undefined>): Promise<AttemptResult<T>> {
    const userKey = factorKey(factor)(tenant, username);
    const ipKey = loginThrottleKeys.ip(tenant, ip);
    const user = await this.#reserve(userKey, this.#policy.userFailures);
    if (!user.reserved) return { outcome: 'locked', retryAfterSeconds: user.retryAfterSeconds, reason: 'user' };
    const address = await this.#reserve(ipKey, this.#policy.ipFailures);
    if (!address.reserved) {
      await this.#giveBack(userKey, this.#policy.userFailures);
      return { outcome: 'locked', retryAfterSeconds: address.retryAfterSeconds, reason: 'ip' };
    }
    let value: T | undefined;
    try {
      value = await compare();
    } catch (error) {
      // Nothing was decided: an outage is not a wrong guess.
      await Promise.allSettled([this.#giveBack(userKey, this.#policy.userFailures), this.#giveBack(ipKey, this.#policy.ipFailures)]);
      throw error;
    }
    if (value === undefined) return { outcome: 'invalid' };
    await Promise.all([this.#state.delete(userKey), this.#giveBack(ipKey, this.#policy.ipFailures)]);
    return { outcome: 'ok', value };
  }

  /**
   * The same rule for a secret guessed without a user name (a device flow's user code, RFC 8628 §5.1): a
   * try is reserved on the address's counter only, the one password guesses count on, before `compare`
   * runs; a right answer gives it back, a wrong one keeps it, and a locked address is refused unasked.
   */
  async attemptFromAddress<T>(tenant: string, ip: string, compare: () => Promise<T | undefined>): Promise<AttemptResult<T>> {
    const ipKey = loginThrottleKeys.ip(tenant, ip);
    const address = await this.#reserve(ipKey, this.#policy.ipFailures);
    if (!address.reserved) return { outcome: 'locked', retryAfterSeconds: address.retryAfterSeconds, reason: 'ip' };
    let value: T | undefined;
    try {
      value = await compare();
    } catch (error) {
      await this.#giveBack(ipKey, this.#policy.ipFailures).catch(() => undefined);
      throw error;
    }
    if (value === undefined) return { outcome: 'invalid' };
    await this.#giveBack(ipKey, this.#policy.ipFailures);
    return { outcome: 'ok', value };
  }

  /** Whether the user's factor and the address are locked now (read only; `attempt` decides by itself). */
  async check(tenant: string, username: string, ip: string, factor: Factor = 'password'): Promise<ThrottleDecision> {
    const [user, address] = await Promise.all([
      this.#state.get<CounterItem>(factorKey(factor)(tenant, username)),
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

  /** Administrator unlock: forgets the user's password and one-time-code failures and lifts both locks. */
  async clear(tenant: string, username: string): Promise<void> {
    await Promise.all([this.#state.delete(loginThrottleKeys.user(tenant, username)), this.#state.delete(loginThrottleKeys.otp(tenant, username))]);
  }

  /** Failed password and one-time-code tries of the user in the open windows (a risk signal). */
  async recentFailures(tenant: string, username: string): Promise<number> {
    const [user, otp] = await Promise.all([
      this.#state.get<CounterItem>(loginThrottleKeys.user(tenant, username)),
      this.#state.get<CounterItem>(loginThrottleKeys.otp(tenant, username)),
    ]);
    return (user?.failures ?? 0) + (otp?.failures ?? 0);
  }

  /** Tries currently counted in the open windows (for operators and tests). */
  async failures(tenant: string, username: string, ip: string): Promise<{ user: number; otp: number; ip: number }> {
    const [user, otp, address] = await Promise.all([
      this.#state.get<CounterItem>(loginThrottleKeys.user(tenant, username)),
      this.#state.get<CounterItem>(loginThrottleKeys.otp(tenant, username)),
      this.#state.get<CounterItem>(loginThrottleKeys.ip(tenant, ip)),
    ]);
    return { user: user?.failures ?? 0, otp: otp?.failures ?? 0, ip: address?.failures ?? 0 };
  }

  /** Seconds until the counter's lock ends, or 0 when it does not lock. */
  #lockedFor(counter: CounterItem | undefined, limit: number): number {
    if (!counter || counter.failures < limit) return 0;
    const until = counter.lockedUntil ?? counter.expiresAt;
    return Math.max(0, Math.ceil(until - this.#clock.now() / 1000));
  }

  /**
   * Spends one try of the counter, unless it is locked. The try that reaches the limit sets the lock at
   * once (it is lifted again if that try turns out right). A counter whose lock has run out while its
   * window is still open starts a new window.
   */
  async #reserve(key: ItemKey, limit: number): Promise<Reservation> {
    const { windowSeconds, lockSeconds } = this.#policy;
    return this.#guarded(async () => {
      const now = Math.floor(this.#clock.now() / 1000);
      const current = await this.#state.get<CounterItem>(key);
      const locked = this.#lockedFor(current, limit);
      if (locked > 0) return { reserved: false, retryAfterSeconds: locked };
      const lock = (failures: number, expiresAt: number) =>
        failures >= limit ? { lockedUntil: now + lockSeconds, expiresAt: Math.max(expiresAt, now + lockSeconds) } : {};
      if (!current) {
        // First try of a window; "absent" also takes over an expired counter TTL has not removed yet.
        await this.#state.put({ ...key, failures: 1, windowStart: now, expiresAt: now + windowSeconds, ...lock(1, now + windowSeconds) }, { absent: true });
      } else {
        const fresh = current.failures >= limit; // its lock is over: a new window
        const failures = fresh ? 1 : current.failures + 1;
        const window = fresh ? { windowStart: now, expiresAt: now + windowSeconds, lockedUntil: null } : {};
        const expiresAt = fresh ? now + windowSeconds : current.expiresAt;
        await this.#state.update(
          key,
          { failures, ...window, ...lock(failures, expiresAt) },
          { present: true, equals: { failures: current.failures, windowStart: current.windowStart } },
        );
      }
      return { reserved: true };
    });
  }

  /** Returns one reserved try; below the limit again, the lock it set goes too. */
  async #giveBack(key: ItemKey, limit: number): Promise<void> {
    await this.#guarded(async () => {
      const current = await this.#state.get<CounterItem>(key);
      if (!current || current.failures <= 0) return;
      const failures = current.failures - 1;
      await this.#state.update(
        key,
        { failures, ...(failures < limit ? { lockedUntil: null } : {}) },
        { present: true, equals: { failures: current.failures, windowStart: current.windowStart } },
      );
    });
  }

  /** Runs one read-then-guarded-write step, again after a short random pause while another write wins. */
  async #guarded<T>(step: () => Promise<T>): Promise<T> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        return await step();
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 2 ** attempt)));
      }
    }
    throw new ConflictError('too many concurrent sign-in attempts to count; retry');
  }
}
