import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS } from '../support/backends.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { loginThrottleKeys } from '../../lambdas/core/portal/login-throttle.ts';
import { allowRegistration, DEMO_PASSWORD as PASSWORD, startStackOn } from '../support/oidc-stack.ts';

const REDIRECT = 'https://rp.example.test/callback';

/**
 * openid-client v6 as a real relying party against the local gateway: discovery, dynamic registration,
 * the code flow with PKCE and the portal driven over HTTP, and every grant and endpoint after it.
 */
describe.each(BACKENDS)('OpenID Provider with openid-client as relying party (%s backend)', (backend) => {
  let stack: LocalStack;
  let issuer: URL;
  let server: oidc.Configuration;
  const insecure = { execute: [oidc.allowInsecureRequests] };

  beforeAll(async () => {
    stack = await startStackOn(backend);
    await allowRegistration(stack);
    issuer = new URL(`${stack.url}/t/demo`);
  });
  afterAll(async () => stack.close());

  /** Runs authorize → portal login → resume, returning the URL the provider sent the browser back to. */
  async function signIn(browser: HttpBrowser, authorizationUrl: URL, password = PASSWORD): Promise<URL> {
    let { response, url } = await browser.follow(authorizationUrl.toString(), REDIRECT);
    if (url.startsWith(REDIRECT)) return new URL(url);
    expect(response.status).toBe(200);
    expect(url).toContain('/portal/login');
    const login = formOf(await response.text());
    ({ response, url } = await browser.follow(login.action, REDIRECT, { form: { ...login.fields, username: 'alice', password } }));
    if (url.includes('/portal/consent')) {
      const consent = formOf(await response.text());
      ({ url } = await browser.follow(consent.action, REDIRECT, { form: { ...consent.fields, decision: 'allow' } }));
    }
    return new URL(url);
  }

  it('discovers the tenant issuer', async () => {
    server = await oidc.discovery(issuer, 'unused', undefined, undefined, insecure);
    const metadata = server.serverMetadata();
    expect(metadata.issuer).toBe(issuer.href);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.dpop_signing_alg_values_supported).toContain('ES256');
    for (const endpoint of [
      'authorization_endpoint',
      'token_endpoint',
      'userinfo_endpoint',
      'jwks_uri',
      'registration_endpoint',
      'revocation_endpoint',
      'introspection_endpoint',
      'end_session_endpoint',
      'device_authorization_endpoint',
    ] as const) {
      expect(metadata[endpoint]).toMatch(new RegExp(`^${issuer.href}/`));
    }
  });

  describe('confidential client registered dynamically', () => {
    let config: oidc.Configuration;
    let tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;

    beforeAll(async () => {
      config = await oidc.dynamicClientRegistration(
        issuer,
        {
          client_name: 'Test RP',
          redirect_uris: [REDIRECT],
          post_logout_redirect_uris: ['https://rp.example.test/bye'],
          grant_types: ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'],
          // openid-client authenticates with client_secret_post unless told otherwise.
          token_endpoint_auth_method: 'client_secret_post',
        },
        undefined,
        insecure,
      );
    });

    it('registers with a secret and a registration access token', () => {
      const metadata = config.clientMetadata();
      expect(metadata.client_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(metadata.client_secret).toMatch(/^cs_/);
      expect(metadata['registration_access_token']).toMatch(/^rat_/);
    });

    it('runs the authorization code flow with PKCE, the portal driven over HTTP', async () => {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT,
        scope: 'openid profile email offline_access',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      const callback = await signIn(new HttpBrowser(), url);
      expect(callback.searchParams.get('iss')).toBe(issuer.href);
      tokens = await oidc
        .authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true })
        .catch((e: { error?: string; error_description?: string }) => {
          throw new Error(`${e.error}: ${e.error_description}`);
        });
      const claims = tokens.claims()!;
      expect(claims.sub).toBe('alice');
      expect(claims.aud).toBe(config.clientMetadata().client_id);
      expect(claims['acr']).toBe('urn:cloudcard:acr:password');
      expect(tokens.refresh_token).toMatch(/^rt_/);
      expect(tokens.token_type).toBe('bearer');
    });

    it('returns userinfo claims by scope', async () => {
      const info = await oidc.fetchUserInfo(config, tokens.access_token, 'alice');
      expect(info).toMatchObject({ sub: 'alice', name: 'Alice Demo', preferred_username: 'alice', email: 'alice@demo.example' });
      expect(info).not.toHaveProperty('phone_number');
    });

    it('refreshes with rotation', async () => {
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
      expect(refreshed.claims()?.sub).toBe('alice');
      tokens = refreshed;
    });

    it('introspects access and refresh tokens', async () => {
      const at = await oidc.tokenIntrospection(config, tokens.access_token);
      expect(at).toMatchObject({ active: true, sub: 'alice', client_id: config.clientMetadata().client_id, token_type: 'Bearer' });
      const rt = await oidc.tokenIntrospection(config, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
      expect(rt).toMatchObject({ active: true, token_type: 'refresh_token' });
      expect(await oidc.tokenIntrospection(config, 'not-a-token')).toEqual({ active: false });
    });

    it('revokes a refresh token, and with it the access tokens of its family', async () => {
      await oidc.tokenRevocation(config, tokens.refresh_token!);
      expect((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active).toBe(false);
      expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
      await expect(oidc.fetchUserInfo(config, tokens.access_token, 'alice')).rejects.toThrow();
    });

    it('issues client_credentials tokens', async () => {
      const cc = await oidc.clientCredentialsGrant(config, { scope: 'profile' });
      expect(cc.access_token).toBeDefined();
      expect(cc.id_token).toBeUndefined();
      const at = await oidc.tokenIntrospection(config, cc.access_token);
      expect(at).toMatchObject({ active: true, sub: config.clientMetadata().client_id, scope: 'profile' });
    });

    it('runs the device flow with the user-code page in the portal', async () => {
      const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile' });
      expect(device.user_code).toMatch(/^[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}$/);
      const browser = new HttpBrowser();
      let page = await browser.follow(device.verification_uri_complete!, 'never');
      const entry = formOf(await page.response.text());
      page = await browser.follow(entry.action, 'never', { form: { user_code: device.user_code } });
      const login = formOf(await page.response.text());
      page = await browser.follow(login.action, 'never', { form: { ...login.fields, username: 'alice', password: PASSWORD } });
      expect(page.url).toContain('/portal/device/confirm');
      const confirm = formOf(await page.response.text());
      page = await browser.follow(confirm.action, 'never', { form: { ...confirm.fields, decision: 'allow' } });
      expect(await page.response.text()).toContain('Device connected');
      const polled = await oidc.pollDeviceAuthorizationGrant(config, { ...device, interval: 0 } as oidc.DeviceAuthorizationResponse);
      expect(polled.claims()?.sub).toBe('alice');
    });

    it('counts wrong user codes against the address and then refuses even the right one (RFC 8628 §5.1)', async () => {
      const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
      const browser = new HttpBrowser();
      const entry = formOf(await (await browser.follow(`${issuer.href}/portal/device`, 'never')).response.text());
      const enter = (userCode: string) => browser.follow(entry.action, 'never', { form: { user_code: userCode } });
      try {
        for (let i = 0; i < 19; i++) expect((await enter('BCDF-GHJK')).response.status).toBe(400);
        // A right code gives its try back; the 20th wrong one sets the lock.
        expect((await enter(device.user_code)).url).toContain('/portal/login');
        expect((await enter('BCDF-GHJK')).response.status).toBe(400);
        const locked = await enter(device.user_code);
        expect(locked.response.status).toBe(429);
        expect(await locked.response.text()).toContain('Too many failed attempts');
      } finally {
        // The lock is per tenant and address: the suite's later sign-ins come from the same loopback address.
        await stack.runtime.state.delete(loginThrottleKeys.ip('demo', '127.0.0.1'));
      }
    });

    it('reads, updates and deletes its registration (RFC 7592)', async () => {
      const metadata = config.clientMetadata();
      const uri = metadata['registration_client_uri'] as string;
      const auth = { Authorization: `Bearer ${metadata['registration_access_token'] as string}` };
      const read = await fetch(uri, { headers: auth });
      expect(read.status).toBe(200);
      expect(await read.json()).toMatchObject({ client_id: metadata.client_id, client_name: 'Test RP' });
      const updated = await fetch(uri, {
        method: 'PUT',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: metadata.client_id, client_name: 'Renamed RP', redirect_uris: [REDIRECT] }),
      });
      expect(await updated.json()).toMatchObject({ client_name: 'Renamed RP' });
      expect((await fetch(uri, { headers: { Authorization: 'Bearer rat_wrong' } })).status).toBe(401);
      expect((await fetch(uri, { method: 'DELETE', headers: auth })).status).toBe(204);
      expect((await fetch(uri, { headers: auth })).status).toBe(401);
    });
  });
  /** A code flow for `config`, returning the callback URL and the PKCE verifier. */
  async function codeFlow(config: oidc.Configuration, scope = 'openid profile offline_access', extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    });
    return { callback: await signIn(new HttpBrowser(), url), verifier };
  }

  describe('public client with DPoP', () => {
    let config: oidc.Configuration;
    let dpop: oidc.DPoPHandle;
    let tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;

    beforeAll(async () => {
      config = await oidc.dynamicClientRegistration(
        issuer,
        { client_name: 'Native app', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none' },
        oidc.None(),
        insecure,
      );
      dpop = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    });

    it('gets DPoP-bound tokens, retrying with the server nonce', async () => {
      const { callback, verifier } = await codeFlow(config);
      // openid-client sees use_dpop_nonce, takes the DPoP-Nonce header and retries by itself.
      tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, idTokenExpected: true }, undefined, { DPoP: dpop });
      expect(tokens.token_type).toBe('dpop');
      expect(tokens.claims()?.sub).toBe('alice');
    });

    it('calls userinfo with the DPoP scheme and a proof', async () => {
      const info = await oidc.fetchUserInfo(config, tokens.access_token, 'alice', { DPoP: dpop });
      expect(info.sub).toBe('alice');
    });

    it('refuses the bound access token as a plain bearer token', async () => {
      const response = await fetch(`${issuer.href}/oidc/userinfo`, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
    });

    it('binds the public client refresh token to the DPoP key', async () => {
      const other = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
      await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: other })).rejects.toMatchObject({ error: 'invalid_grant' });
    });

    it('refreshes with the same key', async () => {
      // The previous attempt used (and so rotated) the token: reuse revokes the family — start again.
      const { callback, verifier } = await codeFlow(config);
      const fresh = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier }, undefined, { DPoP: dpop });
      const refreshed = await oidc.refreshTokenGrant(config, fresh.refresh_token!, undefined, { DPoP: dpop });
      expect(refreshed.token_type).toBe('dpop');
      expect(refreshed.refresh_token).not.toBe(fresh.refresh_token);
    });

    it('requires PKCE of a public client', async () => {
      const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', state: 's1' });
      const response = await fetch(url, { redirect: 'manual' });
      const location = new URL(response.headers.get('location')!);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
      expect(location.searchParams.get('state')).toBe('s1');
    });
  });

  describe('confidential client with private_key_jwt', () => {
    let config: oidc.Configuration;

    beforeAll(async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
      config = await oidc.dynamicClientRegistration(
        issuer,
        { client_name: 'Service', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } },
        oidc.PrivateKeyJwt({ key: privateKey, kid: 'k1' }),
        insecure,
      );
    });

    it('authenticates with a signed client assertion', async () => {
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'profile' });
      expect(tokens.access_token).toBeDefined();
      const introspection = await oidc.tokenIntrospection(config, tokens.access_token);
      expect(introspection).toMatchObject({ active: true, client_id: config.clientMetadata().client_id });
    });
  });
  describe('tenant whose tokens the stack KMS key signs (signingMode kms)', () => {
    it('runs the code flow; openid-client verifies the KMS-made ID token against the JWKS', async () => {
      const admin = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
      const json = { Authorization: admin, 'Content-Type': 'application/json' };
      expect(
        (
          await fetch(`${stack.url}/t/kmsmode/admin/v1/tenant`, {
            method: 'POST',
            headers: json,
            body: JSON.stringify({ oidc: { signingMode: 'kms', registration: 'open' } }),
          })
        ).status,
      ).toBe(201);
      expect(
        (
          await fetch(`${stack.url}/t/kmsmode/admin/v1/users`, {
            method: 'POST',
            headers: json,
            body: JSON.stringify({ username: 'alice', password: PASSWORD }),
          })
        ).status,
      ).toBe(201);
      const kmsIssuer = new URL(`${stack.url}/t/kmsmode`);
      const config = await oidc.dynamicClientRegistration(
        kmsIssuer,
        { redirect_uris: [REDIRECT], grant_types: ['authorization_code'], token_endpoint_auth_method: 'client_secret_post' },
        undefined,
        insecure,
      );
      const jwks = (await (await fetch(`${kmsIssuer.href}/oidc/jwks`)).json()) as { keys: { kid: string }[] };
      expect(jwks.keys).toHaveLength(1); // the stack key only: no wrapped keys for this tenant
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      const callback = await signIn(new HttpBrowser(), url);
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, idTokenExpected: true });
      const header = JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString()) as { kid: string; alg: string };
      expect(header).toMatchObject({ alg: 'RS256', kid: jwks.keys[0]!.kid });
      expect(tokens.claims()?.sub).toBe('alice');
    });
  });
  describe('tenant signing ES256 with wrapped keys', () => {
    it('issues ES256 ID tokens that openid-client verifies, and refuses clients expecting RS256', async () => {
      const admin = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
      const json = { Authorization: admin, 'Content-Type': 'application/json' };
      expect(
        (
          await fetch(`${stack.url}/t/ecdsa/admin/v1/tenant`, {
            method: 'POST',
            headers: json,
            body: JSON.stringify({ oidc: { signingAlgorithm: 'ES256', registration: 'open' } }),
          })
        ).status,
      ).toBe(201);
      expect(
        (await fetch(`${stack.url}/t/ecdsa/admin/v1/users`, { method: 'POST', headers: json, body: JSON.stringify({ username: 'alice', password: PASSWORD }) }))
          .status,
      ).toBe(201);
      const ecIssuer = new URL(`${stack.url}/t/ecdsa`);
      const server = await oidc.discovery(ecIssuer, 'x', undefined, undefined, insecure);
      expect(server.serverMetadata().id_token_signing_alg_values_supported).toEqual(['ES256']);
      await expect(
        oidc.dynamicClientRegistration(
          ecIssuer,
          { redirect_uris: [REDIRECT], id_token_signed_response_alg: 'RS256', token_endpoint_auth_method: 'client_secret_post' },
          undefined,
          insecure,
        ),
      ).rejects.toMatchObject({ error: 'invalid_client_metadata' });
      const config = await oidc.dynamicClientRegistration(
        ecIssuer,
        { redirect_uris: [REDIRECT], id_token_signed_response_alg: 'ES256', token_endpoint_auth_method: 'client_secret_post' },
        undefined,
        insecure,
      );
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      const tokens = await oidc.authorizationCodeGrant(config, await signIn(new HttpBrowser(), url), { pkceCodeVerifier: verifier, idTokenExpected: true });
      expect(JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'ES256' });
      expect(tokens.claims()?.sub).toBe('alice');
    });
  });
});
