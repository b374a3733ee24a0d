import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { systemRandom } from '../../lambdas/adapters/system.ts';
import { authenticateClient, CLIENT_ASSERTION_TYPE, type ClientAuthRequest } from '../../lambdas/core/oidc/client-auth.ts';
import { Clients, type OidcClient } from '../../lambdas/core/oidc/client.ts';
import { ClientKeys } from '../../lambdas/core/oidc/client-keys.ts';
import { NO_OUTBOUND } from '../../lambdas/core/outbound/none.ts';
import { DpopNonces, DpopVerifier, type DpopCheck } from '../../lambdas/core/oidc/dpop.ts';
import { OAuthError } from '../../lambdas/core/oidc/errors.ts';
import { s256 } from '../../lambdas/core/oidc/hashing.ts';
import { ReplayCache } from '../../lambdas/core/oidc/replay.ts';
import type { Clock, Random, StateStore } from '../../lambdas/ports.ts';
import { BACKENDS, openBackend, type Backend } from '../support/backends.ts';

/**
 * DPoP proofs, DPoP nonces and client authentication against the real table adapters: everything that
 * needs the state or directory store, above all the single-use guarantees under concurrency.
 */

interface Pair {
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function pair(alg: string, kid?: string): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  return { alg, privateKey, jwk: { ...(await exportJWK(publicKey)), ...(kid ? { kid } : {}) } };
}

async function outcome(promise: Promise<unknown>): Promise<{ ok: true; value: unknown } | { ok: false; error: OAuthError }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthError);
    return { ok: false, error: error as OAuthError };
  }
}

