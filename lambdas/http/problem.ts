import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../core/errors.ts';

/** An RFC 7807 problem: the error shape of the card and admin APIs (and of any unmatched route). */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  readonly status: number;
  readonly title: string;
  readonly detail?: string;
  readonly extensions: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    title: string,
    options: { detail?: string; extensions?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(options.detail ?? title, { cause: options.cause });
    this.status = status;
    this.title = title;
    this.detail = options.detail;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }
}

/** Maps any error to a problem. Unknown errors become a bare 500: no message, no stack, leaves the process. */
export function toProblem(error: unknown): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (error instanceof ValidationError) {
    return new HttpProblem(400, 'Invalid request', { detail: error.message, extensions: error.issues.length ? { issues: error.issues } : {} });
  }
  if (error instanceof NotFoundError) return new HttpProblem(404, 'Not found', { detail: error.message });
  if (error instanceof ConflictError) return new HttpProblem(409, 'Conflict', { detail: error.message });
  if (error instanceof UnavailableError) {
    return new HttpProblem(503, 'Service unavailable', {
      detail: `a backing service (${error.dependency}) is unavailable; nothing was changed, retry later`,
      headers: { 'Retry-After': '1' },
    });
  }
  return new HttpProblem(500, 'Internal error', { detail: 'an unexpected error occurred; it has been logged' });
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
