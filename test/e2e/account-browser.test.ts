import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as OTPAuth from 'otpauth';
import type { Page } from 'playwright-core';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { chromiumRunnable, launchChromium, type ChromiumSession } from '../support/chromium.ts';

const PASSWORD = 'correct horse battery staple';

/**
 * Structural accessibility checks run in the page (axe-core is not a dependency of the project yet; these
 * are the rules of axe's that the account page could break): a language, one h1, no skipped heading
 * level, unique ids, every visible form control labelled, every button named, every section named.
 */
async function accessibilityProblems(page: Page): Promise<string[]> {
  // Source text: it runs in the page (the project's TypeScript has no DOM types).
  return (await page.evaluate(`(() => {
    const problems = [];
    if (!document.documentElement.lang) problems.push('html has no lang');
    if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
    if (!document.querySelector('main')) problems.push('no main landmark');
    let level = 0;
    for (const heading of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
      const next = Number(heading.tagName.slice(1));
      if (next > level + 1) problems.push('heading ' + heading.tagName + ' "' + heading.textContent + '" skips a level');
      level = next;
    }
    const ids = [...document.querySelectorAll('[id]')].map((element) => element.id);
    for (const id of new Set(ids)) if (ids.filter((other) => other === id).length > 1) problems.push('duplicate id ' + id);
    for (const control of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
      const labelled = (control.id && document.querySelector('label[for="' + control.id + '"]')) || control.getAttribute('aria-label') || control.getAttribute('aria-labelledby');
      if (!labelled) problems.push('unlabelled control ' + control.outerHTML);
    }
    for (const button of document.querySelectorAll('button')) if (!button.textContent.trim()) problems.push('button without a name');
    for (const section of document.querySelectorAll('section[aria-labelledby]')) {
      if (!document.getElementById(section.getAttribute('aria-labelledby'))) problems.push('section named by a missing id');
    }
    return problems;
  })()`)) as string[];
}

/** Presses Tab until the element matching `selector` has the focus; fails if it is never reached. */
async function tabTo(page: Page, selector: string): Promise<void> {
  for (let presses = 0; presses < 80; presses++) {
    if (await page.locator(selector).evaluate((element) => element === (element.ownerDocument as unknown as { activeElement: unknown }).activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`${selector} is not reachable with the keyboard`);
}

/**
 * Issue 15 + 13: the account page in Chromium with JavaScript off, keyboard only: the page's own sign-in,
 * TOTP enrolment with a code computed from the key the page shows, and signing a device out.
 */
(chromiumRunnable() ? describe : describe.skip)('account page in Chromium', () => {
  let stack: LocalStack;
  let issuer: string;
  let chromium: ChromiumSession;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, logLevel: 'SILENT', demoPassword: PASSWORD });
    issuer = `${stack.url}/t/demo`;
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
    await stack?.close();
  });

  it('signs in, enrols TOTP and signs a device out, without JavaScript and with the keyboard only', async () => {
    const services = directoryServices(stack.runtime);
    const device = 'Q'.repeat(43);
    await services.devices!.register('demo', 'alice', device, { os: 'linux', agentVersion: '1.0.0', cardSessionLive: true });

    const page = await (await chromium.newContext({ javaScriptEnabled: false })).newPage();
    await page.goto(`${issuer}/portal/account`);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign in');
    await tabTo(page, '#username');
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${issuer}/portal/account`);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Your account');
    expect(await accessibilityProblems(page)).toEqual([]);
    await expect(page.getByText('Device QQQQQQQQQQQQ').count()).resolves.toBe(1);

    // TOTP: confirm with the password, read the key the page shows, answer with its current code.
    await tabTo(page, '#totp-password');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${issuer}/portal/account/totp`);
    expect(await accessibilityProblems(page)).toEqual([]);
    const key = (await page.locator('#totp-key').textContent())!;
    const uri = (await page.locator('#totp-link').getAttribute('href'))!;
    expect(uri).toMatch(/^otpauth:\/\/totp\//);
    // The QR code beside it says the same as the link: zbarimg reads the browser's rendering of it.
    const dir = mkdtempSync(join(tmpdir(), 'cloudcard-qr-'));
    const qr = join(dir, 'totp-qr.png');
    await page.locator('#totp-qr').screenshot({ path: qr });
    const decoded = spawnSync('zbarimg', ['--quiet', '--raw', qr], { encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    expect(decoded.stdout.trim()).toBe(uri);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(key), algorithm: 'SHA1', digits: 6, period: 30 });
    await tabTo(page, '#totp-code');
    await page.keyboard.type(totp.generate());
    await page.keyboard.press('Enter');
    await page.waitForURL(`${issuer}/portal/account/totp/confirm`);
    await expect(page.locator('#notice').textContent()).resolves.toBe('Your authenticator app is set up.');
    expect(await services.totp!.isEnrolled('demo', 'alice')).toBe(true);

    // Sign the device out: its button reached by Tab and pressed with Enter.
    await tabTo(page, `form[action$="/devices/remove"] button`);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${issuer}/portal/account/devices/remove`);
    await expect(page.locator('#notice').textContent()).resolves.toBe('The device was signed out.');
    await expect(page.getByText('No device has registered the cloudcard agent for you.').count()).resolves.toBe(1);
    expect(await services.devices!.list('demo', 'alice')).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
  });
});
