import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWK } from 'jose';
import { PolicedHttp } from '../../lambdas/adapters/outbound-http.ts';
import { RemoteKeySets } from '../../lambdas/core/outbound/remote-key-sets.ts';
import { testClock } from '../support/backends.ts';
import { loopbackServer, type LoopbackServer } from '../support/loopback-server.ts';

/**
 * The JWKS cache (trusted issuers, OIDC clients' jwks_uri) over the real outbound adapter and a loopback
 * listener (the outbound URL policy's loopback exception, as in the local stack): bounded in URIs.
 */
describe('remote key sets', () => {
  let server: LoopbackServer;
  let key: { privateKey: CryptoKey; jwk: JWK };
  const clock = testClock();
  const outbound = new PolicedHttp({ policy: { allowLoopback: true }, log: () => undefined });

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    key = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' } };
    server = await loopbackServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'application/jwk-set+json' });
      response.end(JSON.stringify({ keys: [key.jwk] }));
    });
  });
  afterAll(async () => server.close());

  const fetches = (path: string) => server.seen.filter((line) => line === `GET ${path}`).length;

  it('keeps at most maxUris sets: the oldest fetched is dropped and fetched again when needed', async () => {
    const sets = new RemoteKeySets(outbound, clock, { maxUris: 2 });
    const jwt = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(key.privateKey);
    const verify = (path: string) => jwtVerify(jwt, sets.resolver(`${server.url}${path}`));
    for (const path of ['/a', '/b', '/a']) await verify(path);
    expect([fetches('/a'), fetches('/b')]).toEqual([1, 1]); // cached
    await verify('/c'); // over the bound: /a, the oldest fetched, goes
    await verify('/b');
    expect(fetches('/b')).toBe(1);
    await verify('/a');
    expect(fetches('/a')).toBe(2);
  });
});
