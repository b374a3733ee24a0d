/**
 * An OAuth 2.0 / OIDC protocol error (RFC 6749 §5.2, §4.1.2.1; OIDC Core §3.1.2.6; RFC 9449 §7). The
 * endpoint decides how it travels: JSON body, redirect parameters, or WWW-Authenticate.
 */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly error: string;
  readonly status: number;
  /** Extra response headers (WWW-Authenticate, DPoP-Nonce). */
  readonly headers: Readonly<Record<string, string>>;

  /** Extra members of the JSON error body (RFC 9470 `acr_values`, `max_age`). */
  readonly fields: Readonly<Record<string, string | number>>;

  constructor(
    error: string,
    description: string,
    options: { status?: number; headers?: Record<string, string>; fields?: Record<string, string | number> } = {},
  ) {
    // Every rendering (redirect parameters, JSON body, WWW-Authenticate) reads the message: clean it once here.
    super(errorDescription(description));
    this.error = error;
    this.status = options.status ?? (error === 'invalid_client' ? 401 : error === 'server_error' ? 500 : 400);
    this.headers = options.headers ?? {};
    this.fields = options.fields ?? {};
  }
}

/** What a step-up asks for: the one-time-code level, signed in afresh. */
export const STEP_UP = { acrValues: 'urn:cloudcard:acr:mfa', maxAge: 0 } as const;

/**
 * Risk asks for a stronger sign-in (RFC 9470 §3): `insufficient_user_authentication` names exactly what
 * to do (a new authorization request with these `acr_values` and `max_age`), where OIDC's
 * `interaction_required` only says a user must be present.
 */
export const stepUpRequired = (description: string) =>
  new OAuthError('insufficient_user_authentication', description, {
    headers: {
      'WWW-Authenticate': `Bearer error="insufficient_user_authentication", error_description="a stronger sign-in is required", acr_values="${STEP_UP.acrValues}", max_age=${STEP_UP.maxAge}`,
    },
    fields: { acr_values: STEP_UP.acrValues, max_age: STEP_UP.maxAge },
  });

/** Longest description we send: a client shows or logs it, it never needs more. */
const MAX_DESCRIPTION = 300;

/**
 * RFC 6749 §4.1.2.1 / §5.2 (and RFC 6750 §3): `error_description` may hold only %x20-21 / %x23-5B /
 * %x5D-7E, so no double quote, no backslash, no control or non-ASCII character. Descriptions often quote the request
 * (a scope, a parameter name), so each character outside that set becomes `?`, and the text is capped.
 */
export function errorDescription(text: string): string {
  // Our own texts cite specifications by section ("RFC 9126 §2.1"): spelt out, not a `?`.
  const clean = text.replace(/§\s?/gu, 'section ').replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/gu, '?');
  return clean.length > MAX_DESCRIPTION ? `${clean.slice(0, MAX_DESCRIPTION - 3)}...` : clean;
}

export const invalidRequest = (description: string) => new OAuthError('invalid_request', description);
export const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);
export const invalidClient = (description: string, headers: Record<string, string> = {}) =>
  new OAuthError('invalid_client', description, { status: 401, headers });
export const unauthorizedClient = (description: string) => new OAuthError('unauthorized_client', description);
export const invalidScope = (description: string) => new OAuthError('invalid_scope', description);
export const invalidDpopProof = (description: string) => new OAuthError('invalid_dpop_proof', description);
/** RFC 8707 §2: the requested resource is invalid, unknown, or not one the client may get tokens for. */
export const invalidTarget = (description: string) => new OAuthError('invalid_target', description);
