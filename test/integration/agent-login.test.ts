import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentAccessToken, login } from '../../agent/login.ts';
import { CardApiClient } from '../../agent/sdk.ts';
import { AGENT_CLIENT_ID } from '../../lambdas/core/oidc/client.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { oidcSettingsOf } from '../../lambdas/core/directory/tenant.ts';
import type { LocalStack } from '../../local/stack.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { approveDevice } from '../support/device-approval.ts';
import { DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';

/**
 * The client agent's sign-in against the local stack (no pcscd needed): it uses the tenant's well-known
 * agent client, which the seed made for `demo` and discovery names, and registers nothing.
 */
describe('cloudcard-agent login with the operator-made agent client', () => {
  let stack: LocalStack;
  const stateDirs: string[] = [];
  const issuer = (tenant = 'demo') => `${stack.url}/t/${tenant}`;
  const services = () => directoryServices(stack.runtime);
  const clientCount = async (tenant = 'demo') => (await services().clients.list(tenant)).clients.length;
  const newStateDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-agent-login-'));
    stateDirs.push(dir);
    return dir;
  };

  /** The device flow, approved by alice in the portal as a person would (code page, sign-in, confirm). */
  async function deviceLogin(stateDir: string, tenant = 'demo') {
    let approved: Promise<void> | undefined;
    const state = await login({
      issuer: issuer(tenant),
      stateDir,
      flow: 'device',
      say: (line) => {
        const [, url, code] = /open (\S+) and enter the code (\S+)/.exec(line) ?? [];
        if (url && code) approved = approveDevice(url, code);
      },
    });
    await approved;
    return state;
  }
  beforeAll(async () => {
    stack = await startStackOn('embedded');
    await services().tenants.update('demo', { oidc: { deviceCodeIntervalSeconds: 1 } });
  });

  it('tells the device the tenant’s polling interval (RFC 8628 §3.2), 5 s unless the tenant chose another', async () => {
    const start = async (tenant: string) => {
      const response = await fetch(`${issuer(tenant)}/oidc/device_authorization`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: AGENT_CLIENT_ID, scope: 'openid card' }),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as { interval: number };
    };
    expect((await start('demo')).interval).toBe(1);
    expect(oidcSettingsOf(await services().tenants.create({ id: 'interval-default' })).deviceCodeIntervalSeconds).toBe(5);
    const refused = await services()
      .tenants.update('demo', { oidc: { deviceCodeIntervalSeconds: 0 } })
      .then(() => 'accepted')
      .catch((error: Error) => error.message);
    expect(refused).toBe('invalid tenant update');
  });
  afterAll(async () => {
    await stack?.close();
    for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
  });

  it('finds the agent client in discovery: the seed made it for demo, public, first-party, with the card scope', async () => {
    const discovery = (await (await fetch(`${issuer()}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery['cloudcard_agent_client_id']).toBe(AGENT_CLIENT_ID);
    expect(await services().clients.get('demo', AGENT_CLIENT_ID)).toMatchObject({
      token_endpoint_auth_method: 'none',
      first_party: true,
      registered_by: 'admin',
      scope: 'openid card offline_access',
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      application_type: 'native',
    });
  });

  it('two logins (device flow, then the browser flow on a loopback port) add no client, and the token reaches the card API', async () => {
    const before = await clientCount();
    const first = await deviceLogin(newStateDir());
    expect(first.clientId).toBe(AGENT_CLIENT_ID);

    // The browser flow: the agent listens on 127.0.0.1:<any port>/callback (RFC 8252); the "browser"
    // signs alice in (first-party: no consent) and delivers the redirect to that listener.
    const stateDir = newStateDir();
    const second = await login({
      issuer: issuer(),
      stateDir,
      flow: 'browser',
      say: () => undefined,
      openBrowser: (url) => {
        void (async () => {
          const redirectUri = new URL(url).searchParams.get('redirect_uri')!;
          expect(redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
          const browser = new HttpBrowser();
          const { response } = await browser.follow(url, redirectUri);
          const signIn = formOf(await response.text());
          const { url: callback } = await browser.follow(signIn.action, redirectUri, {
            form: { ...signIn.fields, username: 'alice', password: DEMO_PASSWORD },
          });
          await fetch(callback);
        })();
      },
    });
    expect(second.clientId).toBe(AGENT_CLIENT_ID);
    expect(await clientCount()).toBe(before);

    const cards = new CardApiClient({ tenantUrl: issuer(), accessToken: () => currentAccessToken(stateDir) });
    expect((await cards.cards()).cards).toEqual([]);
  });

  it('refuses to log in where the tenant has no agent client, naming the operator command, and registers nothing', async () => {
    await services().tenants.create({ id: 'noagent' });
    await services().tenants.update('noagent', { oidc: { registration: 'open' } });
    await expect(login({ issuer: issuer('noagent'), stateDir: newStateDir(), flow: 'device', say: () => undefined })).rejects.toThrow(
      /cloudcard client add-agent <tenant>/,
    );
    expect(await clientCount('noagent')).toBe(0);
    // Once the operator adds it, discovery names it; adding again leaves it as it is.
    expect((await services().clients.addAgent('noagent')).created).toBe(true);
    expect((await services().clients.addAgent('noagent')).created).toBe(false);
    expect(await clientCount('noagent')).toBe(1);
  });
});
