import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { LocalStack } from '../../local/stack.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { basic, postForm, RP_REDIRECT, type RegisteredClient } from '../support/oidc-flows.ts';
import { DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';

/** The sign-in lock holds against parallel bursts, through the portal and through the password grant. */
describe('sign-in lockout over HTTP (20-way bursts)', () => {
  let stack: LocalStack;
  let issuer: string;

  beforeAll(async () => {
    stack = await startStackOn('embedded');
    issuer = `${stack.url}/t/demo`;
    const services = directoryServices(stack.runtime);
    await services.users.add('demo', { username: 'bob', password: DEMO_PASSWORD });
    // The password grant is off unless the tenant turns it on (RFC 9700 §2.4).
    await services.tenants.update('demo', { oidc: { passwordGrant: true } });
  });
  afterAll(async () => stack.close());

  /** An operator-created client (the password grant is never self-registered). */
  async function client(grants: string[]): Promise<RegisteredClient> {
    const metadata = { redirect_uris: [RP_REDIRECT], grant_types: grants, token_endpoint_auth_method: 'client_secret_basic', client_name: 'lockout test' };
    const issued = await directoryServices(stack.runtime).clients.create('demo', metadata, 'admin');
    return { client_id: issued.client.client_id, client_secret: issued.clientSecret! };
  }

  it('portal: 20 parallel wrong passwords get 5 "incorrect" answers and 15 locks; the right one after them is locked out', async () => {
    const rp = await client(['authorization_code']);
    const browser = new HttpBrowser();
    const authorize = new URL(`${issuer}/oidc/authorize`);
    for (const [name, value] of Object.entries({ response_type: 'code', client_id: rp.client_id, redirect_uri: RP_REDIRECT, scope: 'openid' }))
      authorize.searchParams.set(name, value);
    const { response, url } = await browser.follow(authorize.toString(), RP_REDIRECT);
    const form = formOf(await response.text());
    const login = { ...form, action: new URL(form.action, url).toString() };
    const statuses = await Promise.all(
      Array.from(
        { length: 20 },
        async (_, i) => (await browser.request(login.action, { form: { ...login.fields, username: 'alice', password: `wrong password ${i}` } })).status,
      ),
    );
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    const right = await browser.request(login.action, { form: { ...login.fields, username: 'alice', password: DEMO_PASSWORD } });
    expect(right.status).toBe(429);
    expect(await right.text()).toMatch(/Too many failed attempts/);
  });

  it('password grant: 20 parallel wrong passwords, 5 compared; the right one after them gets invalid_grant', async () => {
    const app = await client(['password']);
    const token = `${issuer}/oidc/token`;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        postForm(token, { grant_type: 'password', username: 'bob', password: `wrong password ${i}`, scope: 'openid' }, { Authorization: basic(app) }),
      ),
    );
    expect(answers.every((a) => a.status === 400 && a.body['error'] === 'invalid_grant')).toBe(true);
    expect(answers.filter((a) => /invalid username or password/.test(String(a.body['error_description'])))).toHaveLength(5);
    expect(answers.filter((a) => /too many failed sign-ins/.test(String(a.body['error_description'])))).toHaveLength(15);
    const right = await postForm(token, { grant_type: 'password', username: 'bob', password: DEMO_PASSWORD, scope: 'openid' }, { Authorization: basic(app) });
    expect(right.body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/too many failed sign-ins/) });
  });
});