/** Counts the calls an instance makes, to see the nonce cache at work. */
function counting(store: StateStore): { store: StateStore; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const proxy = new Proxy(store, {
    get(target, member) {
      const value = Reflect.get(target, member, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[String(member)] = (calls[String(member)] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

/**
 * Like testClock(), but it moves only when told, from a whole second: the five-minute boundaries the
 * nonce tests step across must not drift with the real time a test takes.
 */
function steppedClock(): Clock & { advance(seconds: number): void } {
  let now = Math.floor(Date.now() / 1000) * 1000;
  return { now: () => now, advance: (seconds) => void (now += seconds * 1000) };
}

const keys: Record<string, Pair> = {};
beforeAll(async () => {
  for (const alg of ['ES256', 'RS256', 'PS256', 'EdDSA']) keys[alg] = await pair(alg);
  keys['other ES256'] = await pair('ES256');
});

describe.each(BACKENDS)('DPoP and client auth replay on the %s backend', (name) => {
  const clock = steppedClock();
  const nowSeconds = () => Math.floor(clock.now() / 1000);
  let backend: Backend;
  let nonces: DpopNonces;
  let verifier: DpopVerifier;
  let replay: ReplayCache;
  beforeAll(async () => {
    backend = await openBackend(name, clock);
    replay = new ReplayCache(backend.state, clock);
    nonces = new DpopNonces(backend.state, clock, systemRandom);
    verifier = new DpopVerifier({ replay, nonces, clock });
  });
  afterAll(async () => backend.close());

  describe('DPoP nonces', () => {
    it('hands out one nonce per tenant and keeps it for five minutes', async () => {
      const first = await nonces.current('n-keep');
      expect(first).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(await nonces.current('n-keep')).toBe(first);
      clock.advance(299);
      expect(await nonces.current('n-keep')).toBe(first);
      expect(await nonces.current('n-keep-other')).not.toBe(first);
      expect(await nonces.isValid('n-keep-other', first)).toBe(false);
      expect(await nonces.isValid('n-keep', first)).toBe(true);
    });

    it('rotates after five minutes and accepts the previous nonce for one more period', async () => {
      const first = await nonces.current('n-rotate');
      clock.advance(300);
      const second = await nonces.current('n-rotate');
      expect(second).not.toBe(first);
      expect(await nonces.isValid('n-rotate', first)).toBe(true);
      expect(await nonces.isValid('n-rotate', second)).toBe(true);
      clock.advance(299);
      expect(await nonces.isValid('n-rotate', first)).toBe(true);
      clock.advance(1);
      expect(await nonces.isValid('n-rotate', first)).toBe(false);
      expect(await nonces.isValid('n-rotate', second)).toBe(true);
      const third = await nonces.current('n-rotate');
      expect([first, second]).not.toContain(third);
      expect(await nonces.isValid('n-rotate', second)).toBe(true);
      expect(await nonces.isValid('n-rotate', first)).toBe(false);
    });

    it('forgets every nonce after a quiet spell of two periods', async () => {
      const first = await nonces.current('n-quiet');
      clock.advance(600);
      expect(await nonces.isValid('n-quiet', first)).toBe(false);
      const fresh = await nonces.current('n-quiet');
      expect(fresh).not.toBe(first);
      expect(await nonces.isValid('n-quiet', first)).toBe(false);
      expect(await nonces.isValid('n-quiet', fresh)).toBe(true);
    });

    it('rejects malformed nonces without reading the store', async () => {
      const { store, calls } = counting(backend.state);
      const isolated = new DpopNonces(store, clock, systemRandom);
      for (const nonce of ['', 'short', 'has space in it......', 'x'.repeat(300)]) expect(await isolated.isValid('n-malformed', nonce)).toBe(false);
      expect(calls).toEqual({});
    });

    it('lets concurrent containers rotate once and agree on the new nonce', async () => {
      const first = await nonces.current('n-race');
      clock.advance(300);
      // Fresh instances have no cache: each reads the due item and tries the guarded rotation.
      const containers = Array.from({ length: 10 }, () => new DpopNonces(backend.state, clock, systemRandom));
      const handedOut = await Promise.all(containers.map((c) => c.current('n-race')));
      expect(new Set(handedOut).size).toBe(1);
      expect(handedOut[0]).not.toBe(first);
      expect(await nonces.isValid('n-race', first)).toBe(true);
      expect(await nonces.current('n-race')).toBe(handedOut[0]);
    });

    it('lets concurrent containers create the first nonce once', async () => {
      const containers = Array.from({ length: 10 }, () => new DpopNonces(backend.state, clock, systemRandom));
      const handedOut = await Promise.all(containers.map((c) => c.current('n-create-race')));
      expect(new Set(handedOut).size).toBe(1);
    });

    it('reads the store at most once per 15 seconds while the nonce is stable', async () => {
      const { store, calls } = counting(backend.state);
      const cached = new DpopNonces(store, clock, systemRandom);
      const nonce = await cached.current('n-cache');
      expect(calls).toEqual({ get: 1, put: 1 });
      for (let i = 0; i < 5; i++) {
        expect(await cached.current('n-cache')).toBe(nonce);
        expect(await cached.isValid('n-cache', nonce)).toBe(true);
      }
      clock.advance(14);
      expect(await cached.current('n-cache')).toBe(nonce);
      expect(calls).toEqual({ get: 1, put: 1 });
      clock.advance(1);
      expect(await cached.current('n-cache')).toBe(nonce);
      expect(calls).toEqual({ get: 2, put: 1 });
    });

    it('rereads for an unknown nonce at most once a second', async () => {
      const { store, calls } = counting(backend.state);
      const cached = new DpopNonces(store, clock, systemRandom);
      await cached.current('n-flood');
      expect(await cached.isValid('n-flood', systemRandom.id())).toBe(false);
      expect(calls['get']).toBe(1);
      clock.advance(2);
      expect(await cached.isValid('n-flood', systemRandom.id())).toBe(false);
      expect(await cached.isValid('n-flood', systemRandom.id())).toBe(false);
      expect(calls['get']).toBe(2);
    });

    it('rereads once when a cached item does not know a nonce another container just issued', async () => {
      const a = new DpopNonces(backend.state, clock, systemRandom);
      const b = new DpopNonces(backend.state, clock, systemRandom);
      const first = await a.current('n-stale');
      clock.advance(295);
      expect(await b.isValid('n-stale', first)).toBe(true); // b caches the item now
      clock.advance(5);
      const second = await a.current('n-stale'); // a rotates within b's 15 s cache window
      expect(await b.isValid('n-stale', second)).toBe(true);
      expect(await b.isValid('n-stale', systemRandom.id())).toBe(false);
    });
  });

  describe('DPoP proofs', () => {
    const TOKEN_URL = 'https://id.example.com/t/demo/oidc/token';
    const USERINFO_URL = 'https://id.example.com/t/demo/oidc/userinfo';
    const tokenCheck: DpopCheck = { tenant: 'demo', method: 'POST', url: TOKEN_URL, requireNonce: true };

    const proof = (options: { key?: string; claims?: Record<string, unknown>; nonce?: string | undefined } = {}) => {
      const key = keys[options.key ?? 'ES256']!;
      const claims: Record<string, unknown> = { jti: randomUUID(), htm: 'POST', htu: TOKEN_URL, iat: nowSeconds(), ...options.claims };
      if (options.nonce !== undefined) claims['nonce'] = options.nonce;
      return new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.jwk }).sign(key.privateKey);
    };

    it.each(['ES256', 'RS256', 'PS256', 'EdDSA'])('accepts a %s proof with a current nonce and returns its key thumbprint', async (alg) => {
      const nonce = await nonces.current('demo');
      const jti = randomUUID();
      const result = await verifier.verify(await proof({ key: alg, nonce, claims: { jti } }), tokenCheck);
      expect(result).toEqual({ jkt: await calculateJwkThumbprint(keys[alg]!.jwk), jwk: keys[alg]!.jwk, jti });
    });

    it('asks for a nonce (use_dpop_nonce, with a DPoP-Nonce header) when the proof has none', async () => {
      const failed = await outcome(verifier.verify(await proof(), tokenCheck));
      expect(failed).toMatchObject({
        ok: false,
        error: {
          error: 'use_dpop_nonce',
          message: 'Authorization server requires nonce in DPoP proof',
          status: 400,
          headers: { 'DPoP-Nonce': await nonces.current('demo') },
        },
      });
    });

    it.each([
      ['unknown', () => systemRandom.id()],
      ['from another tenant', () => nonces.current('other-tenant')],
      ['not a string', () => 42],
    ])('asks for a fresh nonce when the proof carries one that is %s', async (_name, make) => {
      const failed = await outcome(verifier.verify(await proof({ claims: { nonce: await make() } }), tokenCheck));
      expect(failed).toMatchObject({ ok: false, error: { error: 'use_dpop_nonce', headers: { 'DPoP-Nonce': await nonces.current('demo') } } });
    });

    it('asks for a fresh nonce once the one in the proof has expired', async () => {
      const old = await nonces.current('demo');
      clock.advance(600);
      const failed = await outcome(verifier.verify(await proof({ nonce: old }), tokenCheck));
      expect(failed).toMatchObject({ ok: false, error: { error: 'use_dpop_nonce' } });
      const fresh = (failed as { error: OAuthError }).error.headers['DPoP-Nonce']!;
      expect(fresh).not.toBe(old);
      expect(await verifier.verify(await proof({ nonce: fresh }), tokenCheck)).toBeDefined();
    });

    it('accepts a proof without a nonce where none is required', async () => {
      expect(await verifier.verify(await proof(), { ...tokenCheck, requireNonce: false })).toMatchObject({ jkt: expect.any(String) });
    });

    it.each([
      ['a query string in htu', `${TOKEN_URL}?client_id=x`, TOKEN_URL],
      ['a fragment in htu', `${TOKEN_URL}#frag`, TOKEN_URL],
      ['a query string in the request URL', TOKEN_URL, `${TOKEN_URL}?x=1`],
      ['upper-case scheme and host and the default port', 'HTTPS://ID.Example.COM:443/t/demo/oidc/token', TOKEN_URL],
      ['percent-encoded unreserved characters and dot segments', 'https://id.example.com/t/%64emo/./oidc/x/../token', TOKEN_URL],
    ])('ignores %s when comparing htu', async (_name, htu, url) => {
      const nonce = await nonces.current('demo');
      expect(await verifier.verify(await proof({ nonce, claims: { htu } }), { ...tokenCheck, url })).toBeDefined();
    });

    it('accepts iat at both ends of the window: the max age ago, and the leeway ahead', async () => {
      const nonce = await nonces.current('demo');
      expect(await verifier.verify(await proof({ nonce, claims: { iat: nowSeconds() - 300 } }), tokenCheck)).toBeDefined();
      expect(await verifier.verify(await proof({ nonce, claims: { iat: nowSeconds() + 5 } }), tokenCheck)).toBeDefined();
    });

    it('accepts a proof at a resource when ath hashes the presented access token, and rejects another ath', async () => {
      const nonce = await nonces.current('demo');
      const check = { ...tokenCheck, method: 'GET', url: USERINFO_URL, accessToken: 'at_0123456789' };
      const claims = { htm: 'GET', htu: USERINFO_URL };
      expect(await verifier.verify(await proof({ nonce, claims: { ...claims, ath: s256('at_0123456789') } }), check)).toBeDefined();
      const failed = await outcome(verifier.verify(await proof({ nonce, claims: { ...claims, ath: s256('at_other') } }), check));
      expect(failed).toMatchObject({ ok: false, error: { error: 'invalid_dpop_proof', message: 'DPoP proof ath does not match the access token' } });
    });

    it('accepts a proof once and rejects it when replayed', async () => {
      const value = await proof({ nonce: await nonces.current('demo') });
      expect(await verifier.verify(value, tokenCheck)).toBeDefined();
      const again = await outcome(verifier.verify(value, tokenCheck));
      expect(again).toMatchObject({ ok: false, error: { error: 'invalid_dpop_proof', message: 'DPoP proof replayed', status: 400 } });
      clock.advance(200);
      expect(await outcome(verifier.verify(value, tokenCheck))).toMatchObject({ ok: false, error: { message: 'DPoP proof replayed' } });
    });

    it('lets exactly one of 20 concurrent uses of the same proof pass', async () => {
      const value = await proof({ key: 'RS256', nonce: await nonces.current('demo') });
      const results = await Promise.all(Array.from({ length: 20 }, () => outcome(verifier.verify(value, tokenCheck))));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      for (const r of results.filter((r) => !r.ok)) expect(r).toMatchObject({ error: { error: 'invalid_dpop_proof', message: 'DPoP proof replayed' } });
    });

    it('does not burn the jti of a proof it rejects', async () => {
      const jti = randomUUID();
      expect(await outcome(verifier.verify(await proof({ claims: { jti } }), tokenCheck))).toMatchObject({ ok: false, error: { error: 'use_dpop_nonce' } });
      const nonce = await nonces.current('demo');
      expect(await outcome(verifier.verify(await proof({ nonce, claims: { jti, htm: 'GET' } }), tokenCheck))).toMatchObject({
        ok: false,
        error: { error: 'invalid_dpop_proof' },
      });
      expect(await verifier.verify(await proof({ nonce, claims: { jti } }), tokenCheck)).toMatchObject({ jti });
    });

    it('scopes jti to the key and the tenant', async () => {
      const jti = randomUUID();
      const nonce = await nonces.current('demo');
      expect(await verifier.verify(await proof({ nonce, claims: { jti } }), tokenCheck)).toBeDefined();
      expect(await verifier.verify(await proof({ key: 'other ES256', nonce, claims: { jti } }), tokenCheck)).toBeDefined();
      const otherNonce = await nonces.current('acme');
      const acmeUrl = 'https://id.example.com/t/acme/oidc/token';
      expect(
        await verifier.verify(await proof({ nonce: otherNonce, claims: { jti, htu: acmeUrl } }), { ...tokenCheck, tenant: 'acme', url: acmeUrl }),
      ).toBeDefined();
    });
  });

  describe('client auth', () => {
    const ISSUER = 'https://id.example.com/t/demo';
    const TOKEN_URL = `${ISSUER}/oidc/token`;
    // Ids with "_" and "-" so the Basic form-urlencoding is exercised.
    const ids: Random = { bytes: (n) => randomBytes(n), id: () => `cl_${randomBytes(12).toString('base64url')}` };
    let clients: Clients;
    const registered: Record<string, { client: OidcClient; secret?: string }> = {};
    let assertionKeys: Record<string, Pair>;

    beforeAll(async () => {
      clients = new Clients(backend.directory, clock, ids);
      assertionKeys = {
        rsa1: await pair('RS256', 'rsa-1'),
        rsa2: await pair('RS256'),
        ec: await pair('ES256'),
        ed: await pair('EdDSA'),
        stranger: await pair('RS256'),
      };
      const jwks = { keys: [assertionKeys['rsa1']!.jwk, assertionKeys['rsa2']!.jwk, assertionKeys['ec']!.jwk, assertionKeys['ed']!.jwk] };
      const machine = { grant_types: ['client_credentials'] };
      for (const [label, metadata] of Object.entries({
        basic: { ...machine, token_endpoint_auth_method: 'client_secret_basic' },
        post: { ...machine, token_endpoint_auth_method: 'client_secret_post' },
        public: { redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'none' },
        jwt: { ...machine, token_endpoint_auth_method: 'private_key_jwt', jwks },
      })) {
        const issued = await clients.create('demo', metadata, 'admin');
        registered[label] = { client: issued.client, ...(issued.clientSecret ? { secret: issued.clientSecret } : {}) };
      }
    });

    const deps = () => ({ clients, replay, clock, keys: new ClientKeys(NO_OUTBOUND, clock) });
    const auth = (form: Record<string, string>, authorization?: string) =>
      authenticateClient(
        { tenant: 'demo', form, audiences: [TOKEN_URL, ISSUER], ...(authorization ? { authorization } : {}) } satisfies ClientAuthRequest,
        deps(),
      );
    const formEncode = (value: string) => encodeURIComponent(value).replace(/[_~-]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`;
    const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="cloudcard", error="invalid_client"' };
    const idOf = (label: string) => registered[label]!.client.client_id;
    const secretOf = (label: string) => registered[label]!.secret!;

    const assertion = (options: { key?: string; kid?: string; claims?: Record<string, unknown> } = {}) => {
      const key = assertionKeys[options.key ?? 'rsa2']!;
      const id = idOf('jwt');
      return new SignJWT({ iss: id, sub: id, aud: TOKEN_URL, jti: randomUUID(), exp: nowSeconds() + 60, iat: nowSeconds(), ...options.claims })
        .setProtectedHeader({ alg: key.alg, ...(options.kid ? { kid: options.kid } : {}) })
        .sign(key.privateKey);
    };
    const jwtForm = async (options: Parameters<typeof assertion>[0] = {}) => ({
      grant_type: 'client_credentials',
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: await assertion(options),
    });
    const failure = async (promise: Promise<unknown>, error: string, message: string, headers: Record<string, string> = {}) => {
      const result = await outcome(promise);
      expect(result).toMatchObject({ ok: false, error: { error, message, status: error === 'invalid_client' ? 401 : 400, headers } });
    };

    it('authenticates client_secret_basic, form-urlencoded id and secret included', async () => {
      const result = await auth({ grant_type: 'client_credentials' }, basic(idOf('basic'), secretOf('basic')));
      expect(result).toEqual({ client: registered['basic']!.client, method: 'client_secret_basic' });
      expect(await auth({ client_id: idOf('basic') }, basic(idOf('basic'), secretOf('basic')))).toMatchObject({ method: 'client_secret_basic' });
    });

    it('authenticates client_secret_post', async () => {
      expect(await auth({ client_id: idOf('post'), client_secret: secretOf('post') })).toEqual({
        client: registered['post']!.client,
        method: 'client_secret_post',
      });
    });

    it('identifies a public client by client_id (none)', async () => {
      expect(await auth({ client_id: idOf('public') })).toEqual({ client: registered['public']!.client, method: 'none' });
    });

    it('rejects a wrong secret: with a Basic challenge for Basic, without one in the body', async () => {
      await failure(auth({}, basic(idOf('basic'), `${secretOf('basic')}x`)), 'invalid_client', 'invalid client secret', BASIC_CHALLENGE);
      await failure(auth({ client_id: idOf('post'), client_secret: secretOf('basic') }), 'invalid_client', 'invalid client secret');
    });

    it('rejects an unknown client', async () => {
      await failure(auth({}, basic('cl_nobody_at_all', 'cs_x')), 'invalid_client', 'unknown client', BASIC_CHALLENGE);
      await failure(auth({ client_id: 'cl_nobody_at_all', client_secret: 'cs_x' }), 'invalid_client', 'unknown client');
      await failure(auth({ client_id: 'cl_nobody_at_all' }), 'invalid_client', 'unknown client');
      await failure(auth({ client_id: 'not a valid id!' }), 'invalid_client', 'unknown client');
    });

    it('rejects a client using another method than the one it registered', async () => {
      await failure(
        auth({ client_id: idOf('basic'), client_secret: secretOf('basic') }),
        'invalid_client',
        'client is registered for client_secret_basic, not client_secret_post',
      );
      await failure(
        auth({}, basic(idOf('post'), secretOf('post'))),
        'invalid_client',
        'client is registered for client_secret_post, not client_secret_basic',
        BASIC_CHALLENGE,
      );
      await failure(auth({ client_id: idOf('basic') }), 'invalid_client', 'client is registered for client_secret_basic, not none');
      await failure(auth({ client_id: idOf('public'), client_secret: 'anything' }), 'invalid_client', 'client is registered for none, not client_secret_post');
      await failure(auth({ client_id: idOf('jwt') }), 'invalid_client', 'client is registered for private_key_jwt, not none');
      const id = idOf('basic');
      const foreign = await new SignJWT({ iss: id, sub: id, aud: TOKEN_URL, jti: randomUUID(), exp: nowSeconds() + 60 })
        .setProtectedHeader({ alg: 'RS256' })
        .sign(assertionKeys['rsa2']!.privateKey);
      await failure(
        auth({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: foreign }),
        'invalid_client',
        'client is registered for client_secret_basic, not private_key_jwt',
      );
    });

    type AssertionOptions = Parameters<typeof assertion>[0];
    it.each<[string, () => AssertionOptions]>([
      ['an RSA key without kid (two candidates: the one that verifies wins)', () => ({ key: 'rsa2' })],
      ['an RSA key named by kid', () => ({ key: 'rsa1', kid: 'rsa-1' })],
      ['an EC key', () => ({ key: 'ec' })],
      ['an Ed25519 key', () => ({ key: 'ed' })],
      ['aud = the issuer', () => ({ claims: { aud: ISSUER } })],
      ['aud = a list naming the endpoint', () => ({ claims: { aud: ['https://elsewhere.example.com', TOKEN_URL] } })],
      ['an exp 10 s past (clock tolerance)', () => ({ claims: { exp: nowSeconds() - 10 } })],
      ['an exp 10 minutes ahead', () => ({ claims: { exp: nowSeconds() + 600 } })],
    ])('authenticates private_key_jwt signed with %s', async (_name, options) => {
      expect(await auth(await jwtForm(options()))).toEqual({ client: registered['jwt']!.client, method: 'private_key_jwt' });
    });

    it.each<[string, () => AssertionOptions, string]>([
      ['an audience that is not ours', () => ({ claims: { aud: 'https://other.example.com/token' } }), 'client assertion aud does not name this server'],
      ['no audience', () => ({ claims: { aud: undefined } }), 'client assertion lacks the aud claim'],
      ['an exp more than 30 s past', () => ({ claims: { exp: nowSeconds() - 31 } }), 'client assertion has expired'],
      ['an nbf in the future', () => ({ claims: { nbf: nowSeconds() + 120 } }), 'client assertion nbf claim is invalid'],
      ['an unregistered key', () => ({ key: 'stranger' }), 'client assertion signature is invalid'],
      ['a kid that is not registered', () => ({ key: 'rsa1', kid: 'rsa-9' }), 'no registered key matches the client assertion'],
    ])('rejects private_key_jwt with %s', async (_name, options, message) => {
      await failure(auth(await jwtForm(options())), 'invalid_client', message);
    });

    it('rejects a symmetric (HS256) client assertion', async () => {
      const id = idOf('jwt');
      const value = await new SignJWT({ iss: id, sub: id, aud: TOKEN_URL, jti: randomUUID(), exp: nowSeconds() + 60 })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(randomBytes(32));
      await failure(auth({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: value }), 'invalid_client', 'client assertion alg is not allowed');
    });

    it('rejects an assertion for a client that does not exist', async () => {
      const value = await new SignJWT({ iss: 'cl_ghost_client', sub: 'cl_ghost_client', aud: TOKEN_URL, jti: randomUUID(), exp: nowSeconds() + 60 })
        .setProtectedHeader({ alg: 'RS256' })
        .sign(assertionKeys['rsa2']!.privateKey);
      await failure(auth({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: value }), 'invalid_client', 'unknown client');
    });

    it('accepts a client assertion once and rejects it when replayed', async () => {
      const form = await jwtForm();
      expect(await auth(form)).toMatchObject({ method: 'private_key_jwt' });
      await failure(auth(form), 'invalid_client', 'client assertion replayed');
      await failure(auth({ ...form, client_id: idOf('jwt') }), 'invalid_client', 'client assertion replayed');
    });

    it('lets exactly one of 20 concurrent uses of the same client assertion pass', async () => {
      const form = await jwtForm({ key: 'ec' });
      const results = await Promise.all(Array.from({ length: 20 }, () => outcome(auth(form))));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      for (const r of results.filter((r) => !r.ok)) expect(r).toMatchObject({ error: { error: 'invalid_client', message: 'client assertion replayed' } });
    });

    it('does not burn the jti of an assertion it rejects', async () => {
      const jti = randomUUID();
      await failure(
        auth(await jwtForm({ claims: { jti, aud: 'https://other.example.com' } })),
        'invalid_client',
        'client assertion aud does not name this server',
      );
      expect(await auth(await jwtForm({ claims: { jti } }))).toMatchObject({ method: 'private_key_jwt' });
      await failure(auth(await jwtForm({ claims: { jti } })), 'invalid_client', 'client assertion replayed');
    });
  });
});
