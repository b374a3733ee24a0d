import { describe, expect, it } from '@jest/globals';
import { CompactEncrypt, exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK } from 'jose';
import { clientMetadataSchema, type OidcClient } from '../../lambdas/core/oidc/client.ts';
import { ClientKeys } from '../../lambdas/core/oidc/client-keys.ts';
import { verifyRequestObject } from '../../lambdas/core/oidc/request-objects.ts';
import { NO_OUTBOUND } from '../../lambdas/core/outbound/none.ts';

/** The rules of a signed request object (RFC 9101), where they live: verifyRequestObject. */
const ISSUER = 'https://id.example.com/t/demo';
const NOW = 1_800_000_000;
const clock = { now: () => NOW * 1000 };
const deps = { keys: new ClientKeys(NO_OUTBOUND, clock), clock };

async function fixture(alg: 'ES256' | 'PS256' = 'ES256'): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: 'k1', alg } };
}

const clientWith = (jwk: JWK, extra: Record<string, unknown> = {}): OidcClient => ({
  ...clientMetadataSchema.parse({ redirect_uris: ['https://rp.example/cb'], jwks: { keys: [jwk] }, ...extra }),
  client_id: 'client-one',
  tenant: 'demo',
  first_party: false,
  registered_by: 'registration',
  client_id_issued_at: 1,
  version: 1,
});

const sign = (key: CryptoKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}, alg = 'ES256') =>
  new SignJWT({ iss: 'client-one', aud: ISSUER, exp: NOW + 60, response_type: 'code', scope: 'openid', max_age: 0, ...claims })
    .setProtectedHeader({ alg, kid: 'k1', ...header })
    .sign(key);

describe('request objects (JAR)', () => {
  it('gives the signed parameters as strings, under the outer client_id, without the JWT claims', async () => {
    const { privateKey, jwk } = await fixture();
    const params = await verifyRequestObject(
      await sign(privateKey, { claims: { userinfo: { email: null } } }, { typ: 'oauth-authz-req+jwt' }),
      clientWith(jwk),
      ISSUER,
      deps,
    );
    expect(params).toEqual({ response_type: 'code', scope: 'openid', max_age: '0', claims: '{"userinfo":{"email":null}}', client_id: 'client-one' });
  });

  it.each([
    ['aud of another issuer', { aud: 'https://other.example/t/demo' }, {}, /aud/],
    ['iss of another client', { iss: 'client-two' }, {}, /iss/],
    ['client_id of another client', { client_id: 'client-two' }, {}, /client_id/],
    ['expired', { exp: NOW - 120 }, {}, /expired/],
    ['valid for a day', { exp: NOW + 86_400 }, {}, /too far/],
    ['not yet valid', { nbf: NOW + 600 }, {}, /nbf/],
    ['nesting a request_uri', { request_uri: 'https://rp.example/r' }, {}, /request_uri/],
    ['another typ', {}, { typ: 'at+jwt' }, /typ/],
  ])('refuses one %s with invalid_request_object', async (_label, claims, header, message) => {
    const { privateKey, jwk } = await fixture();
    await expect(verifyRequestObject(await sign(privateKey, claims, header), clientWith(jwk), ISSUER, deps)).rejects.toMatchObject({
      error: 'invalid_request_object',
      message: expect.stringMatching(message),
    });
  });

  it('refuses alg none, an encrypted object, a wrong key, and an algorithm other than the client registered', async () => {
    const { privateKey, jwk } = await fixture();
    const client = clientWith(jwk, { request_object_signing_alg: 'ES256' });
    const refused = (jwt: string, on = client) => expect(verifyRequestObject(jwt, on, ISSUER, deps)).rejects.toMatchObject({ error: 'invalid_request_object' });
    await refused(new UnsecuredJWT({ iss: 'client-one', aud: ISSUER, response_type: 'code' }).encode());
    const encrypted = await new CompactEncrypt(new TextEncoder().encode('{}')).setProtectedHeader({ alg: 'dir', enc: 'A128GCM' }).encrypt(new Uint8Array(16));
    await refused(encrypted);
    await refused(await sign((await fixture()).privateKey, {}));
    const pss = await fixture('PS256');
    await refused(await sign(pss.privateKey, {}, {}, 'PS256'), clientWith(pss.jwk, { request_object_signing_alg: 'ES256' }));
    // Without a registered algorithm, any supported asymmetric one the key fits is taken.
    await expect(verifyRequestObject(await sign(pss.privateKey, {}, {}, 'PS256'), clientWith(pss.jwk), ISSUER, deps)).resolves.toMatchObject({
      client_id: 'client-one',
    });
    await expect(verifyRequestObject(await sign(privateKey, {}), client, ISSUER, deps)).resolves.toMatchObject({ scope: 'openid' });
  });

  it('needs registered keys: a client without jwks or jwks_uri cannot use request objects', async () => {
    const { privateKey } = await fixture();
    const keyless = { ...clientWith({ kty: 'EC' }), jwks: undefined } as unknown as OidcClient;
    await expect(verifyRequestObject(await sign(privateKey, {}), keyless, ISSUER, deps)).rejects.toMatchObject({
      error: 'invalid_request_object',
      message: expect.stringMatching(/no keys/),
    });
  });
});
