import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import * as OTPAuth from 'otpauth';
import type { Page } from 'playwright-core';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { allowRegistration } from '../support/oidc-stack.ts';
import { chromiumRunnable, launchChromium, type ChromiumSession } from '../support/chromium.ts';

const PASSWORD = 'correct horse battery staple';
const ACR_PASSWORD = 'urn:cloudcard:acr:password';
const ACR_MFA = 'urn:cloudcard:acr:mfa';
const SCOPE = 'openid profile email';
const SCOPE_WORDS = ['Know who you are', 'See your name and username', 'See your e-mail address'];

/** The relying party's side: a loopback server that records every request and answers 200 "ok". */
interface RelyingPartyServer {
  readonly base: string;
  readonly callback: string;
  readonly bye: string;
  readonly hits: URL[];
  close(): Promise<void>;
}

async function startRelyingParty(): Promise<RelyingPartyServer> {
  const hits: URL[] = [];
  let base = '';
  const server: Server = createServer((request, response) => {
    hits.push(new URL(request.url ?? '/', base));
    response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    response.end('ok');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    callback: `${base}/callback`,
    bye: `${base}/bye`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An authorization request built by openid-client, with what the RP keeps to check the answer. */
interface Authorization {
  readonly url: URL;
  readonly verifier: string;
  readonly state: string;
  readonly nonce: string;
}

/**
 * The authentication portal driven by a real browser (the system Chromium through playwright-core), with
 * openid-client as the relying party: password sign-in, TOTP step-up, consent, SSO and logout.
 */
(chromiumRunnable() ? describe : describe.skip)('portal in Chromium', () => {
  let stack: LocalStack;
  let issuer: URL;
  let rp: RelyingPartyServer;
  let chromium: ChromiumSession;
  const insecure = { execute: [oidc.allowInsecureRequests] };

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, logLevel: 'SILENT', demoPassword: PASSWORD });
    await allowRegistration(stack);
    issuer = new URL(`${stack.url}/t/demo`);
    rp = await startRelyingParty();
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
    await rp?.close();
    await stack?.close();
  });

  /** A third-party client (so consent is asked), one per test so that no consent carries over. */
  async function registerClient(name: string): Promise<oidc.Configuration> {
    return oidc.dynamicClientRegistration(
      issuer,
      {
        client_name: name,
        redirect_uris: [rp.callback],
        post_logout_redirect_uris: [rp.bye],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
      undefined,
      insecure,
    );
  }

  async function authorization(config: oidc.Configuration, extra: Record<string, string> = {}): Promise<Authorization> {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: rp.callback,
      scope: SCOPE,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    return { url, verifier, state, nonce };
  }

  /** Console errors per page (a CSP violation shows up there only): a failed wait reports them. */
  const consoleErrors = new WeakMap<Page, string[]>();

  /** A page in a new browser context: its own cookie jar, so no SSO session or interaction carries over. */
  async function newPage(): Promise<Page> {
    const page = await (await chromium.newContext()).newPage();
    const errors: string[] = [];
    consoleErrors.set(page, errors);
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text());
    });
    return page;
  }

  /** Waits until the browser is on the RP under `prefix`; otherwise says where it is and what the console said. */
  async function reachRp(page: Page, prefix: string): Promise<void> {
    await page
      .waitForURL((url) => url.href.startsWith(prefix), { timeout: 10_000 })
      .catch((error: Error) => {
        const errors = consoleErrors.get(page) ?? [];
        throw new Error(
          `the browser did not reach ${prefix} (still at ${page.url()})${errors.length ? `; console: ${errors.join(' | ')}` : ''}\n${error.message}`,
        );
      });
  }

  /** Waits until the browser has landed on the RP callback and returns the URL the RP received. */
  async function landedOnCallback(page: Page): Promise<URL> {
    await reachRp(page, rp.callback);
    expect(await page.locator('body').innerText()).toBe('ok');
    const received = rp.hits.filter((hit) => hit.href === page.url());
    expect(received).toHaveLength(1);
    return received[0]!;
  }

  async function exchange(config: oidc.Configuration, callback: URL, auth: Authorization) {
    return oidc
      .authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: auth.verifier,
        expectedState: auth.state,
        expectedNonce: auth.nonce,
        idTokenExpected: true,
      })
      .catch((e: { error?: string; error_description?: string; message?: string }) => {
        throw new Error(`code exchange failed: ${e.error ?? ''} ${e.error_description ?? e.message ?? ''}`);
      });
  }

  /** Accessibility facts every portal page keeps: a language, one h1, a label for every visible input. */
  async function expectAccessiblePage(page: Page, title: string): Promise<void> {
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    expect(await page.locator('h1').count()).toBe(1);
    expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe(title);
    expect(await page.title()).toBe(title);
    expect(await page.getByRole('main').count()).toBe(1);
    const inputs = page.locator('input:not([type=hidden]), select, textarea');
    for (let i = 0; i < (await inputs.count()); i++) {
      const id = await inputs.nth(i).getAttribute('id');
      expect(id).toBeTruthy();
      const label = page.locator(`label[for="${id}"]`);
      expect(await label.count()).toBe(1);
      const text = (await label.innerText()).trim();
      expect(text).not.toBe('');
      expect(await page.getByLabel(text, { exact: true }).getAttribute('id')).toBe(id);
    }
  }

  /** The error region after a failed submission: announced (role=alert) and tied to the field(s). */
  async function expectErrorFor(page: Page, fields: string[], message: RegExp): Promise<void> {
    const alert = page.getByRole('alert');
    expect(await alert.count()).toBe(1);
    expect(await alert.getAttribute('id')).toBe('error');
    expect(await alert.innerText()).toMatch(message);
    for (const field of fields) expect(await page.getByLabel(field, { exact: true }).getAttribute('aria-describedby')).toBe('error');
  }

  async function signInWithPassword(page: Page): Promise<void> {
    expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe('Sign in');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  async function expectConsentPage(page: Page, clientName: string): Promise<void> {
    await page.waitForURL(/\/portal\/consent\?/);
    await expectAccessiblePage(page, `Allow ${clientName}?`);
    expect(await page.getByRole('listitem').allInnerTexts()).toEqual(SCOPE_WORDS);
    expect(await page.locator('main').innerText()).toContain('You are signed in as alice');
    // A self-registered client is labelled as third-party.
    expect(await page.locator('main').innerText()).toContain('This app was registered by its developer, not by Demo tenant.');
  }

  describe('password sign-in, then single sign-on in the same browser', () => {
    let page: Page;
    let config: oidc.Configuration;

    beforeAll(async () => {
      page = await newPage();
      config = await registerClient('Browser RP');
    });

    it('signs in with a password after a wrong one, asks consent, and returns a password-level ID token', async () => {
      const auth = await authorization(config);
      await page.goto(auth.url.href);
      await page.waitForURL(/\/portal\/login\?/);
      await expectAccessiblePage(page, 'Sign in');
      expect(await page.getByRole('alert').count()).toBe(0);
      expect(await page.getByLabel('Password').getAttribute('aria-describedby')).toBeNull();
      await page.screenshot({ path: '/tmp/portal-login.png', fullPage: true });

      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').waitFor();
      await expectAccessiblePage(page, 'Sign in');
      await expectErrorFor(page, ['Username', 'Password'], /username or password is incorrect/);
      expect(await page.getByLabel('Username').inputValue()).toBe('alice');
      expect(await page.getByLabel('Password').inputValue()).toBe('');

      await signInWithPassword(page);
      await expectConsentPage(page, 'Browser RP');
      await page.screenshot({ path: '/tmp/portal-consent.png', fullPage: true });
      await page.getByRole('button', { name: 'Allow' }).click();

      const callback = await landedOnCallback(page);
      expect(callback.searchParams.get('state')).toBe(auth.state);
      expect(callback.searchParams.get('iss')).toBe(issuer.href);
      const tokens = await exchange(config, callback, auth);
      const claims = tokens.claims()!;
      expect(claims.sub).toBe('alice');
      expect(claims['acr']).toBe(ACR_PASSWORD);
      expect(claims['amr']).toEqual(['pwd']);
    });

    it('answers a second authorization from the SSO session: no login page, no consent page', async () => {
      const visited: string[] = [];
      const onFrame = (frame: { url(): string; parentFrame(): unknown }) => {
        if (!frame.parentFrame()) visited.push(frame.url());
      };
      page.on('framenavigated', onFrame);
      const auth = await authorization(config);
      await page.goto(auth.url.href);
      const callback = await landedOnCallback(page);
      page.off('framenavigated', onFrame);
      expect(visited.filter((url) => url.includes('/portal/'))).toEqual([]);
      const tokens = await exchange(config, callback, auth);
      expect(tokens.claims()!['acr']).toBe(ACR_PASSWORD);
    });

    it('does not let a password-level session satisfy acr_values=mfa: the login page comes back', async () => {
      const auth = await authorization(config, { acr_values: ACR_MFA });
      await page.goto(auth.url.href);
      await page.waitForURL(/\/portal\/login\?/);
      await expectAccessiblePage(page, 'Sign in');
      expect(rp.hits.some((hit) => hit.searchParams.get('state') === auth.state)).toBe(false);
      // alice has no second factor enrolled here (the step-up test removes its enrolment), so acr_values
      // is met as far as it can be: the password completes the login, and with consent remembered the
      // login form leads straight back to the RP.
      await signInWithPassword(page);
      const callback = await landedOnCallback(page);
      expect(callback.searchParams.get('state')).toBe(auth.state);
      expect((await exchange(config, callback, auth)).claims()!['acr']).toBe(ACR_PASSWORD);
    });
  });

  it('steps up with a one-time code when acr_values asks for mfa', async () => {
    const enrolment = directoryServices(stack.runtime).totp!;
    const { secretBase32 } = await enrolment.enroll('demo', 'alice', 'cloudcard demo');
    try {
      await stepUp(secretBase32);
    } finally {
      await enrolment.remove('demo', 'alice');
    }
  });

  async function stepUp(secretBase32: string): Promise<void> {
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secretBase32), algorithm: 'SHA1', digits: 6, period: 30 });
    const config = await registerClient('MFA RP');
    const page = await newPage();

    const auth = await authorization(config, { acr_values: ACR_MFA });
    await page.goto(auth.url.href);
    await page.waitForURL(/\/portal\/login\?/);
    await signInWithPassword(page);
    await page.waitForURL(/\/portal\/otp\?/);
    await expectAccessiblePage(page, 'Two-step verification');
    expect(await page.getByLabel('One-time code').getAttribute('autocomplete')).toBe('one-time-code');

    // A code valid in no step of the accepted window (the current one and one either side).
    const now = Date.now();
    const valid = new Set([-30_000, 0, 30_000].map((offset) => totp.generate({ timestamp: now + offset })));
    const wrong = ['000000', '111111', '222222', '333333'].find((code) => !valid.has(code))!;
    await page.getByLabel('One-time code').fill(wrong);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('alert').waitFor();
    await expectAccessiblePage(page, 'Two-step verification');
    await expectErrorFor(page, ['One-time code'], /code is not valid/);

    await page.getByLabel('One-time code').fill(totp.generate());
    await page.getByRole('button', { name: 'Verify' }).click();
    await expectConsentPage(page, 'MFA RP');
    await page.getByRole('button', { name: 'Allow' }).click();

    const callback = await landedOnCallback(page);
    const claims = (await exchange(config, callback, auth)).claims()!;
    expect(claims.sub).toBe('alice');
    expect(claims['acr']).toBe(ACR_MFA);
    expect(claims['amr']).toEqual(expect.arrayContaining(['pwd', 'otp']));
  }

  it('sends access_denied (with state and iss) back to the RP when the user denies consent', async () => {
    const config = await registerClient('Denied RP');
    const page = await newPage();
    const auth = await authorization(config);
    await page.goto(auth.url.href);
    await page.waitForURL(/\/portal\/login\?/);
    await signInWithPassword(page);
    await expectConsentPage(page, 'Denied RP');
    await page.getByRole('button', { name: 'Deny' }).click();

    const callback = await landedOnCallback(page);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('code')).toBeNull();
    expect(callback.searchParams.get('state')).toBe(auth.state);
    expect(callback.searchParams.get('iss')).toBe(issuer.href);
  });

  it('signs out through the end_session endpoint after a confirmation, then prompt=none needs a login', async () => {
    const config = await registerClient('Logout RP');
    const page = await newPage();
    const auth = await authorization(config);
    await page.goto(auth.url.href);
    await page.waitForURL(/\/portal\/login\?/);
    await signInWithPassword(page);
    await expectConsentPage(page, 'Logout RP');
    await page.getByRole('button', { name: 'Allow' }).click();
    const tokens = await exchange(config, await landedOnCallback(page), auth);

    const context = page.context();
    const sso = (await context.cookies()).find((c) => c.name === 'cc_sso');
    expect(sso).toMatchObject({ domain: 'localhost', path: '/t/demo/', secure: true, httpOnly: true, sameSite: 'Lax' });
    expect(sso!.value).not.toBe('');

    const state = oidc.randomState();
    const logout = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: rp.bye, state });
    await page.goto(logout.href);
    await expectAccessiblePage(page, 'Sign out');
    expect(await page.locator('main').innerText()).toContain('Logout RP asked to sign you out');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await reachRp(page, rp.bye);
    const bye = new URL(page.url());
    expect(bye.searchParams.get('state')).toBe(state);
    expect(rp.hits.some((hit) => hit.href === bye.href)).toBe(true);
    expect((await context.cookies()).find((c) => c.name === 'cc_sso')).toBeUndefined();

    const silent = await authorization(config, { prompt: 'none' });
    await page.goto(silent.url.href);
    const callback = await landedOnCallback(page);
    expect(callback.searchParams.get('error')).toBe('login_required');
    expect(callback.searchParams.get('state')).toBe(silent.state);
    expect(callback.searchParams.get('iss')).toBe(issuer.href);
  });
});
