/**
 * Errors the core raises. They carry no HTTP or protocol detail: each front end (problem JSON, OAuth JSON,
 * SAML status, ISO 7816 status word) maps them to its own vocabulary.
 */
export class DomainError extends Error {
  override readonly name: string = 'DomainError';
}

/** The thing asked for does not exist (or is not visible to the caller). */
export class NotFoundError extends DomainError {
  override readonly name = 'NotFoundError';
}

/** The input is well-formed but breaks a rule (bad identifier, value out of range, ...). */
export class ValidationError extends DomainError {
  override readonly name = 'ValidationError';
  readonly issues: readonly string[];
  constructor(message: string, issues: readonly string[] = []) {
    super(message);
    this.issues = issues;
  }
}

/** A conditional write lost: the item exists already, changed meanwhile, or was consumed. */
export class ConflictError extends DomainError {
  override readonly name = 'ConflictError';
  /**
   * Asked for with the guard's `reportCurrent`: the item as it stood when the guard failed (undefined:
   * absent or expired), so the caller can tell why without another read.
   */
  readonly current?: Record<string, unknown> | undefined;
  constructor(message: string, options?: { current: Record<string, unknown> | undefined }) {
    super(message);
    if (options) this.current = options.current;
  }
}

/** A backing service (store, key custody, signer) could not be reached or refused to work. */
export class UnavailableError extends DomainError {
  override readonly name = 'UnavailableError';
  readonly dependency: string;
  constructor(dependency: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.dependency = dependency;
  }
}
