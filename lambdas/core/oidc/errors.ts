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

  constructor(error: string, description: string, options: { status?: number; headers?: Record<string, string> } = {}) {
    super(description);
    this.error = error;
    this.status = options.status ?? (error === 'invalid_client' ? 401 : error === 'server_error' ? 500 : 400);
    this.headers = options.headers ?? {};
  }
}

export const invalidRequest = (description: string) => new OAuthError('invalid_request', description);
export const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);
export const invalidClient = (description: string, headers: Record<string, string> = {}) => new OAuthError('invalid_client', description, { status: 401, headers });
export const unauthorizedClient = (description: string) => new OAuthError('unauthorized_client', description);
export const invalidScope = (description: string) => new OAuthError('invalid_scope', description);
export const invalidDpopProof = (description: string) => new OAuthError('invalid_dpop_proof', description);
