import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import * as oidc from 'openid-client';
import { Tenants } from '../../lambdas/core/directory/tenant.ts';
import { Users } from '../../lambdas/core/directory/user.ts';
import { directoryServices, type DirectoryServices } from '../../lambdas/runtime.ts';
import type { Clock } from '../../lambdas/ports.ts';
import type { LocalStack } from '../../local/stack.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { authorizeWithLogin, basic, pkce, postForm, registerClient, RP_REDIRECT, type RegisteredClient } from '../support/oidc-flows.ts';
import { allowRegistration, DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';
import { cli } from '../support/processes.ts';

/** RFC 6749 §4.1.2.1: the characters error_description may hold. */
const DESCRIPTION_CHARSET = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;
const ASSERTION_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'];

/** A clock that tests can stop (so "the same second" is certain) and move forward (caches keep their expiry). */
function stoppableClock(): Clock & { stop(): void; go(): void; advance(seconds: number): void } {
  let offset = 0;
  let stopped: number | undefined;
  return {
    now: () => stopped ?? Date.now() + offset,
    stop: () => (stopped = Date.now() + offset),
    go: () => (stopped = undefined),
    advance: (seconds) => {
      offset += seconds * 1000;
      if (stopped !== undefined) stopped += seconds * 1000;
    },
  };
}

/**
 * Issue 11 (OIDC/OAuth part) through HTTP with real clients: discovery's client-authentication metadata
 * and what each endpoint really accepts, max_age=0, id_token_hint, error_description's character set,
 * revocation of another client's token, the password grant per tenant, introspection through the access
 * check, and when a key rotation reaches new signatures.
 */
describe('OpenID Provider conformance details (issue 11)', () => {
  const clock = stoppableClock();
  let stack: LocalStack;
  let services: DirectoryServices;
  let issuer: string;
  let server: oidc.Configuration;
  let rp: RegisteredClient;
  const insecure = { execute: [oidc.allowInsecureRequests] };

  beforeAll(async () => {
    stack = await startStackOn('embedded', { clock });
    await allowRegistration(stack);
    services = directoryServices(stack.runtime);
    issuer = `${stack.url}/t/demo`;
    server = await oidc.discovery(new URL(issuer), 'unused', undefined, undefined, insecure);
    rp = await registerClient(issuer);
    await services.users.add('demo', { username: 'bob', password: DEMO_PASSWORD });
  });
  afterAll(async () => stack?.close());

  const authorizeUrl = (params: Record<string, string>, client = rp): string => {
    const url = new URL(`${issuer}/oidc/authorize`);
    for (const [name, value] of Object.entries({ response_type: 'code', client_id: client.client_id, redirect_uri: RP_REDIRECT, scope: 'openid', ...params }))
      url.searchParams.set(name, value);
    return url.toString();
  };
  /** Where the provider sends the browser (no following): the RP callback or the portal. */
  const location = async (browser: HttpBrowser, url: string): Promise<URL> => {
    const response = await browser.request(url);
    return new URL(response.headers.get('location')!, url);
  };
  /** Signs `username` in on the portal page the browser was sent to, consenting if asked. */
  async function signInAs(browser: HttpBrowser, url: string, username: string): Promise<URL> {
    let { response, url: at } = await browser.follow(url, RP_REDIRECT);
    if (at.startsWith(RP_REDIRECT)) return new URL(at);
    const login = formOf(await response.text());
    ({ response, url: at } = await browser.follow(login.action, RP_REDIRECT, { form: { ...login.fields, username, password: DEMO_PASSWORD } }));
    if (at.includes('/portal/consent')) {
      const consent = formOf(await response.text());
      ({ url: at } = await browser.follow(consent.action, RP_REDIRECT, { form: { ...consent.fields, decision: 'allow' } }));
    }
    return new URL(at);
  }
  /** The code flow for `username` in its own browser; returns the token response and the browser. */
  async function tokensOf(username: string, client = rp, scope = 'openid offline_access'): Promise<{ tokens: Record<string, string>; browser: HttpBrowser }> {
    const browser = new HttpBrowser();
    const { verifier, challenge } = pkce();
    const callback = await signInAs(browser, authorizeUrl({ scope, code_challenge: challenge, code_challenge_method: 'S256' }, client), username);
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`no code: ${callback.toString()}`);
    const response = await postForm(
      `${issuer}/oidc/token`,
      { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: RP_REDIRECT },
      { Authorization: basic(client) },
    );
    expect(response.status).toBe(200);
    return { tokens: response.body as Record<string, string>, browser };
  }
  const introspect = async (token: string, client = rp) => (await postForm(`${issuer}/oidc/introspect`, { token }, { Authorization: basic(client) })).body;

  describe('item 1: client authentication at the token, revocation and introspection endpoints (RFC 8414 §2)', () => {
    it('advertises the client-assertion algs of every endpoint that lists private_key_jwt', () => {
      const metadata = server.serverMetadata();
      for (const endpoint of ['token', 'revocation', 'introspection'] as const) {
        expect(metadata[`${endpoint}_endpoint_auth_methods_supported`]).toContain('private_key_jwt');
        expect(metadata[`${endpoint}_endpoint_auth_signing_alg_values_supported`]).toEqual(ASSERTION_ALGS);
      }
      expect(metadata.introspection_endpoint_auth_methods_supported).not.toContain('none');
    });

    /** A client registered for private_key_jwt with one key of `alg`, and openid-client signing its assertions. */
    async function keyClient(alg: string): Promise<oidc.Configuration> {
      const { privateKey, publicKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', use: 'sig' };
      return oidc.dynamicClientRegistration(
        new URL(issuer),
        { client_name: `assertion ${alg}`, grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } },
        // openid-client names an Ed25519 key's alg "Ed25519"; "EdDSA" is the older name of the same.
        oidc.PrivateKeyJwt({ key: privateKey, kid: 'k1' }, { [oidc.modifyAssertion]: (header) => void (alg === 'EdDSA' && (header.alg = 'EdDSA')) }),
        insecure,
      );
    }

    it.each(ASSERTION_ALGS)('accepts a %s client assertion at the token, introspection and revocation endpoints (openid-client)', async (alg) => {
      const config = await keyClient(alg);
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'profile' });
      expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, client_id: config.clientMetadata().client_id });
      await oidc.tokenRevocation(config, tokens.access_token);
      expect(await oidc.tokenIntrospection(config, tokens.access_token)).toEqual({ active: false });
    });

    it('accepts client_secret_basic and client_secret_post at both endpoints, and none at revocation only', async () => {
      for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
        const auth = method === 'client_secret_basic' ? oidc.ClientSecretBasic() : oidc.ClientSecretPost();
        const config = await oidc.dynamicClientRegistration(
          new URL(issuer),
          { client_name: method, grant_types: ['client_credentials'], token_endpoint_auth_method: method },
          auth,
          insecure,
        );
        const tokens = await oidc.clientCredentialsGrant(config, { scope: 'profile' });
        expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true });
        await oidc.tokenRevocation(config, tokens.access_token);
        expect(await oidc.tokenIntrospection(config, tokens.access_token)).toEqual({ active: false });
      }
      const pub = await registerClient(issuer, { token_endpoint_auth_method: 'none' });
      expect((await postForm(`${issuer}/oidc/revoke`, { token: 'unknown-token', client_id: pub.client_id })).status).toBe(200);
      const refused = await postForm(`${issuer}/oidc/introspect`, { token: 'unknown-token', client_id: pub.client_id });
      expect(refused).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    });

    it('refuses what is not advertised: HS256 (client_secret_jwt), alg none, and an alg outside the list', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', use: 'sig' };
      const config = await oidc.dynamicClientRegistration(
        new URL(issuer),
        { client_name: 'unadvertised', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } },
        oidc.PrivateKeyJwt({ key: privateKey, kid: 'k1' }),
        insecure,
      );
      const clientId = config.clientMetadata().client_id;
      const claims = (aud: string) => ({ iss: clientId, sub: clientId, aud, jti: randomUUID() });
      const es384 = (await generateKeyPair('ES384')).privateKey;
      for (const endpoint of ['token', 'introspect', 'revoke']) {
        const aud = `${issuer}/oidc/${endpoint}`;
        const hs256 = await new SignJWT(claims(aud))
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuedAt()
          .setExpirationTime('1m')
          .sign(new TextEncoder().encode('a shared secret of thirty-two bytes!!'));
        const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({ ...claims(aud), exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url')}.`;
        const other = await new SignJWT(claims(aud))
          .setProtectedHeader({ alg: 'ES384', kid: 'k1' })
          .setIssuedAt()
          .setExpirationTime('1m')
          .sign(es384 as CryptoKey);
        for (const assertion of [hs256, none, other]) {
          const form = {
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: assertion,
            ...(endpoint === 'token' ? { grant_type: 'client_credentials' } : { token: 'x' }),
          };
          const response = await postForm(aud, form);
          expect({ endpoint, alg: decodeProtectedHeader(assertion).alg, status: response.status, error: response.body['error'] }).toEqual({
            endpoint,
            alg: decodeProtectedHeader(assertion).alg,
            status: 401,
            error: 'invalid_client',
          });
        }
      }
    });
  });

  describe('item 2: max_age=0 and prompt=login force a fresh sign-in, even in the same second', () => {
    it('answers prompt=none with max_age=0 by login_required, right after a sign-in in the same second', async () => {
      const browser = new HttpBrowser();
      clock.stop();
      try {
        await authorizeWithLogin(issuer, { client_id: rp.client_id, ...pkceParams() }, browser);
        const again = await location(browser, authorizeUrl({ prompt: 'none', max_age: '0', state: 's', ...pkceParams() }));
        expect(Object.fromEntries(again.searchParams)).toMatchObject({ error: 'login_required', state: 's' });
        // Without prompt=none, both go to the sign-in page rather than reuse the session.
        expect((await location(browser, authorizeUrl({ max_age: '0', ...pkceParams() }))).pathname).toMatch(/\/portal\/login$/);
        expect((await location(browser, authorizeUrl({ prompt: 'login', ...pkceParams() }))).pathname).toMatch(/\/portal\/login$/);
        // A max_age the session is within still reuses it.
        expect((await location(browser, authorizeUrl({ prompt: 'none', max_age: '60', ...pkceParams() }))).searchParams.get('code')).toBeTruthy();
      } finally {
        clock.go();
      }
    });
  });

  const pkceParams = () => ({ code_challenge: pkce().challenge, code_challenge_method: 'S256' });

  describe('item 3: id_token_hint at the authorization endpoint', () => {
    let alice: { tokens: Record<string, string>; browser: HttpBrowser };
    let bobIdToken: string;

    beforeAll(async () => {
      alice = await tokensOf('alice');
      bobIdToken = (await tokensOf('bob')).tokens['id_token']!;
    });

    it("answers login_required when the hint names another user than the session's (prompt=none)", async () => {
      const answer = await location(alice.browser, authorizeUrl({ prompt: 'none', id_token_hint: bobIdToken, state: 'h', ...pkceParams() }));
      expect(Object.fromEntries(answer.searchParams)).toMatchObject({ error: 'login_required', state: 'h', iss: issuer });
      expect(answer.searchParams.get('code')).toBeNull();
    });

    it("issues a code when the hint names the session's user, for any audience and even expired", async () => {
      const own = await location(alice.browser, authorizeUrl({ prompt: 'none', id_token_hint: alice.tokens['id_token']!, ...pkceParams() }));
      expect(own.searchParams.get('code')).toBeTruthy();
      const other = await registerClient(issuer);
      const otherAudience = await location(
        alice.browser,
        authorizeUrl({ prompt: 'none', id_token_hint: alice.tokens['id_token']!, scope: 'openid', ...pkceParams() }, other),
      );
      // The hint is accepted for another client: what stops the code here is that alice never consented to it.
      expect(otherAudience.searchParams.get('error')).toBe('consent_required');
      clock.advance(3600); // the ID token (600 s) has expired; the SSO session (8 h) has not
      expect(
        (await location(alice.browser, authorizeUrl({ prompt: 'none', id_token_hint: alice.tokens['id_token']!, ...pkceParams() }))).searchParams.get('code'),
      ).toBeTruthy();
    });

    it('refuses a hint this provider did not sign, or an access token, with invalid_request', async () => {
      const { privateKey } = await generateKeyPair('RS256');
      const [header, payload] = alice.tokens['id_token']!.split('.') as [string, string];
      const forged = await new SignJWT(JSON.parse(Buffer.from(payload, 'base64url').toString()))
        .setProtectedHeader(JSON.parse(Buffer.from(header, 'base64url').toString()))
        .sign(privateKey);
      for (const hint of [forged, alice.tokens['access_token']!, 'not-a-jwt']) {
        const answer = await location(alice.browser, authorizeUrl({ id_token_hint: hint, state: 'bad', ...pkceParams() }));
        expect(Object.fromEntries(answer.searchParams)).toMatchObject({ error: 'invalid_request', state: 'bad' });
      }
    });

    it('sends the browser to sign in when the hint names someone else, and refuses a sign-in as the wrong user', async () => {
      const url = authorizeUrl({ id_token_hint: bobIdToken, state: 'w', ...pkceParams() });
      expect((await location(alice.browser, url)).pathname).toMatch(/\/portal\/login$/);
      const wrong = await signInAs(new HttpBrowser(), url, 'alice');
      expect(Object.fromEntries(wrong.searchParams)).toMatchObject({ error: 'login_required', state: 'w' });
      const right = await signInAs(new HttpBrowser(), url, 'bob');
      expect(right.searchParams.get('code')).toBeTruthy();
    });
  });

  describe('item 4: error_description only ever holds the characters RFC 6749 allows', () => {
    const nasty = 'x"y\\z\u00e9\u2603\u0001\n';

    it('in redirects from the authorization endpoint', async () => {
      const answer = await location(new HttpBrowser(), authorizeUrl({ scope: `openid ${nasty}`, state: 's' }));
      expect(answer.searchParams.get('error')).toBe('invalid_scope');
      const description = answer.searchParams.get('error_description')!;
      expect(description).toMatch(DESCRIPTION_CHARSET);
      expect(description).toContain('x?y?z?');
    });

    it('in JSON errors of the token, revocation and registration endpoints', async () => {
      const token = await postForm(`${issuer}/oidc/token`, { grant_type: nasty }, { Authorization: basic(rp) });
      expect(token.body['error']).toBe('unsupported_grant_type');
      const revoke = await postForm(`${issuer}/oidc/revoke`, { token: 't', token_type_hint: nasty }, { Authorization: basic(rp) });
      expect(revoke.body['error']).toBe('unsupported_token_type');
      const register = await fetch(`${issuer}/oidc/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [RP_REDIRECT], id_token_signed_response_alg: nasty }),
      });
      const registered = (await register.json()) as Record<string, string>;
      expect(registered['error']).toBe('invalid_client_metadata');
      for (const description of [token.body['error_description'], revoke.body['error_description'], registered['error_description']]) {
        expect(description).toMatch(DESCRIPTION_CHARSET);
      }
    });
  });

  describe('item 5: a refresh with a narrower scope (RFC 6749 §6)', () => {
    it('narrows the access token only: the new refresh token keeps the scope presented, and the rest comes back', async () => {
      const { tokens } = await tokensOf('alice', rp, 'openid profile email offline_access');
      const refresh = (token: string, scope?: string) =>
        postForm(`${issuer}/oidc/token`, { grant_type: 'refresh_token', refresh_token: token, ...(scope ? { scope } : {}) }, { Authorization: basic(rp) });
      const narrowed = await refresh(tokens['refresh_token']!, 'openid email');
      expect(narrowed.status).toBe(200);
      expect(narrowed.body['scope']).toBe('openid email');
      expect(await introspect(narrowed.body['access_token'] as string)).toMatchObject({ active: true, scope: 'openid email' });
      expect(await introspect(narrowed.body['refresh_token'] as string)).toMatchObject({ active: true, scope: 'openid profile email offline_access' });
      const widened = await refresh(narrowed.body['refresh_token'] as string);
      expect(widened.status).toBe(200);
      expect((widened.body['scope'] as string).split(' ').sort()).toEqual(['email', 'offline_access', 'openid', 'profile']);
    });
  });

  describe('item 7: revoking a token issued to another client (RFC 7009 §2.1)', () => {
    it('refuses with invalid_request and leaves the token valid; a public client learns nothing', async () => {
      const { tokens } = await tokensOf('alice');
      const other = await oidc.dynamicClientRegistration(
        new URL(issuer),
        { client_name: 'other', redirect_uris: [RP_REDIRECT], token_endpoint_auth_method: 'client_secret_basic' },
        oidc.ClientSecretBasic(),
        insecure,
      );
      for (const token of [tokens['refresh_token']!, tokens['access_token']!]) {
        await expect(oidc.tokenRevocation(other, token)).rejects.toMatchObject({ error: 'invalid_request', status: 400 });
      }
      const pub = await registerClient(issuer, { token_endpoint_auth_method: 'none' });
      expect((await postForm(`${issuer}/oidc/revoke`, { token: tokens['refresh_token']!, client_id: pub.client_id })).status).toBe(200);
      expect(await introspect(tokens['refresh_token']!)).toMatchObject({ active: true, token_type: 'refresh_token' });
      expect(await introspect(tokens['access_token']!)).toMatchObject({ active: true });
      // Its own client still revokes it.
      expect((await postForm(`${issuer}/oidc/revoke`, { token: tokens['refresh_token']! }, { Authorization: basic(rp) })).status).toBe(200);
      expect(await introspect(tokens['refresh_token']!)).toEqual({ active: false });
    });
  });

  describe('introspection goes through the access check', () => {
    it("reports a disabled user's tokens inactive even when the proactive revocation was cut short", async () => {
      await services.users.add('demo', { username: 'carol', password: DEMO_PASSWORD });
      const { tokens } = await tokensOf('carol');
      expect(await introspect(tokens['access_token']!)).toMatchObject({ active: true });
      // Disabling without the revocation step: as if the disable stopped right after writing the status.
      await new Users(stack.runtime.directory, services.tenants, clock).disable('demo', 'carol');
      expect(await introspect(tokens['access_token']!)).toEqual({ active: false });
      expect(await introspect(tokens['refresh_token']!)).toEqual({ active: false });
    });

    it("reports tokens from before a tenant's disabling inactive after it is re-enabled", async () => {
      await services.tenants.create({ id: 'intro', oidc: { registration: 'open' } });
      await services.users.add('intro', { username: 'alice', password: DEMO_PASSWORD });
      const client = await registerClient(`${stack.url}/t/intro`, { grant_types: ['client_credentials'] });
      const service = await postForm(
        `${stack.url}/t/intro/oidc/token`,
        { grant_type: 'client_credentials', scope: 'profile' },
        { Authorization: basic(client) },
      );
      const at = service.body['access_token'] as string;
      const ask = async () => (await postForm(`${stack.url}/t/intro/oidc/introspect`, { token: at }, { Authorization: basic(client) })).body;
      expect(await ask()).toMatchObject({ active: true });
      clock.advance(2); // the revocation stamp falls in a later second than the grant
      // Disabled and re-enabled without the revocation step (no endings): only the access check stops it.
      const bare = new Tenants(stack.runtime.directory, clock);
      await bare.update('intro', { status: 'disabled' });
      await bare.update('intro', { status: 'active' });
      expect(await ask()).toEqual({ active: false });
    });
  });

  describe('item 10: the password grant only where the tenant allows it', () => {
    it('is neither advertised nor accepted by default, and both once the tenant turns it on (CLI)', async () => {
      const ropc = await services.clients.create(
        'demo',
        { client_name: 'legacy app', grant_types: ['password'], token_endpoint_auth_method: 'client_secret_basic' },
        'admin',
      );
      const client = { client_id: ropc.client.client_id, client_secret: ropc.clientSecret! };
      const grant = () =>
        postForm(
          `${issuer}/oidc/token`,
          { grant_type: 'password', username: 'alice', password: DEMO_PASSWORD, scope: 'openid' },
          { Authorization: basic(client) },
        );
      const advertised = async () => (await oidc.discovery(new URL(issuer), 'x', undefined, undefined, insecure)).serverMetadata().grant_types_supported;

      expect(await advertised()).not.toContain('password');
      expect((await grant()).body).toMatchObject({ error: 'unsupported_grant_type' });

      const env = { CLOUDCARD_DATA_DIR: stack.dataDir };
      expect((await cli(['tenant', 'update', 'demo', '--password-grant', 'yes'], env)).code).toBe(0);
      expect(await advertised()).toContain('password');
      expect((await grant()).status).toBe(200);

      expect((await cli(['tenant', 'update', 'demo', '--password-grant', 'no'], env)).code).toBe(0);
      expect(await advertised()).not.toContain('password');
      expect((await grant()).body).toMatchObject({ error: 'unsupported_grant_type' });
    });
  });

  describe('item 11: a key rotation and new signatures', () => {
    it('signs with the new key within the ring cache bound (30 s) after `keys rotate`; tokens of either key verify meanwhile', async () => {
      const service = await registerClient(issuer, { grant_types: ['client_credentials'] });
      const kidOf = async () => {
        const token = (await postForm(`${issuer}/oidc/token`, { grant_type: 'client_credentials', scope: 'profile' }, { Authorization: basic(service) })).body[
          'access_token'
        ] as string;
        expect(await introspect(token, service)).toMatchObject({ active: true });
        return decodeProtectedHeader(token).kid;
      };
      const before = await kidOf();
      const rotated = (await cli(['keys', 'rotate', 'demo', '--json'], { CLOUDCARD_DATA_DIR: stack.dataDir })).json() as { current: string; retired: string };
      expect(rotated.retired).toBe(before);
      const published = ((await (await fetch(`${issuer}/oidc/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
      expect(published).toEqual(expect.arrayContaining([before, rotated.current]));
      // Inside the documented window the gateway may still sign with the retired key, which stays published.
      expect([before, rotated.current]).toContain(await kidOf());
      clock.advance(31);
      expect(await kidOf()).toBe(rotated.current);
    });
  });
});
