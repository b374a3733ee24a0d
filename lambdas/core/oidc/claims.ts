import type { User } from '../directory/user.ts';

/**
 * Authentication context classes the portal can satisfy, weakest first: password; password + one-time
 * code; a certificate login without a PIN (an external CA's certificate, a card slot with no PIN); a card
 * certificate whose key signs only after the PIN (9A). A certificate ranks above password + code: the key
 * proves itself inside the TLS handshake, so it cannot be phished or relayed the way a typed code can.
 */
export const ACR = {
  password: 'urn:cloudcard:acr:password',
  mfa: 'urn:cloudcard:acr:mfa',
  x509: 'urn:cloudcard:acr:x509',
  smartcard: 'urn:cloudcard:acr:smartcard',
} as const;
export const ACR_VALUES = [ACR.password, ACR.mfa, ACR.x509, ACR.smartcard] as const;
/** The acr values only a certificate login reaches. */
export const CERTIFICATE_ACRS: readonly string[] = [ACR.x509, ACR.smartcard];

/** Whether an authentication at `have` satisfies a request for any of `wanted` (none asked: anything does). */
export function acrSatisfies(have: string, wanted: readonly string[]): boolean {
  if (wanted.length === 0) return true;
  const rank = (acr: string) => (ACR_VALUES as readonly string[]).indexOf(acr);
  const known = wanted.filter((w) => rank(w) >= 0);
  // Unknown values are ignored (OIDC Core §3.1.2.1: voluntary claim); if none is known, any login does.
  if (known.length === 0) return true;
  return known.some((w) => rank(have) >= rank(w));
}

/** The weakest known acr among those requested: what the portal must reach. */
export function requiredAcr(wanted: readonly string[]): string {
  const known = (ACR_VALUES as readonly string[]).filter((a) => wanted.includes(a));
  return known[0] ?? ACR.password;
}

/** Standard claims released per scope (OIDC Core §5.4); claims the directory lacks are omitted. */
export function userClaims(user: User, scope: string): Record<string, unknown> {
  const scopes = new Set(scope.split(' '));
  const claims: Record<string, unknown> = { sub: user.username };
  if (scopes.has('profile')) {
    claims['name'] = user.displayName;
    claims['preferred_username'] = user.username;
    claims['updated_at'] = Math.floor(Date.parse(user.updatedAt) / 1000);
  }
  if (scopes.has('email') && user.email) {
    claims['email'] = user.email;
    claims['email_verified'] = false;
  }
  return claims;
}
