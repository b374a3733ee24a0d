import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { LocalStack } from '../../local/stack.ts';
import { formOf, HttpBrowser } from '../support/http-browser.ts';
import { authorizeWithLogin, pkce, registerClient, RP_REDIRECT } from '../support/oidc-flows.ts';
import { allowRegistration, startStackOn } from '../support/oidc-stack.ts';

const RETURN_TO = 'https://rp.example/signed-out';

/**
 * Issue 15: the sign-out confirmation says what will happen and has a Cancel that keeps the session (OIDC
 * RP-initiated logout: back to the registered return address, as oidc-provider does; SAML IdP-initiated:
 * a "still signed in" page). Cancel needs the form's token like Sign out does.
 */
describe('sign-out pages: what happens, and Cancel', () => {
  let stack: LocalStack;
  let issuer: string;

  beforeAll(async () => {
    stack = await startStackOn('embedded');
    await allowRegistration(stack);
    issuer = `${stack.url}/t/demo`;
  });
  afterAll(async () => stack?.close());

  async function signedIn(clientId: string): Promise<HttpBrowser> {
    const browser = new HttpBrowser();
    const { challenge } = pkce();
    await authorizeWithLogin(issuer, { client_id: clientId, code_challenge: challenge, code_challenge_method: 'S256' }, browser);
    return browser;
  }

  async function stillSignedIn(browser: HttpBrowser, clientId: string): Promise<boolean> {
    const { challenge } = pkce();
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: RP_REDIRECT,
      scope: 'openid',
      prompt: 'none',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const { url } = await browser.follow(`${issuer}/oidc/authorize?${query}`, RP_REDIRECT);
    return new URL(url).searchParams.has('code');
  }

  it('OIDC: Cancel keeps the session and returns to the registered address with state; Sign out ends it', async () => {
    const rp = await registerClient(issuer, { client_name: 'Payroll', post_logout_redirect_uris: [RETURN_TO] });
    const browser = await signedIn(rp.client_id);
    const query = new URLSearchParams({ client_id: rp.client_id, post_logout_redirect_uri: RETURN_TO, state: 's1' });
    const confirmation = await browser.request(`${issuer}/oidc/logout?${query}`);
    const page = await confirmation.text();
    expect(page).toContain('<strong>Payroll</strong> asked to sign you out.');
    expect(page).toMatch(/will ask you to sign in again, and you will be sent back to rp\.example/);
    expect(page).toContain('<button type="submit" name="logout" value="no">Cancel</button>');
    const { action, fields } = formOf(page);

    // Without the form's token Cancel is refused like Sign out.
    expect((await new HttpBrowser().request(action, { method: 'POST', form: { ...fields, logout: 'no' } })).status).toBe(403);
    const cancelled = await browser.request(action, { method: 'POST', form: { ...fields, logout: 'no' } });
    expect(cancelled.status).toBe(303);
    expect(cancelled.headers.get('location')).toBe(`${RETURN_TO}?state=s1`);
    expect(await stillSignedIn(browser, rp.client_id)).toBe(true);

    const again = formOf(await (await browser.request(`${issuer}/oidc/logout?${query}`)).text());
    // Posted from another site's page, even with this browser's cookie and the right token: refused, still signed in.
    const forged = await browser.request(again.action, { method: 'POST', form: { ...again.fields, logout: 'yes' }, origin: 'https://evil.example' });
    expect(forged.status).toBe(403);
    expect(await stillSignedIn(browser, rp.client_id)).toBe(true);
    const out = await browser.request(again.action, { method: 'POST', form: { ...again.fields, logout: 'yes' } });
    expect(out.headers.get('location')).toBe(`${RETURN_TO}?state=s1`);
    expect(await stillSignedIn(browser, rp.client_id)).toBe(false);
  });

  it('OIDC without a return address: Cancel shows that the user is still signed in', async () => {
    const rp = await registerClient(issuer);
    const browser = await signedIn(rp.client_id);
    const { action, fields } = formOf(await (await browser.request(`${issuer}/oidc/logout`)).text());
    const cancelled = await browser.request(action, { method: 'POST', form: { ...fields, logout: 'no' } });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.text()).toContain('You are still signed in.');
    expect(await stillSignedIn(browser, rp.client_id)).toBe(true);
  });

  it('SAML IdP-initiated sign-out: Cancel keeps the session', async () => {
    const rp = await registerClient(issuer);
    const browser = await signedIn(rp.client_id);
    const page = await (await browser.request(`${issuer}/saml/logout`)).text();
    expect(page).toContain('each will ask you to sign in again. Cancel keeps you signed in.');
    const { action, fields } = formOf(page);
    const cancelled = await browser.request(action, { method: 'POST', form: { ...fields, cancel: 'yes' } });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.text()).toContain('You are still signed in.');
    expect(await stillSignedIn(browser, rp.client_id)).toBe(true);
  });
});
