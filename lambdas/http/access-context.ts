import type { AccessContext } from '../core/risk/context.ts';
import type { ApiRequest } from './types.ts';
import { uaFamilies } from './user-agent.ts';

/** What the HTTP layer knows about the caller, beyond the request itself. */
export interface ContextExtras {
  readonly keyThumbprint?: string;
  readonly amr?: readonly string[];
  readonly clientId?: string;
  readonly sp?: string;
  readonly resource?: string;
}

/**
 * The one builder of the access context for every sign-in and continuation: source address (API
 * Gateway's `identity.sourceIp`, the local gateway's socket), the user agent and its browser and OS
 * families (user-agent.ts), the trusted location when the stack trusts the CDN's headers, the time, and what
 * the route knows (key thumbprint, methods, relying party). The time is stamped by the core's clock
 * (the access check, or whoever stores the context).
 */
export function accessContextOf(request: ApiRequest, extras: ContextExtras = {}): AccessContext {
  const userAgent = request.headers['user-agent']?.slice(0, 512);
  const families = userAgent ? uaFamilies(userAgent) : {};
  return {
    ...(request.sourceIp ? { ip: request.sourceIp } : {}),
    ...(userAgent ? { userAgent, ...families } : {}),
    ...(request.location ? { location: request.location } : {}),
    ...(extras.amr ? { amr: [...extras.amr] } : {}),
    ...(extras.keyThumbprint ? { keyThumbprint: extras.keyThumbprint } : {}),
    ...(extras.clientId ? { clientId: extras.clientId } : {}),
    ...(extras.sp ? { sp: extras.sp } : {}),
    ...(extras.resource ? { resource: extras.resource } : {}),
  };
}
