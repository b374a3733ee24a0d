import { beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { DPOP_ALGORITHMS, DpopNonces, DpopVerifier, type DpopCheck } from '../../lambdas/core/oidc/dpop.ts';
import { OAuthError } from '../../lambdas/core/oidc/errors.ts';
import { s256 } from '../../lambdas/core/oidc/hashing.ts';
import type { Random, StateStore } from '../../lambdas/ports.ts';

/**
 * Every rejection here must happen before the verifier touches the store: the nonce check and the replay
 * record come last, so these fakes fail the test if a rejected proof reaches them. Accepted proofs, nonces
 * and replay run against the real stores in test/integration/oidc-replay.test.ts.
 */
const untouchableStore = new Proxy({} as StateStore, {
  get: (_target, member) => () => {
    throw new Error(`the store was touched (${String(member)}) by a proof that should fail earlier`);
  },
});
const untouchableReplay = {
  firstUse: async (): Promise<boolean> => {
    throw new Error('the replay cache was touched by a proof that should fail earlier');
  },
};
const random: Random = { bytes: () => new Uint8Array(), id: () => randomUUID() };

const NOW = 1_800_000_000;
const clock = { now: () => NOW * 1000 };
const URL_TOKEN = 'https://id.example.com/t/demo/oidc/token';
const verifier = new DpopVerifier({ replay: untouchableReplay, nonces: new DpopNonces(untouchableStore, clock, random), clock });
const check: DpopCheck = { tenant: 'demo', method: 'POST', url: URL_TOKEN, requireNonce: true };

interface Pair {
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
  readonly privateJwk: JWK;
}
const pairs: Record<string, Pair> = {};
beforeAll(async () => {
  for (const [name, alg] of [
    ['ES256', 'ES256'],
    ['other ES256', 'ES256'],
    ['RS256', 'RS256'],
    ['ES384', 'ES384'],
  ] as const) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    pairs[name] = { alg, privateKey, jwk: await exportJWK(publicKey), privateJwk: await exportJWK(privateKey) };
  }
});

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
/** An unsigned token with a placeholder signature, for checks that come before the signature. */
const raw = (header: unknown, payload: unknown) => `${b64(header)}.${b64(payload)}.c2ln`;
const claims = (extra: Record<string, unknown> = {}) => ({ jti: randomUUID(), htm: 'POST', htu: URL_TOKEN, iat: NOW, ...extra });

async function proof(options: { pair?: string; header?: Record<string, unknown>; claims?: Record<string, unknown>; omit?: string[] } = {}): Promise<string> {
  const pair = pairs[options.pair ?? 'ES256']!;
  const payload: Record<string, unknown> = claims(options.claims);
  for (const name of options.omit ?? []) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: pair.alg, typ: 'dpop+jwt', jwk: pair.jwk, ...options.header }).sign(pair.privateKey);
}

async function rejected(header: string | Promise<string>, message: string, overrides: Partial<DpopCheck> = {}): Promise<void> {
  const error = await verifier.verify(await header, { ...check, ...overrides }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OAuthError);
  expect(error).toMatchObject({ error: 'invalid_dpop_proof', message, status: 400, headers: {} });
}

