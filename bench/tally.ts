import type { Rounds } from '../test/support/store-rounds.ts';

export { Rounds } from '../test/support/store-rounds.ts';

/** Store calls so far: how many, by `store.method`, and the milliseconds spent waiting on them. */
export interface Tally {
  readonly calls: Record<string, number>;
  ms: number;
  /** Round trips of the current request, when counted (shared by the tallies of one handler's stores). */
  readonly rounds?: Rounds;
}

/** Wraps an object so every method call is counted and timed into `tally` (under `name.method`). */
export function tallied<T extends object>(target: T, tally: Tally, name: string): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return (...args: unknown[]) => {
        const key = `${name}.${property}`;
        tally.calls[key] = (tally.calls[key] ?? 0) + 1;
        const start = performance.now();
        const round = tally.rounds?.start() ?? 0;
        const result = (value as (...a: unknown[]) => unknown).apply(object, args);
        if (!(result instanceof Promise)) {
          tally.ms += performance.now() - start;
          tally.rounds?.end(round);
          return result;
        }
        return result.finally(() => {
          tally.ms += performance.now() - start;
          tally.rounds?.end(round);
        });
      };
    },
  });
}
