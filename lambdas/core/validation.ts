import type * as z from 'zod';
import { ValidationError } from './errors.ts';

/** Parses input with a schema; failures become one ValidationError listing every issue by field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  throw new ValidationError(`invalid ${what}`, issues);
}
