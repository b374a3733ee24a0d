import type { ClientAuthMethod } from './client-auth.ts';

/**
 * What a revocation request (RFC 7009) does with a token of this tenant, by who holds it. Its own client
 * revokes it. A token issued to another client is not revoked and the request refused (§2.1), as
 * oidc-provider does: an authenticated client gets `invalid_request`, while a public client (anyone can
 * send its client_id) gets the same 200 as for an unknown token, so it cannot probe which tokens are valid.
 */
export function revocationOutcome(
  tokenClientId: string,
  caller: { readonly clientId: string; readonly method: ClientAuthMethod },
): 'revoke' | 'ignore' | 'refuse' {
  if (tokenClientId === caller.clientId) return 'revoke';
  return caller.method === 'none' ? 'ignore' : 'refuse';
}
