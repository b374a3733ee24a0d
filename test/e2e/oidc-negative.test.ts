import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { LocalStack } from '../../local/stack.ts';
import { testClock } from '../support/backends.ts';
import { authorizeWithLogin, basic, pkce, postForm, registerClient, RP_REDIRECT, type RegisteredClient } from '../support/oidc-flows.ts';
import { allowRegistration, DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';

/** The negative matrix of the OpenID Provider: each bad input with its exact protocol error. */
describe('OpenID Provider refuses bad input with the exact error', () => {
  const clock = testClock();
  let stack: LocalStack;
  let issuer: string;
  let token: string;
  let client: RegisteredClient;

  /** A code for `client`, with PKCE, through the portal. */
  async function code(forClient = client, issuerUrl = issuer): Promise<{ code: string; verifier: string }> {
    const { verifier, challenge } = pkce();
    const callback = await authorizeWithLogin(issuerUrl, { client_id: forClient.client_id, code_challenge: challenge, code_challenge_method: 'S256' });
    return { code: callback.searchParams.get('code')!, verifier };
  }
  const exchange = (c: { code: string; verifier: string }, forClient = client, extra: Record<string, string> = {}, headers: Record<string, string> = {}) =>
    postForm(
      token,
      { grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: RP_REDIRECT, ...extra },
      { Authorization: basic(forClient), ...headers },
    );
  const introspect = async (value: string) => (await postForm(`${issuer}/oidc/introspect`, { token: value }, { Authorization: basic(client) })).body;

  beforeAll(async () => {
    stack = await startStackOn('embedded', { clock });
    await allowRegistration(stack);
    issuer = `${stack.url}/t/demo`;
    token = `${issuer}/oidc/token`;
    client = await registerClient(issuer);
  });
  afterAll(async () => stack.close());

  describe('authorization endpoint', () => {
    it('shows an error page, never a redirect, for an unknown client', async () => {
      const response = await fetch(
        `${issuer}/oidc/authorize?response_type=code&client_id=unknown-client-1&redirect_uri=${encodeURIComponent(RP_REDIRECT)}&scope=openid`,
        { redirect: 'manual' },
      );
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(await response.text()).toContain('unknown client_id');
    });

    it.each([['https://evil.example/callback'], [`${RP_REDIRECT}/extra`], [`${RP_REDIRECT}?x=1`], ['']])(
      'shows an error page for redirect_uri %p that is not registered exactly',
      async (redirectUri) => {
        const response = await fetch(
          `${issuer}/oidc/authorize?response_type=code&client_id=${client.client_id}&redirect_uri=${encodeURIComponent(redirectUri)}&scope=openid`,
          { redirect: 'manual' },
        );
        expect(response.status).toBe(400);
        expect(response.headers.get('location')).toBeNull();
        expect(await response.text()).toContain('redirect_uri');
      },
    );

    it('refuses repeated parameters: an error page for client_id, invalid_request for the rest', async () => {
      const base = `${issuer}/oidc/authorize?response_type=code&redirect_uri=${encodeURIComponent(RP_REDIRECT)}&scope=openid&state=s`;
      const twiceClient = await fetch(`${base}&client_id=${client.client_id}&client_id=${client.client_id}`, { redirect: 'manual' });
      expect(twiceClient.status).toBe(400);
      expect(twiceClient.headers.get('location')).toBeNull();
      const twiceScope = await fetch(`${base}&client_id=${client.client_id}&scope=profile`, { redirect: 'manual' });
      const location = new URL(twiceScope.headers.get('location')!);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('error_description')).toMatch(/scope/);
    });

    it('answers prompt=none without a session with login_required, state and iss', async () => {
      const response = await fetch(
        `${issuer}/oidc/authorize?response_type=code&client_id=${client.client_id}&redirect_uri=${encodeURIComponent(RP_REDIRECT)}&scope=openid&prompt=none&state=xyz`,
        { redirect: 'manual' },
      );
      const location = new URL(response.headers.get('location')!);
      expect(location.origin + location.pathname).toBe(RP_REDIRECT);
      expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: 'login_required', state: 'xyz', iss: issuer });
    });

    it.each([
      ['response_type=token', 'unsupported_response_type'],
      ['scope=openid%20admin', 'invalid_scope'],
      ['code_challenge=abc&code_challenge_method=plain', 'invalid_request'],
      ['prompt=none%20login', 'invalid_request'],
      ['request=eyJ', 'invalid_request_object'],
      ['request_uri=https%3A%2F%2Frp.example.test%2Freq.jwt', 'request_uri_not_supported'],
      ['max_age=-1', 'invalid_request'],
    ])('redirects %s back with %s', async (query, error) => {
      const base = `response_type=code&client_id=${client.client_id}&redirect_uri=${encodeURIComponent(RP_REDIRECT)}&scope=openid&state=s`;
      const params = new URLSearchParams(base);
      for (const [name, value] of new URLSearchParams(query)) params.set(name, value);
      const response = await fetch(`${issuer}/oidc/authorize?${params}`, { redirect: 'manual' });
      const location = new URL(response.headers.get('location')!);
      expect(location.searchParams.get('error')).toBe(error);
      expect(location.searchParams.get('state')).toBe('s');
    });
  });

  describe('token endpoint', () => {
    it('answers a body the frame cannot parse in the endpoint’s protocol: invalid_request (token), invalid_client_metadata (registration)', async () => {
      const twice = await fetch(token, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client) },
        body: 'grant_type=authorization_code&code=a&code=b',
      });
      expect([twice.status, twice.headers.get('content-type')]).toEqual([400, 'application/json']);
      expect(await twice.json()).toEqual({ error: 'invalid_request', error_description: 'form parameter code is repeated' });
      const revoke = await fetch(`${issuer}/oidc/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client) },
        body: 'token=a&token=b',
      });
      expect(((await revoke.json()) as { error: string }).error).toBe('invalid_request');
      const register = await fetch(`${issuer}/oidc/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"redirect_uris":' });
      expect(register.status).toBe(400);
      expect(((await register.json()) as { error: string }).error).toBe('invalid_client_metadata');
    });

    it('rejects a wrong client secret with invalid_client and a Basic challenge', async () => {
      const result = await exchange(await code(), { ...client, client_secret: 'cs_wrong' });
      expect(result.status).toBe(401);
      expect(result.body['error']).toBe('invalid_client');
      expect(result.headers.get('www-authenticate')).toMatch(/^Basic/);
    });

    it('rejects a PKCE mismatch', async () => {
      const c = await code();
      const result = await exchange({ ...c, verifier: pkce().verifier });
      expect(result.body).toEqual({ error: 'invalid_grant', error_description: 'PKCE verification failed' });
    });

    it('rejects a redirect_uri different from the authorization request', async () => {
      const result = await exchange(await code(), client, { redirect_uri: 'https://rp.example.test/other' });
      expect(result.body['error']).toBe('invalid_grant');
    });

    it('checks redirect_uri, PKCE and the DPoP key before consuming the code: a wrong request burns nothing', async () => {
      const c = await code();
      expect((await exchange(c, client, { redirect_uri: 'https://rp.example.test/other' })).body['error']).toBe('invalid_grant');
      expect((await exchange({ ...c, verifier: pkce().verifier })).body).toEqual({ error: 'invalid_grant', error_description: 'PKCE verification failed' });
      const right = await exchange(c);
      expect(right.status).toBe(200);
      expect(await introspect(right.body['access_token'] as string)).toMatchObject({ active: true });
    });

    it('narrows the access token on a refresh with a smaller scope and keeps the refresh token scope as presented (RFC 6749 §6)', async () => {
      const first = await exchange(await code());
      expect(first.body['scope']).toBe('openid offline_access');
      const narrowed = await postForm(
        token,
        { grant_type: 'refresh_token', refresh_token: first.body['refresh_token'] as string, scope: 'openid' },
        { Authorization: basic(client) },
      );
      expect(narrowed.status).toBe(200);
      expect(narrowed.body['scope']).toBe('openid');
      expect(await introspect(narrowed.body['access_token'] as string)).toMatchObject({ active: true, scope: 'openid' });
      expect(await introspect(narrowed.body['refresh_token'] as string)).toMatchObject({
        active: true,
        token_type: 'refresh_token',
        scope: 'openid offline_access',
      });
      const full = await postForm(
        token,
        { grant_type: 'refresh_token', refresh_token: narrowed.body['refresh_token'] as string },
        { Authorization: basic(client) },
      );
      expect(full.body['scope']).toBe('openid offline_access');
    });

    it('answers a refresh asking for more scope than granted with invalid_scope and spends nothing: the same token refreshes after', async () => {
      const first = await exchange(await code());
      const refreshToken = first.body['refresh_token'] as string;
      for (const scope of ['openid email', 'openid bogus']) {
        const wider = await postForm(token, { grant_type: 'refresh_token', refresh_token: refreshToken, scope }, { Authorization: basic(client) });
        expect([wider.status, wider.body['error']]).toEqual([400, 'invalid_scope']);
      }
      const plain = await postForm(token, { grant_type: 'refresh_token', refresh_token: refreshToken }, { Authorization: basic(client) });
      expect(plain.status).toBe(200);
      expect(plain.body['scope']).toBe('openid offline_access');
    });

    it('rejects a replayed code and revokes what its first use issued', async () => {
      const c = await code();
      const first = await exchange(c);
      expect(first.status).toBe(200);
      const replay = await exchange(c);
      expect(replay.body).toEqual({
        error: 'invalid_grant',
        error_description: 'the authorization code was already used; the tokens issued with it are revoked',
      });
      expect(await introspect(first.body['access_token'] as string)).toEqual({ active: false });
      const refresh = await postForm(
        token,
        { grant_type: 'refresh_token', refresh_token: first.body['refresh_token'] as string },
        { Authorization: basic(client) },
      );
      expect(refresh.body['error']).toBe('invalid_grant');
    });

    it('rejects refresh-token reuse and revokes the whole family', async () => {
      const first = await exchange(await code());
      const rt1 = first.body['refresh_token'] as string;
      const second = await postForm(token, { grant_type: 'refresh_token', refresh_token: rt1 }, { Authorization: basic(client) });
      expect(second.status).toBe(200);
      const reuse = await postForm(token, { grant_type: 'refresh_token', refresh_token: rt1 }, { Authorization: basic(client) });
      expect(reuse.body).toEqual({ error: 'invalid_grant', error_description: 'the refresh token was already used; its whole family is revoked' });
      const rt2 = await postForm(
        token,
        { grant_type: 'refresh_token', refresh_token: second.body['refresh_token'] as string },
        { Authorization: basic(client) },
      );
      expect(rt2.body['error']).toBe('invalid_grant');
      expect(await introspect(second.body['access_token'] as string)).toEqual({ active: false });
    });

    it('rejects an expired code', async () => {
      const c = await code();
      clock.advance(61);
      const result = await exchange(c);
      clock.advance(-61);
      expect(result.body).toEqual({ error: 'invalid_grant', error_description: 'the authorization code is invalid or expired' });
    });

    it('rejects an expired access token at userinfo', async () => {
      const issued = await exchange(await code());
      clock.advance(601);
      const response = await fetch(`${issuer}/oidc/userinfo`, { headers: { Authorization: `Bearer ${issued.body['access_token'] as string}` } });
      clock.advance(-601);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    });

    it('rejects an unknown grant type and a grant the client may not use', async () => {
      expect((await postForm(token, { grant_type: 'implicit' }, { Authorization: basic(client) })).body['error']).toBe('unsupported_grant_type');
      expect((await postForm(token, { grant_type: 'client_credentials' }, { Authorization: basic(client) })).body['error']).toBe('unauthorized_client');
      // The password grant is not offered at all unless the tenant turns it on (RFC 9700 §2.4).
      expect(
        (await postForm(token, { grant_type: 'password', username: 'alice', password: DEMO_PASSWORD }, { Authorization: basic(client) })).body['error'],
      ).toBe('unsupported_grant_type');
    });

    it('rejects a JSON body', async () => {
      const response = await fetch(token, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: basic(client) }, body: '{}' });
      expect(await response.json()).toMatchObject({ error: 'invalid_request' });
    });
  });

  describe('DPoP', () => {
    let key: { privateKey: CryptoKey; publicKey: CryptoKey };
    let nonce: string;
    const proof = async (htu: string, options: { jti?: string; signWith?: CryptoKey; jwkOf?: CryptoKey; ath?: string; htm?: string } = {}) =>
      new SignJWT({ htm: options.htm ?? 'POST', htu, jti: options.jti ?? randomUUID(), nonce, ...(options.ath ? { ath: options.ath } : {}) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(options.jwkOf ?? key.publicKey) })
        .setIssuedAt(Math.floor(clock.now() / 1000))
        .sign(options.signWith ?? key.privateKey);
    let ccClient: RegisteredClient;

    beforeAll(async () => {
      key = await generateKeyPair('ES256', { extractable: true });
      ccClient = await registerClient(issuer, { grant_types: ['client_credentials'], redirect_uris: [] });
      const first = await postForm(token, { grant_type: 'client_credentials' }, { Authorization: basic(ccClient), DPoP: await proof(token) });
      expect(first.body['error']).toBe('use_dpop_nonce');
      nonce = first.headers.get('dpop-nonce')!;
    });

    it('rejects a replayed proof', async () => {
      const jti = randomUUID();
      const same = await proof(token, { jti });
      expect((await postForm(token, { grant_type: 'client_credentials' }, { Authorization: basic(ccClient), DPoP: same })).status).toBe(200);
      const replay = await postForm(token, { grant_type: 'client_credentials' }, { Authorization: basic(ccClient), DPoP: same });
      expect(replay.body).toMatchObject({ error: 'invalid_dpop_proof' });
      expect(replay.body['error_description']).toMatch(/replay/i);
    });

    it('rejects a proof for another URL (htu)', async () => {
      const result = await postForm(
        token,
        { grant_type: 'client_credentials' },
        { Authorization: basic(ccClient), DPoP: await proof(`${issuer}/oidc/userinfo`) },
      );
      expect(result.body['error']).toBe('invalid_dpop_proof');
      expect(result.body['error_description']).toMatch(/htu/);
    });

    it('rejects a proof whose signature does not match its jwk', async () => {
      const other = await generateKeyPair('ES256', { extractable: true });
      const result = await postForm(
        token,
        { grant_type: 'client_credentials' },
        { Authorization: basic(ccClient), DPoP: await proof(token, { signWith: other.privateKey }) },
      );
      expect(result.body['error']).toBe('invalid_dpop_proof');
    });

    it('rejects a bound token presented with a proof of another key', async () => {
      const issued = await postForm(
        token,
        { grant_type: 'client_credentials', scope: 'profile' },
        { Authorization: basic(ccClient), DPoP: await proof(token) },
      );
      expect(issued.body['token_type']).toBe('DPoP');
      const at = issued.body['access_token'] as string;
      const other = await generateKeyPair('ES256', { extractable: true });
      const userinfo = `${issuer}/oidc/userinfo`;
      const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(at))).toString('base64url');
      const wrongKey = await proof(userinfo, { htm: 'GET', ath, signWith: other.privateKey, jwkOf: other.publicKey });
      const response = await fetch(userinfo, { headers: { Authorization: `DPoP ${at}`, DPoP: wrongKey } });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof"/);
      // With its own key, a token without openid is insufficient_scope, challenged in the DPoP scheme (RFC 9449 §7.1).
      const rightKey = await proof(userinfo, { htm: 'GET', ath });
      const lacking = await fetch(userinfo, { headers: { Authorization: `DPoP ${at}`, DPoP: rightKey } });
      expect(lacking.status).toBe(403);
      expect(lacking.headers.get('www-authenticate')).toBe('DPoP error="insufficient_scope", scope="openid"');
    });
  });

  describe('races against the store', () => {
    it('lets exactly one of 20 concurrent redemptions of a code succeed', async () => {
      const c = await code();
      const results = await Promise.all(Array.from({ length: 20 }, () => exchange(c)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 200)) expect(r.body['error']).toBe('invalid_grant');
    });

    it('rotates a refresh token exactly once under 20 concurrent uses', async () => {
      const issued = await exchange(await code());
      const rt = issued.body['refresh_token'] as string;
      const results = await Promise.all(
        Array.from({ length: 20 }, () => postForm(token, { grant_type: 'refresh_token', refresh_token: rt }, { Authorization: basic(client) })),
      );
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 200)) expect(r.body['error']).toBe('invalid_grant');
    });
  });

  describe('tenant isolation', () => {
    let otherIssuer: string;
    let otherClient: RegisteredClient;

    beforeAll(async () => {
      const admin = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
      await fetch(`${stack.url}/t/other/admin/v1/tenant`, {
        method: 'POST',
        headers: { Authorization: admin, 'Content-Type': 'application/json' },
        body: JSON.stringify({ oidc: { registration: 'open' } }),
      });
      otherIssuer = `${stack.url}/t/other`;
      otherClient = await registerClient(otherIssuer);
    });

    it('does not accept tenant A access tokens at tenant B', async () => {
      const issued = await exchange(await code());
      const at = issued.body['access_token'] as string;
      const userinfo = await fetch(`${otherIssuer}/oidc/userinfo`, { headers: { Authorization: `Bearer ${at}` } });
      expect(userinfo.status).toBe(401);
      expect(userinfo.headers.get('www-authenticate')).toMatch(/invalid_token/);
      const introspection = await postForm(`${otherIssuer}/oidc/introspect`, { token: at }, { Authorization: basic(otherClient) });
      expect(introspection.body).toEqual({ active: false });
      const refresh = await postForm(
        `${otherIssuer}/oidc/token`,
        { grant_type: 'refresh_token', refresh_token: issued.body['refresh_token'] as string },
        { Authorization: basic(otherClient) },
      );
      expect(refresh.body['error']).toBe('invalid_grant');
    });

    it('does not know tenant A clients at tenant B', async () => {
      const result = await postForm(`${otherIssuer}/oidc/token`, { grant_type: 'client_credentials' }, { Authorization: basic(client) });
      expect(result.status).toBe(401);
      expect(result.body['error']).toBe('invalid_client');
    });
  });
});
