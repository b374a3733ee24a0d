/** Reads one cookie from the Cookie header (API Gateway joins repeated headers with commas). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/[;,]/)) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export interface CookieOptions {
  readonly path: string;
  readonly maxAgeSeconds?: number;
  readonly sameSite?: 'Lax' | 'Strict' | 'None';
}

/**
 * The one cookie policy. Every cookie is Secure and HttpOnly, scoped by path to its tenant (or narrower).
 * SameSite says which cross-site requests carry it:
 * - Lax (the default): the SSO session `cc_sso` and the interaction `cc_int` ride along top-level GET
 *   navigations from a relying party or SP, never cross-site POSTs or subrequests, so a foreign page can
 *   never drive the portal's forms with them.
 * - Strict: the double-submit CSRF tokens of the sign-out confirmations (`cc_logout`, `cc_saml_logout`).
 * - None: only `cc_sso_xs`, a second copy of the SSO session secret, so a cross-site top-level POST (the
 *   SAML HTTP-POST binding, an OIDC authorization request by POST) finds the session. It is read only by
 *   the SSO endpoints through `ssoSecretOf`, and only on a top-level navigation; nothing else reads it.
 */
export function setCookie(name: string, value: string, options: CookieOptions): string {
  const parts = [`${name}=${value}`, `Path=${options.path}`, 'Secure', 'HttpOnly', `SameSite=${options.sameSite ?? 'Lax'}`];
  if (options.maxAgeSeconds !== undefined) parts.push(`Max-Age=${options.maxAgeSeconds}`);
  return parts.join('; ');
}

export const clearCookie = (name: string, path: string): string => setCookie(name, '', { path, maxAgeSeconds: 0 });

/** The SSO session cookie for same-site use and top-level GET navigations. */
export const SSO_COOKIE = 'cc_sso';
/** Its cross-site copy (SameSite=None) for top-level POST navigations from another site. */
export const SSO_CROSS_SITE_COOKIE = 'cc_sso_xs';

const tenantPath = (tenant: string): string => `/t/${tenant}/`;

/** Both SSO session cookies, set together when a sign-in starts a session. */
export const ssoSessionCookies = (tenant: string, secret: string, maxAgeSeconds: number): string[] => [
  setCookie(SSO_COOKIE, secret, { path: tenantPath(tenant), maxAgeSeconds }),
  setCookie(SSO_CROSS_SITE_COOKIE, secret, { path: tenantPath(tenant), maxAgeSeconds, sameSite: 'None' }),
];

/** Both SSO session cookies, cleared together when the session ends. */
export const clearSsoSessionCookies = (tenant: string): string[] => [
  clearCookie(SSO_COOKIE, tenantPath(tenant)),
  setCookie(SSO_CROSS_SITE_COOKIE, '', { path: tenantPath(tenant), maxAgeSeconds: 0, sameSite: 'None' }),
];

/**
 * Whether the browser says this request is a top-level navigation (Fetch Metadata). Browsers that send
 * no Fetch Metadata count as one: the SameSite attribute is then the only guard, as it was for them.
 */
export function isTopLevelNavigation(headers: Readonly<Record<string, string | undefined>>): boolean {
  const mode = headers['sec-fetch-mode'];
  const dest = headers['sec-fetch-dest'];
  return (mode === undefined || mode === 'navigate') && (dest === undefined || dest === 'document');
}

/**
 * The SSO session secret an SSO endpoint may use: the Lax cookie, else the cross-site copy on a
 * top-level navigation only (so a foreign page's fetch, image or frame cannot probe or ride the session;
 * together that is Lax extended to top-level POSTs).
 */
export function ssoSecretOf(headers: Readonly<Record<string, string | undefined>>): string | undefined {
  const cookie = headers['cookie'];
  return readCookie(cookie, SSO_COOKIE) || (isTopLevelNavigation(headers) ? readCookie(cookie, SSO_CROSS_SITE_COOKIE) || undefined : undefined);
}
