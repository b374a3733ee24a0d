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
 * A Secure, HttpOnly cookie. Lax by default: the SSO cookie must ride along top-level navigations from a
 * relying party to the authorization endpoint, never along cross-site subrequests or POSTs.
 */
export function setCookie(name: string, value: string, options: CookieOptions): string {
  const parts = [`${name}=${value}`, `Path=${options.path}`, 'Secure', 'HttpOnly', `SameSite=${options.sameSite ?? 'Lax'}`];
  if (options.maxAgeSeconds !== undefined) parts.push(`Max-Age=${options.maxAgeSeconds}`);
  return parts.join('; ');
}

export const clearCookie = (name: string, path: string): string => setCookie(name, '', { path, maxAgeSeconds: 0 });
