import type { ApiRequest } from './types.ts';

/**
 * The one rule for a form POST to our pages: it comes from our own origin. A browser names the origin of a
 * form post in `Origin`; our pages send `Referrer-Policy: no-referrer`, under which the Fetch standard has
 * browsers send `Origin: null` even for our own forms, and old clients send none — so those pass here and
 * the form's token (which every form carries) decides. Another origin never passes.
 */
export function fromOwnOrigin(request: ApiRequest): boolean {
  const origin = request.headers['origin'];
  return !origin || origin === 'null' || origin === new URL(request.baseUrl).origin;
}
