import type * as z from './zod.ts';
import { ValidationError } from './errors.ts';

/** Parses input with a schema; failures become one ValidationError listing every issue by field. */
export function parseInput<S extends z.ZodMiniType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  throw new ValidationError(`invalid ${what}`, issues);
}

/** The page sizes a listing accepts: what it returns without a `limit`, and the most it returns. */
export interface PageBounds {
  readonly default: number;
  readonly max: number;
}

/**
 * The one rule for a listing's `limit` (admin API query strings, CLI options, core callers): absent means
 * the listing's default; otherwise an integer from 1 to its maximum, written in decimal digits only.
 */
export function pageLimit(limit: string | number | undefined, bounds: PageBounds): number {
  if (limit === undefined) return bounds.default;
  const value = typeof limit === 'number' ? limit : /^[0-9]{1,6}$/.test(limit) ? Number(limit) : Number.NaN;
  if (!Number.isInteger(value) || value < 1 || value > bounds.max) throw new ValidationError(`limit must be an integer from 1 to ${bounds.max}`);
  return value;
}

/** A page request: the cursor of the previous page (opaque) and the page size. */
export interface PageRequest {
  readonly cursor?: string | undefined;
  readonly limit?: string | number | undefined;
}

/** The admin listings of users and cards: 100 a page unless asked, at most 1000 (one query each). */
export const LIST_PAGE: PageBounds = { default: 100, max: 1000 };
