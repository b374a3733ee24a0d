import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS, testClock } from '../support/backends.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { loopbackServer, type LoopbackServer } from '../support/loopback-server.ts';
import { allowRegistration, DEMO_PASSWORD as PASSWORD, startStackOn } from '../support/oidc-stack.ts';

const REDIRECT = 'https://rp.example.test/callback';

/**
 * Request objects (JAR, RFC 9101), pushed authorization requests (PAR, RFC 9126), signed UserInfo and
 * clients' keys by `jwks_uri`, with openid-client v6 as the relying party against the local gateway. The
 * `jwks_uri` is a loopback listener the test starts: the stack runs with the outbound URL policy's loopback
 * exception (test/support/oidc-stack.ts), as `npm start` does; deployed functions never have it.
 */
describe.each(BACKENDS)('JAR, PAR, signed UserInfo and jwks_uri with openid-client (%s backend)', (backend) => {
  const clock = testClock();
  let stack: LocalStack;
  let issuer: URL;
  let metadata: Record<string, unknown>;
  const insecure = { execute: [oidc.allowInsecureRequests] };

  beforeAll(async () => {
    stack = await startStackOn(backend, { clock });
    await allowRegistration(stack);
    issuer = new URL(`${stack.url}/t/demo`);
    metadata = (await (await fetch(`${issuer.href}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  });
  afterAll(async () => stack.close());

  /** Runs authorize → portal login (→ consent) → resume, returning the URL the provider sent the browser to. */
  async function signIn(authorizationUrl: URL): Promise<URL> {
    const browser = new HttpBrowser();
    let { response, url } = await browser.follow(authorizationUrl.toString(), REDIRECT);
    if (url.startsWith(REDIRECT)) return new URL(url);
    expect(url).toContain('/portal/login');
    const login = formOf(await response.text());
    ({ response, url } = await browser.follow(login.action, REDIRECT, { form: { ...login.fields, username: 'alice', password: PASSWORD } }));
    if (url.includes('/portal/consent')) {
      const consent = formOf(await response.text());
      ({ url } = await browser.follow(consent.action, REDIRECT, { form: { ...consent.fields, decision: 'allow' } }));
    }
    return new URL(url);
  }

  const pkce = async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    return { verifier, params: { code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' } };
  };

  const signingKey = async (alg: 'ES256' | 'PS256' = 'ES256', kid = 'rk1'): Promise<{ privateKey: CryptoKey; jwk: JWK }> => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
  };

  it('advertises JAR by value, PAR, signed UserInfo and the code flow only', () => {
    expect(metadata).toMatchObject({
      pushed_authorization_request_endpoint: `${issuer.href}/oidc/par`,
      require_pushed_authorization_requests: false,
      request_parameter_supported: true,
      request_uri_parameter_supported: false,
      request_object_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      response_types_supported: ['code'],
      userinfo_signing_alg_values_supported: metadata['id_token_signing_alg_values_supported'],
    });
  });

  describe('signed request objects (JAR)', () => {
    let config: oidc.Configuration;
    let key: { privateKey: CryptoKey; jwk: JWK };

    beforeAll(async () => {
      key = await signingKey();
      config = await oidc.dynamicClientRegistration(
        issuer,
        {
          client_name: 'JAR RP',
          redirect_uris: [REDIRECT],
          token_endpoint_auth_method: 'client_secret_post',
          jwks: { keys: [key.jwk] },
          request_object_signing_alg: 'ES256',
        },
        undefined,
        insecure,
      );
    });

    it('runs the code flow from a request object alone; the outer query counts for nothing', async () => {
      const { verifier, params } = await pkce();
      const nonce = oidc.randomNonce();
      const url = await oidc.buildAuthorizationUrlWithJAR(
        config,
        { redirect_uri: REDIRECT, scope: 'openid profile', nonce, state: 'jar-1', ...params },
        { key: key.privateKey, kid: 'rk1' },
      );
      expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request']);
      // A scope in the query that the request object does not carry is ignored (RFC 9101 §5).
      url.searchParams.set('scope', 'openid email');
      const callback = await signIn(url);
      expect(callback.searchParams.get('state')).toBe('jar-1');
      const tokens = await oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: verifier,
        expectedNonce: nonce,
        expectedState: 'jar-1',
        idTokenExpected: true,
      });
      expect(tokens.claims()?.sub).toBe('alice');
      expect(tokens.scope).toBe('openid profile');
    });

    it.each([
      ['signed by a key the client never registered', async () => (await signingKey('ES256', 'rk1')).privateKey, 'ES256'],
      ['signed with another algorithm than the client registered', async () => (await signingKey('PS256', 'rk1')).privateKey, 'PS256'],
    ])('refuses a request object %s, without going back to an address it names', async (_label, makeKey, alg) => {
      const other = await makeKey();
      const jwt = await new SignJWT({ client_id: config.clientMetadata().client_id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid' })
        .setProtectedHeader({ alg, kid: 'rk1', typ: 'oauth-authz-req+jwt' })
        .setIssuer(config.clientMetadata().client_id)
        .setAudience(issuer.href)
        .setExpirationTime('1m')
        .sign(other);
      const url = new URL(`${issuer.href}/oidc/authorize`);
      url.searchParams.set('client_id', config.clientMetadata().client_id);
      url.searchParams.set('request', jwt);
      const response = await fetch(url, { redirect: 'manual' });
      expect(response.status).toBe(400);
      expect(await response.text()).toContain('invalid_request_object');
      // With a registered redirect_uri outside the object, the error goes back there.
      url.searchParams.set('redirect_uri', REDIRECT);
      url.searchParams.set('state', 's-bad');
      const back = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
      expect(back.searchParams.get('error')).toBe('invalid_request_object');
      expect(back.searchParams.get('state')).toBe('s-bad');
    });

    it('refuses a request object addressed to another issuer', async () => {
      const jwt = await new SignJWT({ response_type: 'code', redirect_uri: REDIRECT, scope: 'openid' })
        .setProtectedHeader({ alg: 'ES256', kid: 'rk1' })
        .setAudience('https://elsewhere.example/t/demo')
        .setExpirationTime('1m')
        .sign(key.privateKey);
      const url = new URL(
        `${issuer.href}/oidc/authorize?client_id=${config.clientMetadata().client_id}&redirect_uri=${encodeURIComponent(REDIRECT)}&request=${jwt}`,
      );
      const back = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
      expect(back.searchParams.get('error')).toBe('invalid_request_object');
      expect(back.searchParams.get('error_description')).toMatch(/aud/);
    });
  });

  describe('pushed authorization requests (PAR)', () => {
    let config: oidc.Configuration;

    beforeAll(async () => {
      config = await oidc.dynamicClientRegistration(
        issuer,
        { client_name: 'PAR RP', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_post' },
        undefined,
        insecure,
      );
    });

    it('pushes the request with client authentication and signs in through the request_uri', async () => {
      const { verifier, params } = await pkce();
      const url = await oidc.buildAuthorizationUrlWithPAR(config, { redirect_uri: REDIRECT, scope: 'openid email', state: 'par-1', ...params });
      expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
      const callback = await signIn(url);
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 'par-1', idTokenExpected: true });
      expect(tokens.scope).toBe('openid email');
    });

    const push = async (form: Record<string, string>, secret = config.clientMetadata().client_secret as string) => {
      const response = await fetch(`${issuer.href}/oidc/par`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: config.clientMetadata().client_id, client_secret: secret, ...form }).toString(),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const authorizeWith = (requestUri: string, extra: Record<string, string> = {}) =>
      fetch(
        `${issuer.href}/oidc/authorize?${new URLSearchParams({ client_id: config.clientMetadata().client_id, request_uri: requestUri, ...extra }).toString()}`,
        { redirect: 'manual' },
      );

    it('answers 201 with a short-lived URN, and refuses a bad client, a bad request and a pushed request_uri as JSON', async () => {
      const { params } = await pkce();
      const ok = await push({ response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', ...params });
      expect(ok.status).toBe(201);
      expect(ok.body['expires_in']).toBe(60);
      expect(await push({ response_type: 'code', redirect_uri: REDIRECT, scope: 'openid' }, 'cs_wrong')).toMatchObject({
        status: 401,
        body: { error: 'invalid_client' },
      });
      expect(await push({ response_type: 'code', redirect_uri: 'https://evil.example/cb', scope: 'openid' })).toMatchObject({
        status: 400,
        body: { error: 'invalid_request' },
      });
      expect(await push({ response_type: 'token', redirect_uri: REDIRECT, scope: 'openid' })).toMatchObject({
        status: 400,
        body: { error: 'unsupported_response_type' },
      });
      expect(await push({ response_type: 'code', redirect_uri: REDIRECT, scope: 'openid card' })).toMatchObject({
        status: 400,
        body: { error: 'invalid_scope' },
      });
      expect(await push({ request_uri: ok.body['request_uri'] as string })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    });

    it('takes a request_uri once: of 10 racing redemptions exactly one reaches the sign-in', async () => {
      const { params } = await pkce();
      const pushed = await push({ response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', ...params });
      const answers = await Promise.all(Array.from({ length: 10 }, () => authorizeWith(pushed.body['request_uri'] as string)));
      const toLogin = answers.filter((a) => a.status === 303 && a.headers.get('location')!.includes('/portal/login'));
      expect(toLogin).toHaveLength(1);
      for (const refused of answers.filter((a) => !toLogin.includes(a))) {
        expect(refused.status).toBe(400);
        expect(await refused.text()).toContain('invalid_request_uri');
      }
      // Used up: with a registered outer redirect_uri the error goes back to the client.
      const again = await authorizeWith(pushed.body['request_uri'] as string, { redirect_uri: REDIRECT, state: 's2' });
      expect(new URL(again.headers.get('location')!).searchParams.get('error')).toBe('invalid_request_uri');
    });

    it('refuses another client’s request_uri and one made up, and fetches no request_uri by reference', async () => {
      const { params } = await pkce();
      const pushed = await push({ response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', ...params });
      const other = await oidc.dynamicClientRegistration(
        issuer,
        { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_post' },
        undefined,
        insecure,
      );
      const foreign = await fetch(
        `${issuer.href}/oidc/authorize?${new URLSearchParams({ client_id: other.clientMetadata().client_id, request_uri: pushed.body['request_uri'] as string }).toString()}`,
        { redirect: 'manual' },
      );
      expect(await foreign.text()).toContain('invalid_request_uri');
      // The rightful client still has it (the foreign attempt used nothing up).
      expect((await authorizeWith(pushed.body['request_uri'] as string)).headers.get('location')).toContain('/portal/login');
      expect(await (await authorizeWith('urn:ietf:params:oauth:request_uri:par_made-up')).text()).toContain('invalid_request_uri');
      expect(await (await authorizeWith('https://rp.example.test/request.jwt')).text()).toContain('request_uri_not_supported');
    });

    it('binds the code to the key of a DPoP proof sent with the push (RFC 9449 §10.1)', async () => {
      const publicClient = await oidc.dynamicClientRegistration(
        issuer,
        { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' },
        oidc.None(),
        insecure,
      );
      const dpop = oidc.getDPoPHandle(publicClient, await oidc.randomDPoPKeyPair('ES256'));
      const { verifier, params } = await pkce();
      // openid-client answers the use_dpop_nonce challenge of the PAR endpoint by itself.
      const url = await oidc.buildAuthorizationUrlWithPAR(publicClient, { redirect_uri: REDIRECT, scope: 'openid', state: 'dp', ...params }, { DPoP: dpop });
      const callback = await signIn(url);
      const other = oidc.getDPoPHandle(publicClient, await oidc.randomDPoPKeyPair('ES256'));
      await expect(
        oidc.authorizationCodeGrant(publicClient, callback, { pkceCodeVerifier: verifier, expectedState: 'dp' }, undefined, { DPoP: other }),
      ).rejects.toMatchObject({ error: 'invalid_grant' });
      const again = await pkce();
      const bound = await signIn(
        await oidc.buildAuthorizationUrlWithPAR(publicClient, { redirect_uri: REDIRECT, scope: 'openid', state: 'dp2', ...again.params }, { DPoP: dpop }),
      );
      const tokens = await oidc.authorizationCodeGrant(publicClient, bound, { pkceCodeVerifier: again.verifier, expectedState: 'dp2' }, undefined, {
        DPoP: dpop,
      });
      expect(tokens.token_type).toBe('dpop');
    });

    it('a client registered with require_pushed_authorization_requests must push', async () => {
      const strict = await oidc.dynamicClientRegistration(
        issuer,
        { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_post', require_pushed_authorization_requests: true },
        undefined,
        insecure,
      );
      expect(strict.clientMetadata()['require_pushed_authorization_requests']).toBe(true);
      const { verifier, params } = await pkce();
      const direct = oidc.buildAuthorizationUrl(strict, { redirect_uri: REDIRECT, scope: 'openid', state: 's3', ...params });
      const refused = new URL((await fetch(direct, { redirect: 'manual' })).headers.get('location')!);
      expect(refused.searchParams.get('error')).toBe('invalid_request');
      expect(refused.searchParams.get('error_description')).toMatch(/PAR/);
      const callback = await signIn(await oidc.buildAuthorizationUrlWithPAR(strict, { redirect_uri: REDIRECT, scope: 'openid', state: 's4', ...params }));
      expect((await oidc.authorizationCodeGrant(strict, callback, { pkceCodeVerifier: verifier, expectedState: 's4' })).access_token).toBeDefined();
    });
  });

  describe('signed UserInfo', () => {
    it('answers application/jwt signed by the OP for a client that registered userinfo_signed_response_alg', async () => {
      const alg = (metadata['id_token_signing_alg_values_supported'] as string[])[0]!;
      const config = await oidc.dynamicClientRegistration(
        issuer,
        { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_post', userinfo_signed_response_alg: alg },
        undefined,
        insecure,
      );
      const { verifier, params } = await pkce();
      const callback = await signIn(oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile', state: 'ui', ...params }));
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 'ui' });
      const raw = await fetch(`${issuer.href}/oidc/userinfo`, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
      expect(raw.headers.get('content-type')).toBe('application/jwt');
      const payload = JSON.parse(Buffer.from((await raw.text()).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      expect(payload).toMatchObject({ iss: issuer.href, aud: config.clientMetadata().client_id, sub: 'alice' });
      // openid-client verifies the signature against the OP's JWKS and checks iss and aud.
      const info = await oidc.fetchUserInfo(config, tokens.access_token, 'alice');
      expect(info).toMatchObject({ sub: 'alice', preferred_username: 'alice' });
    });

    it('refuses a userinfo_signed_response_alg the tenant does not sign with', async () => {
      const alg = (metadata['id_token_signing_alg_values_supported'] as string[])[0] === 'RS256' ? 'ES256' : 'RS256';
      const response = await fetch(`${issuer.href}/oidc/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT], userinfo_signed_response_alg: alg }),
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({
        error: 'invalid_client_metadata',
        error_description: expect.stringContaining('userinfo_signed_response_alg'),
      });
    });
  });

  describe('client keys by jwks_uri (a loopback listener)', () => {
    let jwksServer: LoopbackServer;
    let keys: JWK[] = [];

    beforeAll(async () => {
      jwksServer = await loopbackServer((_request, response) => {
        response.writeHead(200, { 'Content-Type': 'application/jwk-set+json' });
        response.end(JSON.stringify({ keys }));
      });
    });
    afterAll(async () => jwksServer.close());

    it('authenticates private_key_jwt and verifies a pushed request object with keys fetched from jwks_uri', async () => {
      const key = await signingKey('ES256', 'uri-1');
      keys = [key.jwk];
      const config = await oidc.dynamicClientRegistration(
        issuer,
        {
          client_name: 'Keys by URI',
          redirect_uris: [REDIRECT],
          grant_types: ['authorization_code', 'client_credentials'],
          token_endpoint_auth_method: 'private_key_jwt',
          jwks_uri: `${jwksServer.url}/jwks`,
        },
        oidc.PrivateKeyJwt({ key: key.privateKey, kid: 'uri-1' }),
        insecure,
      );
      expect(config.clientMetadata()['jwks_uri']).toBe(`${jwksServer.url}/jwks`);
      expect((await oidc.clientCredentialsGrant(config, { scope: 'profile' })).access_token).toBeDefined();
      const { verifier, params } = await pkce();
      const jar = await oidc.buildAuthorizationUrlWithJAR(
        config,
        { redirect_uri: REDIRECT, scope: 'openid', state: 'uri-jar', ...params },
        { key: key.privateKey, kid: 'uri-1' },
      );
      const url = await oidc.buildAuthorizationUrlWithPAR(config, jar.searchParams);
      const callback = await signIn(url);
      expect((await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 'uri-jar' })).access_token).toBeDefined();
      expect(jwksServer.seen.filter((line) => line === 'GET /jwks').length).toBeGreaterThanOrEqual(1);
    });

    // Last in the suite: it moves the stack's clock past the refetch cooldown.
    it('caches the set, and picks up a rotated key once the cooldown has passed', async () => {
      const first = await signingKey('ES256', 'rot-1');
      keys = [first.jwk];
      const config = await oidc.dynamicClientRegistration(
        issuer,
        { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${jwksServer.url}/rotating` },
        oidc.PrivateKeyJwt({ key: first.privateKey, kid: 'rot-1' }),
        insecure,
      );
      expect((await oidc.clientCredentialsGrant(config, { scope: 'profile' })).access_token).toBeDefined();
      const fetched = jwksServer.seen.filter((line) => line === 'GET /rotating').length;
      // The cached set serves the next assertion with the same key without another fetch.
      expect((await oidc.clientCredentialsGrant(config, { scope: 'profile' })).access_token).toBeDefined();
      expect(jwksServer.seen.filter((line) => line === 'GET /rotating').length).toBe(fetched);
      // The client rotates: the new key is published and signs; an unknown kid refetches (after 30 s).
      const second = await signingKey('ES256', 'rot-2');
      keys = [second.jwk];
      clock.advance(31);
      const rotated = await oidc.discovery(
        issuer,
        config.clientMetadata().client_id,
        {},
        oidc.PrivateKeyJwt({ key: second.privateKey, kid: 'rot-2' }),
        insecure,
      );
      expect((await oidc.clientCredentialsGrant(rotated, { scope: 'profile' })).access_token).toBeDefined();
      expect(jwksServer.seen.filter((line) => line === 'GET /rotating').length).toBe(fetched + 1);
    });

    it.each([
      ['plain http to a public host', 'http://rp.example.test/jwks'],
      ['a private address', 'https://10.0.0.7/jwks'],
      ['the metadata service', 'https://169.254.169.254/latest'],
      ['credentials in the URL', 'https://user:pw@rp.example.test/jwks'],
    ])('refuses a jwks_uri the outbound URL policy refuses: %s', async (_label, uri) => {
      const response = await fetch(`${issuer.href}/oidc/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: uri }),
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringMatching(/^jwks_uri: /) });
    });
  });
});
