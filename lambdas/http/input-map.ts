/**
 * A map keyed by request input (query, headers, form fields, cookies): it has no prototype, so a name such
 * as `__proto__`, `constructor` or `toString` is an ordinary key, neither a setter nor an inherited value.
 */
export function inputMap<T>(from?: Readonly<Record<string, T>> | null): Record<string, T> {
  const map = Object.create(null) as Record<string, T>;
  if (from) for (const name of Object.keys(from)) map[name] = from[name]!;
  return map;
}
