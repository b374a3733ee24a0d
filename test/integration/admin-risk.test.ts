import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS } from '../support/backends.ts';
import { HttpBrowser } from '../support/http-browser.ts';
import { authorizeWithLogin, basic, pkce, postForm, registerClient, RP_REDIRECT } from '../support/oidc-flows.ts';
import { allowRegistration, startStackOn } from '../support/oidc-stack.ts';
import { cli, seedDataDir } from '../support/processes.ts';

/**
 * Issue 13, visibility and policy through the admin API: the tenant's risk policy (GET/PUT, a 400 names
 * each bad field) and a user's sessions and refresh-token families with their last context (GET), one of
 * which an administrator ends (DELETE); then the same through the operator CLI.
 */
describe.each(BACKENDS)('token protection admin API (%s backend)', (backend) => {
  let stack: LocalStack;
  let adminAuth: string;
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.url}/t/demo/admin/v1${path}`, {
      method,
      headers: { Authorization: adminAuth, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  beforeAll(async () => {
    stack = await startStackOn(backend);
    await allowRegistration(stack);
    adminAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
  });
  afterAll(async () => stack?.close());

  it('shows the default risk policy, refuses a bad one naming the field, and stores a good one', async () => {
    const defaults = await admin('GET', '/risk-policy');
    expect(defaults.status).toBe(200);
    expect(await defaults.json()).toMatchObject({ bands: { stepUp: 40, deny: 80 }, weights: {}, overrides: [] });

    const bad = await admin('PUT', '/risk-policy', { bands: { stepUp: 90, deny: 80 }, weights: { 'ip-change': -5 } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const problem = (await bad.json()) as { issues: string[] };
    expect(problem.issues).toEqual(expect.arrayContaining([expect.stringMatching(/^bands\.stepUp: /), expect.stringMatching(/^weights\.ip-change: /)]));
    expect(await (await admin('GET', '/risk-policy')).json()).toMatchObject({ bands: { stepUp: 40, deny: 80 } });

    const policy = {
      bands: { stepUp: 30, deny: 70 },
      weights: { 'ip-change': 15 },
      usualHours: { from: 7, to: 20, utcOffsetMinutes: 60 },
      overrides: [{ audience: 'saml:https://payroll.example', bands: { stepUp: 10, deny: 40 } }],
    };
    const stored = await admin('PUT', '/risk-policy', policy);
    expect(stored.status).toBe(200);
    expect(await (await admin('GET', '/risk-policy')).json()).toEqual({ ...policy, maxTravelKmh: 900 });
    expect((await admin('PUT', '/risk-policy', {})).status).toBe(200);
  });

  it("lists a user's SSO session and refresh-token family with their last context, and ends each", async () => {
    const rp = await registerClient(`${stack.url}/t/demo`);
    const browser = new HttpBrowser();
    const { verifier, challenge } = pkce();
    const callback = await authorizeWithLogin(
      `${stack.url}/t/demo`,
      { client_id: rp.client_id, code_challenge: challenge, code_challenge_method: 'S256' },
      browser,
    );
    const token = `${stack.url}/t/demo/oidc/token`;
    const issued = await postForm(
      token,
      { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: RP_REDIRECT, code_verifier: verifier },
      { Authorization: basic(rp), 'User-Agent': 'rp-backend/1.0' },
    );
    expect(issued.status).toBe(200);
    const refreshed = await postForm(token, { grant_type: 'refresh_token', refresh_token: String(issued.body['refresh_token']) }, { Authorization: basic(rp) });
    expect(refreshed.status).toBe(200);

    const listed = await admin('GET', '/users/alice/sessions');
    expect(listed.status).toBe(200);
    const { sessions } = (await listed.json()) as { sessions: Array<Record<string, unknown>> };
    const family = sessions.find((s) => s['kind'] === 'refresh-family' && s['clientId'] === rp.client_id);
    expect(family).toMatchObject({ ip: '127.0.0.1', score: 0, decision: 'allow', reasons: [] });
    expect((family!['decisions'] as unknown[]).length).toBe(1);
    const sso = sessions.find(
      (s) => s['kind'] === 'sso' && s['id'] === JSON.parse(Buffer.from(String(issued.body['id_token']).split('.')[1]!, 'base64url').toString()).sid,
    );
    expect(sso).toMatchObject({ ip: '127.0.0.1', acr: 'urn:cloudcard:acr:password' });

    expect((await admin('DELETE', `/users/alice/sessions/${String(family!['id'])}`)).status).toBe(204);
    const after = await postForm(token, { grant_type: 'refresh_token', refresh_token: String(refreshed.body['refresh_token']) }, { Authorization: basic(rp) });
    expect(after.body['error']).toBe('invalid_grant');
    expect((await admin('DELETE', `/users/alice/sessions/${String(sso!['id'])}`)).status).toBe(204);
    const silent = await browser.follow(
      `${stack.url}/t/demo/oidc/authorize?${new URLSearchParams({ response_type: 'code', client_id: rp.client_id, redirect_uri: RP_REDIRECT, scope: 'openid', prompt: 'none', code_challenge: challenge, code_challenge_method: 'S256' })}`,
      RP_REDIRECT,
    );
    expect(new URL(silent.url).searchParams.get('error')).toBe('login_required');

    const gone = await admin('DELETE', `/users/alice/sessions/${String(sso!['id'])}`);
    expect(gone.status).toBe(404);
    expect((await admin('GET', '/users/nobody/sessions')).status).toBe(404);
  });
});

describe('token protection in the operator CLI', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-risk-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };

  beforeAll(async () => {
    await seedDataDir(env);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('shows and sets the risk policy, naming a bad field, and lists and ends sessions', async () => {
    const shown = await cli(['risk-policy', 'show', 'demo'], env);
    expect(shown.code).toBe(0);
    expect(shown.json()).toMatchObject({ bands: { stepUp: 40, deny: 80 } });

    const bad = await cli(['risk-policy', 'set', 'demo', '--file', '-'], env, '{"bands":{"stepUp":10,"deny":5}}');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/bands\.stepUp/);

    const set = await cli(
      ['risk-policy', 'set', 'demo', '--file', '-'],
      env,
      '{"overrides":[{"audience":"saml:https://payroll.example","bands":{"stepUp":10,"deny":40}}]}',
    );
    expect(set.code).toBe(0);
    expect(set.json()).toMatchObject({ overrides: [{ audience: 'saml:https://payroll.example' }] });
    expect((await cli(['risk-policy', 'show', 'demo'], env)).json()).toMatchObject({
      bands: { stepUp: 40, deny: 80 },
      overrides: [{ bands: { stepUp: 10, deny: 40 } }],
    });

    const sessions = await cli(['user', 'sessions', 'demo', 'alice', '--json'], env);
    expect(sessions.code).toBe(0);
    expect(sessions.json()).toEqual([]);
    const table = await cli(['user', 'sessions', 'demo', 'alice'], env);
    expect(table.stdout).toMatch(/^ID\s+KIND\s+CLIENTID\s+IP\s+COUNTRY/m);
    const unknown = await cli(['user', 'end-session', 'demo', 'alice', 'no-such-id'], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no live session no-such-id/);
  });
});
