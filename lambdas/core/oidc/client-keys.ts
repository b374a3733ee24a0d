import {
  createLocalJWKSet,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type ProtectedHeaderParameters,
} from 'jose';
import type { Clock, OutboundHttp } from '../../ports.ts';
import { RemoteKeySets } from '../outbound/remote-key-sets.ts';
import type { OidcClient } from './client.ts';

/**
 * A client's registered public keys (RFC 7591 §2): `jwks` by value, or `jwks_uri` fetched through the
 * outbound HTTP port (the outbound URL policy, size and time limits) and cached per process like a
 * trusted issuer's JWKS (10 minutes; a key id not found refetches at most every 30 s; a bounded number
 * of URIs). What client assertions (private_key_jwt) and request objects (RFC 9101) are verified with.
 */
export class ClientKeys {
  readonly #remote: RemoteKeySets;

  constructor(outbound: OutboundHttp, clock: Clock) {
    this.#remote = new RemoteKeySets(outbound, clock);
  }

  /** The client's key resolver, or undefined when it registered no keys. */
  resolver(client: Pick<OidcClient, 'jwks' | 'jwks_uri'>): JWTVerifyGetKey | undefined {
    if (client.jwks) return createLocalJWKSet(client.jwks as JSONWebKeySet);
    if (client.jwks_uri) return this.#remote.resolver(client.jwks_uri);
    return undefined;
  }
}

/** Verifies a JWT with a client's keys; when several keys fit (no kid), the one that verifies wins. */
export async function verifyWithClientKeys(
  jwt: string,
  keys: JWTVerifyGetKey,
  options: JWTVerifyOptions,
): Promise<{ payload: JWTPayload; protectedHeader: ProtectedHeaderParameters }> {
  try {
    return await jwtVerify(jwt, keys, options);
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    let failure: unknown = new errors.JWKSNoMatchingKey();
    for await (const key of error) {
      try {
        return await jwtVerify(jwt, key, options);
      } catch (attempt) {
        // Only a wrong key is worth trying the next one; a claim failure is final.
        if (!(attempt instanceof errors.JWSSignatureVerificationFailed)) throw attempt;
        failure = attempt;
      }
    }
    throw failure;
  }
}