describe('DPoP proof verification (checks before the store)', () => {
  it('advertises asymmetric algorithms only', () => {
    expect([...DPOP_ALGORITHMS]).toEqual(['ES256', 'RS256', 'PS256', 'EdDSA']);
  });

  it('returns undefined when the request has no DPoP header', async () => {
    expect(await verifier.verify(undefined, check)).toBeUndefined();
  });

  describe('the header value', () => {
    it('rejects an empty header', () => rejected('  ', 'DPoP header is empty'));
    it('rejects two proofs joined by a comma (repeated headers)', async () => rejected(`${await proof()}, ${await proof()}`, 'more than one DPoP proof'));
    it('rejects an oversized proof', () => rejected(raw({ typ: 'dpop+jwt', alg: 'ES256', pad: 'x'.repeat(9000) }, claims()), 'DPoP proof is too large'));
    it.each([
      ['two segments', 'eyJhbGciOiJFUzI1NiJ9.e30'],
      ['an empty signature (alg none)', `${b64({ typ: 'dpop+jwt', alg: 'none' })}.${b64(claims())}.`],
      ['a JWE', 'a.b.c.d.e'],
      ['characters outside base64url', 'a+b.c.d'],
    ])('rejects %s', (_name, value) => rejected(value, 'DPoP proof is not a compact JWS'));
    it('rejects a header that is not a JSON object', () => rejected(`${b64('[1]')}.${b64(claims())}.c2ln`, 'DPoP proof header is not a JSON object'));
  });

  describe('the JOSE header', () => {
    it.each([
      ['missing', undefined],
      ['JWT', 'JWT'],
      ['at+jwt', 'at+jwt'],
    ])('rejects typ %s', (_name, typ) => rejected(proof({ header: { typ } }), 'DPoP proof typ must be dpop+jwt'));

    it.each(['none', 'HS256', 'RS384', 'ES384', undefined])('rejects alg %s', async (alg) => {
      await rejected(raw({ typ: 'dpop+jwt', alg, jwk: pairs['ES256']!.jwk }, claims()), 'DPoP proof alg must be one of ES256, RS256, PS256, EdDSA');
    });

    it('rejects ES384 even when the proof is properly signed', () =>
      rejected(proof({ pair: 'ES384' }), 'DPoP proof alg must be one of ES256, RS256, PS256, EdDSA'));

    it.each([{ crit: ['exp'] }, { b64: false, crit: ['b64'] }])('rejects crit and b64 (%p)', (extra) =>
      rejected(raw({ typ: 'dpop+jwt', alg: 'ES256', jwk: pairs['ES256']!.jwk, ...extra }, claims()), 'DPoP proof header must not use crit or b64'),
    );

    it.each([
      ['missing', undefined],
      ['a string', 'key'],
      ['an array', []],
    ])('rejects a jwk that is %s', (_name, jwk) => rejected(raw({ typ: 'dpop+jwt', alg: 'ES256', jwk }, claims()), 'DPoP proof header must carry a jwk'));

    it('rejects a private key in the header', () => rejected(proof({ header: { jwk: pairs['ES256']!.privateJwk } }), 'DPoP proof jwk must be a public key'));
    it('rejects an RSA private key in the header', () =>
      rejected(proof({ pair: 'RS256', header: { jwk: pairs['RS256']!.privateJwk } }), 'DPoP proof jwk must be a public key'));
    it('rejects a symmetric key in the header', () =>
      rejected(raw({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'oct', k: 'c2VjcmV0' } }, claims()), 'DPoP proof jwk must be a public key'));
    it('rejects a jwk meant for encryption', () =>
      rejected(proof({ header: { jwk: { ...pairs['ES256']!.jwk, use: 'enc' } } }), 'DPoP proof jwk is not meant for this alg'));
    it('rejects a jwk bound to another alg', () =>
      rejected(proof({ header: { jwk: { ...pairs['ES256']!.jwk, alg: 'ES384' } } }), 'DPoP proof jwk is not meant for this alg'));
    it('rejects a jwk of the wrong key type for alg', () =>
      rejected(raw({ typ: 'dpop+jwt', alg: 'RS256', jwk: pairs['ES256']!.jwk }, claims()), 'DPoP proof jwk is not a valid RS256 public key'));
  });

  describe('the claims', () => {
    const header = () => ({ typ: 'dpop+jwt', alg: 'ES256', jwk: pairs['ES256']!.jwk });
    it('rejects a payload that is not a JSON object', () => rejected(`${b64(header())}.${b64('"text"')}.c2ln`, 'DPoP proof payload is not a JSON object'));

    it.each([
      ['missing', undefined],
      ['empty', ''],
      ['not a string', 42],
      ['longer than 128 characters', 'j'.repeat(129)],
    ])('rejects a jti that is %s', (_name, jti) => rejected(proof({ claims: { jti } }), 'DPoP proof jti must be a string of 1 to 128 characters'));

    it.each([['GET'], ['post'], [undefined]])('rejects htm %p for a POST', (htm) =>
      rejected(proof({ claims: { htm } }), 'DPoP proof htm does not match the request method'),
    );

    it.each([
      ['another path', 'https://id.example.com/t/demo/oidc/userinfo'],
      ['another tenant', 'https://id.example.com/t/other/oidc/token'],
      ['another host', 'https://evil.example.com/t/demo/oidc/token'],
      ['another scheme', 'http://id.example.com/t/demo/oidc/token'],
      ['another port', 'https://id.example.com:8443/t/demo/oidc/token'],
      ['a trailing slash', 'https://id.example.com/t/demo/oidc/token/'],
      ['user info', 'https://user@id.example.com/t/demo/oidc/token'],
      ['a relative URL', '/t/demo/oidc/token'],
      ['a non-http URL', 'urn:example:token'],
      ['no htu', undefined],
    ])('rejects htu with %s', (_name, htu) => rejected(proof({ claims: { htu } }), 'DPoP proof htu does not match the request URL'));

    it.each([
      ['missing', undefined],
      ['a string', String(NOW)],
    ])('rejects an iat that is %s', (_name, iat) => rejected(proof({ claims: { iat } }), 'DPoP proof iat must be a number'));
    it('rejects a proof older than the maximum age', () => rejected(proof({ claims: { iat: NOW - 301 } }), 'DPoP proof is too old'));
    it('rejects a proof older than a configured maximum age', async () => {
      const strict = new DpopVerifier({ replay: untouchableReplay, nonces: new DpopNonces(untouchableStore, clock, random), clock, maxAgeSeconds: 60 });
      await expect(strict.verify(await proof({ claims: { iat: NOW - 61 } }), check)).rejects.toMatchObject({ message: 'DPoP proof is too old' });
    });
    it('rejects an iat beyond the leeway in the future', () => rejected(proof({ claims: { iat: NOW + 6 } }), 'DPoP proof iat is in the future'));

    it('requires ath when an access token is presented', () =>
      rejected(proof({ claims: { htm: 'GET' } }), 'DPoP proof ath is missing', { method: 'GET', accessToken: 'at-1' }));
    it('rejects an ath of another access token', () =>
      rejected(proof({ claims: { htm: 'GET', ath: s256('at-2') } }), 'DPoP proof ath does not match the access token', { method: 'GET', accessToken: 'at-1' }));
    it('rejects an ath that is not base64url SHA-256', () =>
      rejected(proof({ claims: { htm: 'GET', ath: 'at-1' } }), 'DPoP proof ath does not match the access token', { method: 'GET', accessToken: 'at-1' }));
  });

  describe('the signature', () => {
    it('rejects a proof signed by another key than its jwk', () =>
      rejected(proof({ header: { jwk: pairs['other ES256']!.jwk } }), 'DPoP proof signature is invalid'));
    it('rejects a proof whose payload was changed after signing', async () => {
      const [h, , s] = (await proof()).split('.');
      await rejected(`${h}.${b64(claims({ htm: 'POST' }))}.${s}`, 'DPoP proof signature is invalid');
    });
    it('rejects an RSA key shorter than 2048 bits', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
      const input = `${b64({ typ: 'dpop+jwt', alg: 'RS256', jwk: publicKey.export({ format: 'jwk' }) })}.${b64(claims())}`;
      await rejected(`${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`, 'DPoP proof jwk is not a valid RS256 public key');
    });
    it('rejects a proof whose signature was stripped to a placeholder', () =>
      rejected(raw({ typ: 'dpop+jwt', alg: 'ES256', jwk: pairs['ES256']!.jwk }, claims()), 'DPoP proof signature is invalid'));
  });

  it('reports the error as an OAuthError with status 400 and no extra headers', async () => {
    const error = await verifier.verify('x.y', check).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect((error as OAuthError).status).toBe(400);
  });
});
