/**
 * Sequential round trips: calls to the stores (or KMS) that overlap in time are one round trip, the way a
 * caller waits for them; a call that starts after every earlier call has ended starts the next one.
 */
export class RoundTrips {
  #calls: Array<{ name: string; start: number; end: number }> = [];
  #clock = 0;

  /** Wraps an object so each of its method calls is recorded under `name.method`. */
  watch<T extends object>(target: T, name: string): T {
    return new Proxy(target, {
      get: (object, property, receiver) => {
        const value: unknown = Reflect.get(object, property, receiver);
        if (typeof value !== 'function' || typeof property !== 'string') return value;
        return (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(object, args);
          if (!(result instanceof Promise)) return result;
          // A logical clock: ties cannot make two sequential calls look concurrent.
          const call = { name: `${name}.${property}`, start: ++this.#clock, end: Number.POSITIVE_INFINITY };
          this.#calls.push(call);
          return result.finally(() => {
            call.end = ++this.#clock;
          });
        };
      },
    });
  }

  reset(): void {
    this.#calls = [];
  }

  /** The calls since the last reset, grouped into round trips in the order they happened. */
  rounds(): string[][] {
    const rounds: string[][] = [];
    let openUntil = 0;
    for (const call of [...this.#calls].sort((a, b) => a.start - b.start)) {
      if (rounds.length === 0 || call.start > openUntil) rounds.push([]);
      rounds.at(-1)!.push(call.name);
      openUntil = Math.max(openUntil, call.end);
    }
    return rounds;
  }
}
