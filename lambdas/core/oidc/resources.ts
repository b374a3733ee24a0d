import type { OidcClient } from './client.ts';
import { resourceUri } from './client.ts';
import { invalidTarget } from './errors.ts';

/**
 * The service an access token is asked for (RFC 8707 `resource`): absent means the tenant itself (the
 * token's `aud` is the issuer, as for every token); present, it must be an absolute URI without fragment
 * and one of the client's `resources`, which the operator set. Anything else is `invalid_target`.
 */
export function targetResource(requested: string | undefined, client: Pick<OidcClient, 'resources'>): string | undefined {
  if (requested === undefined) return undefined;
  if (!resourceUri.safeParse(requested).success) throw invalidTarget('resource must be an absolute URI without fragment (https, or http on loopback)');
  if (!(client.resources ?? []).includes(requested)) throw invalidTarget('this client may not get tokens for that resource');
  return requested;
}
