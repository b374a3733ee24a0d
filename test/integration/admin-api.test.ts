import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { directoryKeys } from '../../lambdas/core/directory/keys.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';

/** The admin API and the generic HTTP behaviour, over real HTTP through the local gateway. */
describe('admin API through the local gateway', () => {
  let stack: LocalStack;
  let auth: string;
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${stack.url}${path}`, {
      method,
      headers: { Authorization: auth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, logLevel: 'SILENT', demoPassword: 'correct horse battery staple' });
    auth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
  });
  afterAll(async () => stack.close());

  it('answers /health/ready (and /health) with every dependency checked, one probe round per 10 s; /health/live touches none', async () => {
    const response = await fetch(`${stack.url}/health/ready`);
    expect(response.status).toBe(200);
    const ready = (await response.json()) as { checkedAt: string };
    expect(ready).toEqual({ status: 'pass', checks: { directory: 'pass', state: 'pass', cardKek: 'pass', signingKey: 'pass' }, checkedAt: expect.any(String) });
    // Within the window, every caller gets the same result: no new store or KMS call.
    const again = (await (await fetch(`${stack.url}/health`)).json()) as { checkedAt: string };
    expect(again.checkedAt).toBe(ready.checkedAt);
    const live = await fetch(`${stack.url}/health/live`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'pass' });
  });

  it('serves the OpenAPI document with the base URL as server', async () => {
    const response = await fetch(`${stack.url}/openapi.json`);
    const document = (await response.json()) as { openapi: string; servers: { url: string }[]; paths: Record<string, unknown> };
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers[0]!.url).toBe(stack.url);
    expect(Object.keys(document.paths)).toContain('/t/{tenant}/admin/v1/users');
  });

  it('creates, reads and updates a tenant', async () => {
    const created = await call('POST', '/t/acme/admin/v1/tenant', { displayName: 'Acme', custody: 'kms-resident' });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`${stack.url}/t/acme/admin/v1/tenant`);
    expect(await created.json()).toMatchObject({
      id: 'acme',
      displayName: 'Acme',
      custody: 'kms-resident',
      status: 'active',
      version: 1,
      pinPolicy: { retries: 3 },
    });
    const updated = await call('PATCH', '/t/acme/admin/v1/tenant', {
      pinPolicy: { minLength: 6, maxLength: 8, retries: 5, pukRetries: 3, changeOnFirstUse: false },
    });
    expect(await updated.json()).toMatchObject({ version: 2, pinPolicy: { retries: 5, changeOnFirstUse: false } });
    expect(await (await call('GET', '/t/acme/admin/v1/tenant')).json()).toMatchObject({ version: 2, displayName: 'Acme' });
  });

  it('merges a partial pinPolicy, sessionLifetimes or oidc into the current settings', async () => {
    const created = await call('POST', '/t/merge/admin/v1/tenant', {
      pinPolicy: { minLength: 6, maxLength: 8, retries: 5, pukRetries: 4, changeOnFirstUse: false },
      sessionLifetimes: { ssoSeconds: 3_600, cardSessionSeconds: 1_800, refreshTokenSeconds: 86_400 },
      oidc: { accessTokenSeconds: 900, registration: 'initial-access-token' },
    });
    expect(created.status).toBe(201);
    const patched = await call('PATCH', '/t/merge/admin/v1/tenant', {
      pinPolicy: { retries: 7 },
      sessionLifetimes: { ssoSeconds: 7_200 },
      oidc: { codeSeconds: 30 },
    });
    expect(patched.status).toBe(200);
    const expected = {
      version: 2,
      pinPolicy: { minLength: 6, maxLength: 8, retries: 7, pukRetries: 4, changeOnFirstUse: false },
      sessionLifetimes: { ssoSeconds: 7_200, cardSessionSeconds: 1_800, refreshTokenSeconds: 86_400 },
      oidc: {
        signingMode: 'wrapped',
        signingAlgorithm: 'RS256',
        accessTokenSeconds: 900,
        idTokenSeconds: 600,
        codeSeconds: 30,
        deviceCodeSeconds: 600,
        registration: 'initial-access-token',
      },
    };
    expect(await patched.json()).toMatchObject(expected);
    expect(await (await call('GET', '/t/merge/admin/v1/tenant')).json()).toMatchObject(expected);
  });

  it('validates the merged settings: 400 naming the field, nothing written', async () => {
    await call('POST', '/t/merge2/admin/v1/tenant', { pinPolicy: { minLength: 6, maxLength: 7 }, oidc: { signingMode: 'kms' } });
    for (const [body, field] of [
      [{ pinPolicy: { minLength: 8 } }, /pinPolicy\.minLength: minLength must not exceed maxLength/],
      [{ oidc: { signingAlgorithm: 'ES256' } }, /oidc\.signingAlgorithm: kms signing uses the stack RSA key/],
      [{ pinPolicy: { retries: 0 } }, /pinPolicy\.retries/],
      [{ sessionLifetimes: { bogus: 1 } }, /sessionLifetimes/],
      [{ oidc: { openRegistration: true } }, /oidc\.openRegistration: replaced by registration: closed \| open \| initial-access-token/],
      [{ oidc: { registration: 'anyone' } }, /oidc\.registration/],
    ] as const) {
      const response = await call('PATCH', '/t/merge2/admin/v1/tenant', body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { issues: string[] }).issues.join('\n')).toMatch(field);
    }
    expect(await (await call('GET', '/t/merge2/admin/v1/tenant')).json()).toMatchObject({
      version: 1,
      pinPolicy: { minLength: 6, maxLength: 7 },
      oidc: { signingMode: 'kms', signingAlgorithm: 'RS256' },
    });
  });

  it('refuses a second tenant with the same id (409) and a mismatched body id (400)', async () => {
    await call('POST', '/t/dup/admin/v1/tenant', {});
    const again = await call('POST', '/t/dup/admin/v1/tenant', {});
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toBe('application/problem+json');
    expect((await call('POST', '/t/dup2/admin/v1/tenant', { id: 'other' })).status).toBe(400);
  });

  it('adds, lists, shows and disables users, never returning a credential', async () => {
    const added = await call('POST', '/t/demo/admin/v1/users', { username: 'bob', email: 'Bob@Example.org', password: 'a long enough password' });
    expect(added.status).toBe(201);
    const bob = (await added.json()) as Record<string, unknown>;
    expect(bob).toMatchObject({ username: 'bob', email: 'bob@example.org', status: 'active' });
    expect(JSON.stringify(bob)).not.toMatch(/password|hash|scrypt/i);
    const list = (await (await call('GET', '/t/demo/admin/v1/users')).json()) as { users: { username: string }[] };
    expect(list.users.map((u) => u.username)).toEqual(['alice', 'bob']);
    const disabled = await call('POST', '/t/demo/admin/v1/users/bob/disable');
    expect(await disabled.json()).toMatchObject({ status: 'disabled', version: 2 });
    expect(await (await call('GET', '/t/demo/admin/v1/users/bob')).json()).toMatchObject({ status: 'disabled' });
  });

  it('pages the user listing: `limit` users a page in username order, `cursor` to the next; a bad limit or cursor is a 400 problem', async () => {
    expect((await call('POST', '/t/paged/admin/v1/tenant', { displayName: 'Paged' })).status).toBe(201);
    const names = ['u1', 'u2', 'u3', 'u4', 'u5'];
    for (const username of names) expect((await call('POST', '/t/paged/admin/v1/users', { username })).status).toBe(201);
    const seen: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = (await (await call('GET', `/t/paged/admin/v1/users?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json()) as {
        users: { username: string }[];
        cursor?: string;
      };
      seen.push(page.users.map((u) => u.username));
      cursor = page.cursor;
    } while (cursor);
    expect(seen.flat()).toEqual(names);
    expect(seen[0]).toEqual(['u1', 'u2']);
    expect(((await (await call('GET', '/t/paged/admin/v1/users')).json()) as { users: unknown[] }).users).toHaveLength(5);
    for (const query of ['limit=0', 'limit=1001', 'limit=-1', 'limit=2.5', 'limit=']) {
      const response = await call('GET', `/t/paged/admin/v1/users?${query}`);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await response.json()).toMatchObject({ detail: 'limit must be an integer from 1 to 1000' });
    }
    const forged = await call('GET', '/t/paged/admin/v1/users?cursor=not-a-cursor');
    expect(forged.status).toBe(400);
  });

  it('writes an audit event for every change (who, what, via which credential, when, request id), never its body; GET /audit lists them newest first', async () => {
    await call('POST', '/t/audited/admin/v1/tenant', { displayName: 'Audited' });
    const added = await call('POST', '/t/audited/admin/v1/users', { username: 'carol', password: 'a secret audit must never hold' });
    expect(added.status).toBe(201);
    const disabled = await call('POST', '/t/audited/admin/v1/users/carol/disable');
    expect(disabled.status).toBe(200);
    await call('GET', '/t/audited/admin/v1/users/carol');
    const response = await call('GET', '/t/audited/admin/v1/audit');
    expect(response.status).toBe(200);
    const page = (await response.json()) as { events: Record<string, unknown>[] };
    const who = { via: 'admin-api', actor: { kind: 'admin-client', id: stack.bootstrap.clientId }, at: expect.any(String) };
    expect(page.events).toEqual([
      {
        ...who,
        action: 'POST /users/:username/disable',
        target: { tenant: 'audited', username: 'carol' },
        outcome: 200,
        requestId: disabled.headers.get('x-request-id'),
      },
      { ...who, action: 'POST /users', target: { tenant: 'audited' }, outcome: 201, requestId: added.headers.get('x-request-id') },
      { ...who, action: 'POST /tenant', target: { tenant: 'audited' }, outcome: 201, requestId: expect.any(String) },
    ]);
    expect(JSON.stringify(page)).not.toMatch(/secret audit/);
    // Another tenant's trail is its own.
    expect(
      ((await (await call('GET', '/t/demo/admin/v1/audit')).json()) as { events: { target: { tenant: string } }[] }).events.every(
        (e) => e.target.tenant === 'demo',
      ),
    ).toBe(true);
  });

  it('updates a user: e-mail (re-indexed, or removed with null) and display name; 400 for anything else, nothing written', async () => {
    await call('POST', '/t/demo/admin/v1/users', { username: 'dora', email: 'dora@example.org' });
    const updated = await call('PATCH', '/t/demo/admin/v1/users/dora', { email: 'Dora@New.example', displayName: 'Dora D.' });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ username: 'dora', email: 'dora@new.example', displayName: 'Dora D.', version: 2 });
    const services = directoryServices(stack.runtime);
    const byEmail = await stack.runtime.directory.query({ index: 'GSI1', partition: 'T#demo#EMAIL', sortPrefix: 'dora@' });
    expect(byEmail.items.map((i) => i['GSI1SK'])).toEqual(['dora@new.example']);
    for (const body of [{}, { username: 'eve' }, { email: 'not an address' }, { password: 'a long enough password' }]) {
      const refused = await call('PATCH', '/t/demo/admin/v1/users/dora', body);
      expect([JSON.stringify(body), refused.status]).toEqual([JSON.stringify(body), 400]);
      expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    }
    const removed = await call('PATCH', '/t/demo/admin/v1/users/dora', { email: null });
    const user = (await removed.json()) as Record<string, unknown>;
    expect(user).toMatchObject({ version: 3, displayName: 'Dora D.' });
    expect(user['email']).toBeUndefined();
    expect((await stack.runtime.directory.query({ index: 'GSI1', partition: 'T#demo#EMAIL', sortPrefix: 'dora@' })).items).toEqual([]);
    expect((await services.users.get('demo', 'dora')).version).toBe(3);
    expect((await call('PATCH', '/t/demo/admin/v1/users/nobody', { displayName: 'x' })).status).toBe(404);
  });

  it('stores passwords only as memory-hard hashes', async () => {
    const item = await stack.runtime.directory.get({ PK: 'T#demo', SK: 'USER#alice' });
    expect(JSON.stringify(item)).not.toContain('correct horse battery staple');
    expect(item?.['passwordHash']).toMatch(/^scrypt\$32768\$8\$2\$/);
  });

  describe('bad input', () => {
    it.each([
      ['no credentials', undefined],
      ['a wrong secret', `Basic ${Buffer.from('admin-xxxxxxxxxxxx:wrong').toString('base64')}`],
      ['a malformed header', 'Basic !!!'],
      ['a bearer token', 'Bearer abc'],
    ])('401 with a challenge for %s', async (_label, header) => {
      const response = await fetch(`${stack.url}/t/demo/admin/v1/users`, { headers: header ? { Authorization: header } : {} });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm="cloudcard-admin"/);
      expect(await response.json()).toMatchObject({ status: 401, title: 'Unauthorized' });
    });

    it('401 for a real admin client id with a wrong secret', async () => {
      const header = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:wrong-${stack.bootstrap.clientSecret}`).toString('base64')}`;
      const response = await fetch(`${stack.url}/t/demo/admin/v1/users`, { headers: { Authorization: header } });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm="cloudcard-admin"/);
    });

    it('401 for a disabled admin client', async () => {
      // Fresh clients, never used before, so the 60 s verification cache cannot answer for them.
      const { adminClients } = directoryServices(stack.runtime);
      const basic = (c: { clientId: string; clientSecret: string }) => `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`;
      const disabled = await adminClients.create();
      await stack.runtime.directory.update(directoryKeys.adminClient(disabled.clientId), { disabled: true }, { present: true });
      const refused = await fetch(`${stack.url}/t/demo/admin/v1/users`, { headers: { Authorization: basic(disabled) } });
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ status: 401, detail: 'invalid admin client credentials' });
      // The same kind of client, enabled, is let in: the 401 above is the disabled flag.
      const enabled = await adminClients.create();
      expect((await fetch(`${stack.url}/t/demo/admin/v1/users`, { headers: { Authorization: basic(enabled) } })).status).toBe(200);
    });

    it('405 problem (not a gateway error) for a wrong method on /health and /openapi.json', async () => {
      for (const path of ['/health', '/openapi.json']) {
        const response = await fetch(`${stack.url}${path}`, { method: 'POST' });
        expect(response.status).toBe(405);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
      }
    });

    it('404 problem for an unknown route, and for an unknown tenant', async () => {
      const unknown = await fetch(`${stack.url}/no/such/route`);
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ type: 'about:blank', title: 'Not found', status: 404, instance: '/no/such/route' });
      // Every context answers its unknown paths the same way.
      expect((await fetch(`${stack.url}/t/demo/card/v1/no-such-thing`)).status).toBe(404);
      const tenant = await call('GET', '/t/nosuch/admin/v1/users');
      expect(tenant.status).toBe(404);
      expect(await tenant.json()).toMatchObject({ detail: 'tenant nosuch does not exist' });
    });

    it('405 with Allow for a wrong method', async () => {
      const response = await call('DELETE', '/t/demo/admin/v1/users');
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, POST');
    });

    it('400 for malformed JSON, with nothing written', async () => {
      const response = await call('POST', '/t/demo/admin/v1/users', '{"username": "carol",');
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ title: 'Malformed JSON' });
      expect((await call('GET', '/t/demo/admin/v1/users/carol')).status).toBe(404);
    });

    it('400 listing every invalid field', async () => {
      const response = await call('POST', '/t/demo/admin/v1/users', { username: 'Bad Name', email: 'nope', password: 'short', extra: 1 });
      expect(response.status).toBe(400);
      const problem = (await response.json()) as { issues: string[] };
      expect(problem.issues.join('\n')).toMatch(/username/);
      expect(problem.issues.join('\n')).toMatch(/email/);
      expect(problem.issues.join('\n')).toMatch(/password/);
      expect(problem.issues.join('\n')).toMatch(/extra|Unrecognized/);
    });

    it('400 for a JSON body that is not an object', async () => {
      expect((await call('POST', '/t/demo/admin/v1/users', '[1,2]')).status).toBe(400);
    });

    it('413 for a body over the limit, before parsing it', async () => {
      const response = await call('POST', '/t/demo/admin/v1/users', JSON.stringify({ username: 'x'.repeat(300 * 1024) }));
      expect(response.status).toBe(413);
      expect(await response.json()).toMatchObject({ title: 'Payload too large' });
    });

    it('415 for a body that is not JSON', async () => {
      const response = await call('POST', '/t/demo/admin/v1/users', 'username=x', { 'Content-Type': 'text/plain' });
      expect(response.status).toBe(415);
    });

    it('409 for a concurrent update that lost', async () => {
      const attempts = await Promise.all(Array.from({ length: 5 }, (_, i) => call('PATCH', '/t/demo/admin/v1/tenant', { displayName: `Demo ${i}` })));
      const statuses = attempts.map((r) => r.status);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
      expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
      const final = (await (await call('GET', '/t/demo/admin/v1/tenant')).json()) as { version: number };
      expect(final.version).toBe(1 + statuses.filter((s) => s === 200).length);
    });
  });

  it('sets security headers and a request id on every response', async () => {
    for (const response of [await fetch(`${stack.url}/health`), await fetch(`${stack.url}/nowhere`)]) {
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.headers.get('strict-transport-security')).toMatch(/max-age=/);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    }
  });
});
