import { afterAll, beforeAll, expect, it, describe } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import * as OTPAuth from 'otpauth';
import type { Page } from 'playwright-core';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { sessionHash } from '../../lambdas/core/oidc/sessions.ts';
import { RiskRecords } from '../../lambdas/core/access/risk-records.ts';
import { allowRegistration } from '../support/oidc-stack.ts';
import { chromiumRunnable, launchChromium, type ChromiumSession } from '../support/chromium.ts';

const PASSWORD = 'correct horse battery staple';
const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';

/**
 * Issue 13 in a real browser: a portal session cookie carried into another "device" (another browser
 * family and OS, from another country as a trusted CDN reports it) is not reused: the portal asks the
 * same user to sign in again with the one-time code, and the original browser's session is ended.
 */
(chromiumRunnable() ? describe : describe.skip)('token protection in Chromium', () => {
  let stack: LocalStack;
  let chromium: ChromiumSession;
  let server: Server;
  let callbackBase = '';
  const hits: URL[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, logLevel: 'SILENT', demoPassword: PASSWORD, env: { TRUSTED_LOCATION_HEADERS: 'true' } });
    await allowRegistration(stack);
    server = createServer((request, response) => {
      hits.push(new URL(request.url ?? '/', callbackBase));
      response.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    callbackBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await stack?.close();
  });

  it('steps up a portal session reused from another browser, OS and country: password and one-time code again, the old session ended', async () => {
    const issuer = new URL(`${stack.url}/t/demo`);
    const callback = `${callbackBase}/callback`;
    const config = await oidc.dynamicClientRegistration(
      issuer,
      { client_name: 'Risk RP', redirect_uris: [callback], grant_types: ['authorization_code'], token_endpoint_auth_method: 'client_secret_post' },
      undefined,
      {
        execute: [oidc.allowInsecureRequests],
      },
    );
    const authorizationUrl = async () =>
      oidc.buildAuthorizationUrl(config, {
        redirect_uri: callback,
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state: oidc.randomState(),
      });
    const onCallback = (page: Page) => page.waitForURL((url) => url.href.startsWith(callback));

    // At home: Chromium on Linux, in France.
    const home = await chromium.newContext({ extraHTTPHeaders: { 'CloudFront-Viewer-Country': 'FR' } });
    const page = await home.newPage();
    await page.goto((await authorizationUrl()).href);
    await page.waitForURL(/\/portal\/login\?/);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/portal\/consent\?/);
    await page.getByRole('button', { name: 'Allow' }).click();
    await onCallback(page);
    await page.goto((await authorizationUrl()).href);
    await onCallback(page); // SSO: reused at home

    const enrolment = directoryServices(stack.runtime).totp!;
    const { secretBase32 } = await enrolment.enroll('demo', 'alice', 'cloudcard demo');
    try {
      // The same cookie in another browser family and OS, seen in Germany.
      const cookies = await home.cookies();
      const session = cookies.find((cookie) => cookie.name === 'cc_sso')!;
      const away = await chromium.newContext({ userAgent: FIREFOX_WINDOWS, extraHTTPHeaders: { 'CloudFront-Viewer-Country': 'DE' } });
      await away.addCookies([session]);
      const other = await away.newPage();
      await other.goto((await authorizationUrl()).href);
      await other.waitForURL(/\/portal\/login\?/);
      expect(await other.getByLabel('Username').inputValue()).toBe('alice');
      const record = await new RiskRecords(stack.runtime.state).load({ kind: 'sso', hash: sessionHash(session.value) });
      expect(record).toBeUndefined(); // the stepped-up session is ended, its record with it
      await other.getByLabel('Password').fill(PASSWORD);
      await other.getByRole('button', { name: 'Sign in' }).click();
      await other.waitForURL(/\/portal\/otp\?/);
      const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secretBase32), algorithm: 'SHA1', digits: 6, period: 30 });
      await other.getByLabel('One-time code').fill(totp.generate());
      await other.getByRole('button', { name: 'Verify' }).click();
      await onCallback(other);

      // Back home, the old cookie no longer signs in.
      await page.goto((await authorizationUrl()).href);
      await page.waitForURL(/\/portal\/login\?/);
    } finally {
      await enrolment.remove('demo', 'alice');
    }
  });
});
