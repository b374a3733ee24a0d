import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { opaqueHash } from '../../lambdas/core/oidc/hashing.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS, testClock } from '../support/backends.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { authorizeWithLogin, basic, pkce, postForm, RP_REDIRECT, type RegisteredClient } from '../support/oidc-flows.ts';
import { DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';

/**
 * Dynamic client registration (RFC 7591) through HTTP on the local stack: closed by default, open or
 * initial-access-token by tenant setting, and what a self-registered client can never get (the password
 * grant, the `card` and `admin` scopes) at registration, after an RFC 7592 update, and at the
 * authorization and token endpoints even when its stored record names them.
 */
describe.each(BACKENDS)('dynamic client registration (%s backend)', (backend) => {
  const clock = testClock();
  let stack: LocalStack;
  const services = () => directoryServices(stack.runtime);
  const issuerOf = (tenant: string) => `${stack.url}/t/${tenant}`;
  const metadata = {
    client_name: 'Third-party RP',
    redirect_uris: [RP_REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_basic',
  };

  const register = async (tenant: string, body: Record<string, unknown> = metadata, token?: string) => {
    const response = await fetch(`${issuerOf(tenant)}/oidc/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
  };
  const discovery = async (tenant: string) => (await (await fetch(`${issuerOf(tenant)}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  const setMode = (tenant: string, registration: 'closed' | 'open' | 'initial-access-token') => services().tenants.update(tenant, { oidc: { registration } });
  const refusedToken = { error: 'invalid_token' };

  beforeAll(async () => {
    stack = await startStackOn(backend, { clock });
    for (const id of ['shut', 'openly', 'gated', 'elsewhere']) await services().tenants.create({ id });
  });
  afterAll(async () => stack?.close());

  it('is closed by default: 403 access_denied, and discovery advertises no registration_endpoint', async () => {
    for (const tenant of ['demo', 'shut']) {
      const refused = await register(tenant);
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ error: 'access_denied' });
      expect(await discovery(tenant)).not.toHaveProperty('registration_endpoint');
    }
    expect((await services().clients.list('shut')).clients).toEqual([]);
    // The tenant's settings say so, in the admin's words.
    expect((await services().tenants.get('shut')).oidc).toMatchObject({ registration: 'closed' });
  });

  it('a tenant stored with the old openRegistration: true is closed too (the old default said nothing)', async () => {
    await services().tenants.create({ id: 'legacy' });
    const item = await stack.runtime.directory.get<{ tenant: { oidc: Record<string, unknown> } } & { PK: string; SK: string }>({
      PK: 'T#legacy',
      SK: 'TENANT',
    });
    const { registration: _current, ...older } = item!.tenant.oidc;
    await stack.runtime.directory.update({ PK: 'T#legacy', SK: 'TENANT' }, { tenant: { ...item!.tenant, oidc: { ...older, openRegistration: true } } });
    expect((await register('legacy')).status).toBe(403);
    expect(await discovery('legacy')).not.toHaveProperty('registration_endpoint');
    expect((await services().tenants.get('legacy')).oidc).toMatchObject({ registration: 'closed' });
    expect((await services().tenants.get('legacy')).oidc).not.toHaveProperty('openRegistration');
  });

  it('with registration open, anyone registers a third-party client', async () => {
    await setMode('openly', 'open');
    expect(await discovery('openly')).toMatchObject({ registration_endpoint: `${issuerOf('openly')}/oidc/register` });
    const registered = await register('openly');
    expect(registered.status).toBe(201);
    expect(registered.body['client_secret']).toMatch(/^cs_/);
    expect(await services().clients.get('openly', registered.body['client_id'] as string)).toMatchObject({ first_party: false, registered_by: 'registration' });
  });

  it.each([
    [{ scope: 'openid card' }, 'scope card'],
    [{ scope: 'openid card offline_access', token_endpoint_auth_method: 'none' }, 'scope card'],
    [{ grant_types: ['client_credentials'], redirect_uris: [], scope: 'admin' }, 'scope admin'],
    [{ grant_types: ['authorization_code', 'password'] }, 'grant_type password'],
  ])('refuses a registration asking for %p with invalid_client_metadata naming it', async (extra, named) => {
    await setMode('openly', 'open');
    const before = (await services().clients.list('openly')).clients.length;
    const refused = await register('openly', { ...metadata, ...extra });
    expect(refused.status).toBe(400);
    expect(refused.body['error']).toBe('invalid_client_metadata');
    expect(refused.body['error_description']).toContain(named);
    expect((await services().clients.list('openly')).clients.length).toBe(before);
  });

  it('refuses an RFC 7592 update that adds card or password, and keeps the client as it was', async () => {
    await setMode('openly', 'open');
    const registered = (await register('openly')).body;
    for (const extra of [{ scope: 'openid card' }, { grant_types: ['authorization_code', 'password'] }]) {
      const update = await fetch(registered['registration_client_uri'] as string, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${registered['registration_access_token'] as string}` },
        body: JSON.stringify({ ...metadata, client_id: registered['client_id'], ...extra }),
      });
      expect(update.status).toBe(400);
      expect(((await update.json()) as { error: string }).error).toBe('invalid_client_metadata');
    }
    const stored = await services().clients.get('openly', registered['client_id'] as string);
    expect(stored.scope.split(' ')).not.toContain('card');
    expect(stored.grant_types).not.toContain('password');
  });

  describe('with initial access tokens', () => {
    beforeAll(async () => setMode('gated', 'initial-access-token'));
    const tokens = () => services().initialAccessTokens!;

    it('advertises the endpoint and refuses a registration without a token: 401 invalid_token', async () => {
      expect(await discovery('gated')).toMatchObject({ registration_endpoint: `${issuerOf('gated')}/oidc/register` });
      const refused = await register('gated');
      expect(refused.status).toBe(401);
      expect(refused.body).toMatchObject(refusedToken);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    });

    it('admits a registration with a valid token, again and again until it expires', async () => {
      const { token } = await tokens().issue('gated', { expiresInSeconds: 600 });
      expect(token).toMatch(/^iat_/);
      expect((await register('gated', metadata, token)).status).toBe(201);
      expect((await register('gated', metadata, token)).status).toBe(201);
      clock.advance(601);
      const expired = await register('gated', metadata, token);
      expect(expired.status).toBe(401);
      expect(expired.body).toMatchObject(refusedToken);
    });

    it('refuses a made-up token, another tenant’s token, and stores none in clear', async () => {
      expect((await register('gated', metadata, 'iat_made-up')).body).toMatchObject(refusedToken);
      const foreign = await tokens().issue('elsewhere');
      const refused = await register('gated', metadata, foreign.token);
      expect(refused.status).toBe(401);
      expect(refused.body).toMatchObject(refusedToken);
      const stored = await stack.runtime.state.get({ PK: `IAT#${opaqueHash(foreign.token)}`, SK: 'IAT' });
      expect(JSON.stringify(stored)).not.toContain(foreign.token);
    });

    it('spends a single-use token on the first registration only, and not on a refused request', async () => {
      const { token } = await tokens().issue('gated', { singleUse: true });
      // Bad metadata: refused before the token is spent.
      expect((await register('gated', { ...metadata, scope: 'openid card' }, token)).status).toBe(400);
      expect((await register('gated', metadata, token)).status).toBe(201);
      const reused = await register('gated', metadata, token);
      expect(reused.status).toBe(401);
      expect(reused.body).toMatchObject(refusedToken);
    });

    it('lets exactly one of ten racing registrations through with a single-use token', async () => {
      const { token } = await tokens().issue('gated', { singleUse: true });
      const results = await Promise.all(Array.from({ length: 10 }, () => register('gated', metadata, token)));
      expect(results.map((r) => r.status).sort()).toEqual([201, ...Array<number>(9).fill(401)]);
    });

    it('ends a revoked token at once; list shows live tokens without the token itself', async () => {
      const { token, record } = await tokens().issue('gated');
      expect((await tokens().list('gated')).map((t) => t.id)).toContain(record.id);
      expect(JSON.stringify(await tokens().list('gated'))).not.toContain(token);
      await tokens().revoke('gated', record.id);
      expect((await register('gated', metadata, token)).body).toMatchObject(refusedToken);
      expect((await tokens().list('gated')).map((t) => t.id)).not.toContain(record.id);
    });
  });

  describe('a self-registered client whose stored record names card and password anyway', () => {
    const forged = { client_id: 'forged-client-1', client_secret: 'cs_forged-secret-value' } as RegisteredClient;

    beforeAll(async () => {
      await stack.runtime.directory.put({
        PK: 'T#demo',
        SK: `CLIENT#${forged.client_id}`,
        type: 'client',
        version: 1,
        secretHash: opaqueHash(forged.client_secret!),
        client: {
          client_id: forged.client_id,
          tenant: 'demo',
          client_name: 'Forged',
          redirect_uris: [RP_REDIRECT],
          post_logout_redirect_uris: [],
          grant_types: ['authorization_code', 'refresh_token', 'password'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
          scope: 'openid card admin offline_access',
          dpop_bound_access_tokens: false,
          first_party: true,
          registered_by: 'registration',
          client_id_issued_at: 1,
          version: 1,
        },
      });
    });

    it('gets no password grant at the token endpoint, even where the tenant allows the grant', async () => {
      await services().tenants.update('demo', { oidc: { passwordGrant: true } });
      const refused = await postForm(
        `${issuerOf('demo')}/oidc/token`,
        { grant_type: 'password', username: 'alice', password: DEMO_PASSWORD, scope: 'openid card' },
        { Authorization: basic(forged) },
      );
      expect(refused.status).toBe(400);
      expect(refused.body['error']).toBe('unauthorized_client');
      await services().tenants.update('demo', { oidc: { passwordGrant: false } });
    });

    it('gets no card scope at the authorization endpoint', async () => {
      const { challenge } = pkce();
      const callback = await authorizeWithLogin(issuerOf('demo'), {
        client_id: forged.client_id,
        scope: 'openid card',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      expect(callback.searchParams.get('error')).toBe('invalid_scope');
      expect(callback.searchParams.has('code')).toBe(false);
    });

    it('is asked for consent (never first-party), and what it may have works', async () => {
      const { verifier, challenge } = pkce();
      const browser = new HttpBrowser();
      const url = new URL(`${issuerOf('demo')}/oidc/authorize`);
      for (const [k, v] of Object.entries({
        response_type: 'code',
        client_id: forged.client_id,
        redirect_uri: RP_REDIRECT,
        scope: 'openid offline_access',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }))
        url.searchParams.set(k, v);
      let { response, url: at } = await browser.follow(url.toString(), RP_REDIRECT);
      const login = formOf(await response.text());
      ({ response, url: at } = await browser.follow(login.action, RP_REDIRECT, { form: { ...login.fields, username: 'alice', password: DEMO_PASSWORD } }));
      expect(at).toContain('/portal/consent');
      const consent = formOf(await response.text());
      ({ url: at } = await browser.follow(consent.action, RP_REDIRECT, { form: { ...consent.fields, decision: 'allow' } }));
      const code = new URL(at).searchParams.get('code')!;
      const tokens = await postForm(
        `${issuerOf('demo')}/oidc/token`,
        { grant_type: 'authorization_code', code, redirect_uri: RP_REDIRECT, code_verifier: verifier },
        { Authorization: basic(forged) },
      );
      expect(tokens.status).toBe(200);
      expect(String(tokens.body['scope']).split(' ')).not.toContain('card');
    });
  });

  it('a refresh gives only what the client may still hold: card is dropped once the client counts as registered', async () => {
    const made = await services().clients.create(
      'demo',
      { client_name: 'Turned', redirect_uris: [RP_REDIRECT], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid card offline_access' },
      'admin',
    );
    const client: RegisteredClient = { client_id: made.client.client_id, client_secret: made.clientSecret! };
    const { verifier, challenge } = pkce();
    const callback = await authorizeWithLogin(issuerOf('demo'), {
      client_id: client.client_id,
      scope: 'openid card offline_access',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const first = await postForm(
      `${issuerOf('demo')}/oidc/token`,
      { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: RP_REDIRECT, code_verifier: verifier },
      { Authorization: basic(client) },
    );
    expect(String(first.body['scope']).split(' ')).toContain('card');
    // The record is rewritten as if self-registered (forged, or the rule applied to an old client).
    const key = { PK: 'T#demo', SK: `CLIENT#${client.client_id}` };
    const item = await stack.runtime.directory.get<{ client: Record<string, unknown> } & typeof key>(key);
    await stack.runtime.directory.update(key, { client: { ...item!.client, registered_by: 'registration', first_party: false } });
    const refreshed = await postForm(
      `${issuerOf('demo')}/oidc/token`,
      { grant_type: 'refresh_token', refresh_token: String(first.body['refresh_token']) },
      { Authorization: basic(client) },
    );
    expect(refreshed.status).toBe(200);
    expect(String(refreshed.body['scope']).split(' ')).toEqual(['openid', 'offline_access']);
  });

  describe('RFC 7591 metadata and RFC 7592 updates', () => {
    const manage = async (registered: Record<string, unknown>, method: 'GET' | 'PUT', body?: Record<string, unknown>) => {
      const response = await fetch(registered['registration_client_uri'] as string, {
        method,
        headers: { Authorization: `Bearer ${registered['registration_access_token'] as string}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const described = {
      policy_uri: 'https://rp.example.test/privacy',
      tos_uri: 'https://rp.example.test/terms',
      client_uri: 'https://rp.example.test/',
      logo_uri: 'https://rp.example.test/logo.png',
      software_id: '4NRB1-0XZABZI9E6-5SM3R',
      software_version: '2.1',
    };

    beforeAll(async () => setMode('openly', 'open'));

    it('ignores metadata it does not understand, and stores and returns the standard descriptive fields', async () => {
      const registered = await register('openly', { ...metadata, ...described, frobnicate: true, 'client_name#fr': 'RP tiers', software_statement: 'eyJ...' });
      expect(registered.status).toBe(201);
      expect(registered.body).toMatchObject(described);
      for (const unknown of ['frobnicate', 'client_name#fr', 'software_statement']) expect(registered.body).not.toHaveProperty([unknown]);
      expect((await manage(registered.body, 'GET')).body).toMatchObject(described);
    });

    it.each([
      ['policy_uri', 'http://rp.example.test/privacy'],
      ['tos_uri', 'https://127.0.0.1/terms'],
      ['client_uri', 'https://10.1.2.3/'],
      ['logo_uri', 'https://user:pw@rp.example.test/logo.png'],
      ['client_uri', 'javascript:alert(1)'],
    ])('refuses %s %p (https to a public host only)', async (field, value) => {
      const refused = await register('openly', { ...metadata, [field]: value });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining(field) });
    });

    it('PUT replaces the metadata whole: omitted fields are cleared or back to their defaults', async () => {
      const registered = (
        await register('openly', { ...metadata, ...described, scope: 'openid profile', post_logout_redirect_uris: ['https://rp.example.test/bye'] })
      ).body;
      const updated = await manage(registered, 'PUT', { client_id: registered['client_id'], redirect_uris: [RP_REDIRECT], client_name: 'Renamed' });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({
        client_name: 'Renamed',
        grant_types: ['authorization_code'],
        post_logout_redirect_uris: [],
        scope: 'openid profile email phone address offline_access',
      });
      for (const cleared of Object.keys(described)) expect(updated.body).not.toHaveProperty([cleared]);
      const stored = await services().clients.get('openly', registered['client_id'] as string);
      expect(stored).toMatchObject({ client_name: 'Renamed', registered_by: 'registration', first_party: false });
      expect(stored).not.toHaveProperty('policy_uri');
    });

    it('PUT takes a client_secret only if it is the current one, and requires the client_id', async () => {
      const registered = (await register('openly', { ...metadata, client_name: 'Before' })).body;
      const body = { client_id: registered['client_id'], redirect_uris: [RP_REDIRECT], client_name: 'After' };
      const wrong = await manage(registered, 'PUT', { ...body, client_secret: 'cs_chosen-by-the-client' });
      expect(wrong.status).toBe(400);
      expect(wrong.body).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining('client_secret') });
      expect((await services().clients.get('openly', registered['client_id'] as string)).client_name).toBe('Before');
      const missingId = await manage(registered, 'PUT', { redirect_uris: [RP_REDIRECT], client_name: 'After' });
      expect(missingId).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
      const right = await manage(registered, 'PUT', { ...body, client_secret: registered['client_secret'] });
      expect(right).toMatchObject({ status: 200, body: { client_name: 'After' } });
      expect(right.body).not.toHaveProperty('client_secret');
      // The secret still authenticates (an update never changes it).
      const token = await postForm(
        `${issuerOf('openly')}/oidc/token`,
        { grant_type: 'client_credentials' },
        { Authorization: basic(registered as RegisteredClient) },
      );
      expect(token.body['error']).toBe('unauthorized_client');
    });
  });

  describe('consent in words', () => {
    const pageFor = async (client: RegisteredClient, scope: string, prompt?: string): Promise<string> => {
      const browser = new HttpBrowser();
      const url = new URL(`${issuerOf('openly')}/oidc/authorize`);
      const { challenge } = pkce();
      for (const [k, v] of Object.entries({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: RP_REDIRECT,
        scope,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        ...(prompt ? { prompt } : {}),
      }))
        url.searchParams.set(k, v);
      let { response } = await browser.follow(url.toString(), RP_REDIRECT);
      const login = formOf(await response.text());
      let at: string;
      ({ response, url: at } = await browser.follow(login.action, RP_REDIRECT, { form: { ...login.fields, username: 'alice', password: DEMO_PASSWORD } }));
      expect(at).toContain('/portal/consent');
      return response.text();
    };

    beforeAll(async () => {
      await setMode('openly', 'open');
      await services().users.add('openly', { username: 'alice', displayName: 'Alice', password: DEMO_PASSWORD });
      await services().tenants.update('openly', { displayName: 'Openly Inc' });
    });

    it('labels a self-registered app as third-party, links its policy and terms, and words every scope', async () => {
      const registered = await register('openly', {
        ...metadata,
        scope: 'openid profile email phone address offline_access',
        policy_uri: 'https://rp.example.test/privacy',
        tos_uri: 'https://rp.example.test/terms',
      });
      expect(registered.status).toBe(201);
      const html = await pageFor(registered.body as RegisteredClient, 'openid profile email phone address offline_access');
      expect(html).toContain('This app was registered by its developer, not by Openly Inc.');
      expect(html).toContain('<a href="https://rp.example.test/privacy" rel="noopener noreferrer">privacy policy</a>');
      expect(html).toContain('<a href="https://rp.example.test/terms" rel="noopener noreferrer">terms of service</a>');
      for (const words of [
        'Know who you are',
        'See your name and username',
        'See your e-mail address',
        'See your phone number',
        'See your postal address',
        'Keep this access while you are not using it',
      ])
        expect(html).toContain(words);
      expect(html.match(/<h1[ >]/g)).toHaveLength(1);
      expect(html).not.toMatch(/<li>(openid|profile|email|phone|address|offline_access)<\/li>/);
    });

    it('links the app’s website too, and never loads its logo', async () => {
      const registered = await register('openly', {
        ...metadata,
        client_uri: 'https://rp.example.test/home',
        logo_uri: 'https://rp.example.test/logo.png',
        policy_uri: 'https://rp.example.test/privacy',
      });
      const html = await pageFor(registered.body as RegisteredClient, 'openid');
      expect(html).toContain(
        'Read its <a href="https://rp.example.test/home" rel="noopener noreferrer">website</a> and <a href="https://rp.example.test/privacy" rel="noopener noreferrer">privacy policy</a>.',
      );
      expect(html).not.toContain('logo.png');
    });

    it('refuses a policy_uri that is not https', async () => {
      const refused = await register('openly', { ...metadata, policy_uri: 'javascript:alert(1)' });
      expect(refused.status).toBe(400);
      expect(refused.body['error']).toBe('invalid_client_metadata');
    });

    it('words the card scope for an operator-made app, with no third-party label', async () => {
      const made = await services().clients.create('openly', { client_name: 'Card app', redirect_uris: [RP_REDIRECT], scope: 'openid card' }, 'admin');
      const html = await pageFor({ client_id: made.client.client_id }, 'openid card', 'consent');
      expect(html).toContain('Use your smart cards: see them, and use their keys to sign in, sign and decrypt as you');
      expect(html).not.toContain('registered by its developer');
    });
  });
});
