import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as OTPAuth from 'otpauth';
import type { Page } from 'playwright-core';
import { AGENT_CLIENT_ID } from '../../lambdas/core/oidc/client.ts';
import { directoryServices, type DirectoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { chromiumRunnable, launchChromium, type ChromiumSession } from '../support/chromium.ts';
import { pkce, postForm, registerClient, RP_REDIRECT } from '../support/oidc-flows.ts';
import { allowRegistration, DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';
import { pngDataUri, tinyPng } from '../support/tiny-png.ts';

/** Where the screenshots go (gitignored; CI keeps the folder as its artefact). */
export const SCREENSHOT_DIR = join(process.cwd(), 'test-artifacts', 'screenshots');
const LOCALES = ['en', 'de', 'fr'] as const;
const WIDTHS = [390, 1280] as const;

/** The words each page is recognised by, per language (its h1): the page rendered in that language. */
const HEADINGS: Record<(typeof LOCALES)[number], Record<string, string>> = {
  en: {
    login: 'Sign in',
    'login-error': 'Sign in',
    otp: 'Two-step verification',
    consent: 'Allow Expense reports?',
    'device-code': 'Connect a device',
    'device-confirm': 'Allow this device?',
    'device-done': 'Device connected',
    logout: 'Sign out',
    error: 'Not found',
    account: 'Your account',
  },
  de: {
    login: 'Anmelden',
    'login-error': 'Anmelden',
    otp: 'Bestätigung in zwei Schritten',
    consent: 'Expense reports erlauben?',
    'device-code': 'Gerät verbinden',
    'device-confirm': 'Dieses Gerät erlauben?',
    'device-done': 'Gerät verbunden',
    logout: 'Abmelden',
    error: 'Nicht gefunden',
    account: 'Ihr Konto',
  },
  fr: {
    login: 'Se connecter',
    'login-error': 'Se connecter',
    otp: 'Vérification en deux étapes',
    consent: 'Autoriser Expense reports ?',
    'device-code': 'Connecter un appareil',
    'device-confirm': 'Autoriser cet appareil ?',
    'device-done': 'Appareil connecté',
    logout: 'Se déconnecter',
    error: 'Introuvable',
    account: 'Votre compte',
  },
};

/** Page-side expressions (strings: the test project has no DOM types). */
const OVERFLOW = 'document.documentElement.scrollWidth - document.documentElement.clientWidth';
const LOGO_DECODED = "(() => { const img = document.querySelector('header.brand img'); return !!img && img.complete && img.naturalWidth > 0; })()";

/** axe-core's script (a dev dependency), injected into each page by the harness. */
const axeSource = (): string => readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Issue 15: every portal page (login, its error, one-time code, consent, device code, approval and
 * result, sign-out, an error page) in Chromium at 390 px and 1280 px in English, German and French, with
 * the tenant's branding. Each screenshot goes to test-artifacts/screenshots/{lang}-{width}-{page}.png, and
 * each page must have rendered: its language's heading, `<html lang>`, no horizontal overflow at 390 px,
 * no CSP violation, labelled inputs, and no axe-core violation.
 */
(chromiumRunnable() ? describe : describe.skip)('portal screenshots', () => {
  let stack: LocalStack;
  let services: DirectoryServices;
  let chromium: ChromiumSession;
  let issuer: string;
  let rpId: string;
  const axe = axeSource();
  const secrets = new Map<string, string>();

  beforeAll(async () => {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    stack = await startStackOn('embedded');
    await allowRegistration(stack);
    issuer = `${stack.url}/t/demo`;
    services = directoryServices(stack.runtime);
    await services.tenants.setBranding('demo', {
      productName: 'Acme sign-in',
      logo: pngDataUri(tinyPng([11, 83, 148], 32)),
      colors: { primary: '#0b5394', primaryText: '#ffffff' },
      supportUrl: 'https://help.acme.example/',
      css: 'h1 { letter-spacing: .01em }',
    });
    rpId = (await registerClient(issuer, { client_name: 'Expense reports', scope: 'openid profile email' })).client_id;
    for (const locale of LOCALES) {
      for (const width of WIDTHS) {
        const username = `user-${locale}-${width}`;
        await services.users.add('demo', { username, password: DEMO_PASSWORD });
        secrets.set(username, (await services.totp!.enroll('demo', username, 'cloudcard')).secretBase32);
      }
    }
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
    await stack?.close();
  });

  const authorizeUrl = (extra: Record<string, string> = {}) =>
    `${issuer}/oidc/authorize?${new URLSearchParams({ response_type: 'code', client_id: rpId, redirect_uri: RP_REDIRECT, scope: 'openid profile email', code_challenge: pkce().challenge, code_challenge_method: 'S256', ...extra })}`;

  /** No axe-core violation. */
  async function expectAxeClean(page: Page, name: string): Promise<void> {
    // Evaluated by the test harness (DevTools protocol), not as a page script: the page's CSP allows no script.
    await page.evaluate(`${axe}\n;true`);
    const violations = await page.evaluate<string[]>('axe.run().then((result) => result.violations.map((v) => `${v.id} (${v.nodes.length})`))');
    expect({ name, violations }).toEqual({ name, violations: [] });
  }

  async function shoot(page: Page, locale: string, width: number, name: string, errors: string[]): Promise<void> {
    await page.waitForLoadState('load');
    expect({ name, lang: await page.locator('html').getAttribute('lang') }).toEqual({ name, lang: locale });
    expect({ name, h1: await page.getByRole('heading', { level: 1 }).innerText() }).toEqual({ name, h1: HEADINGS[locale as 'en'][name] });
    expect(await page.getByRole('main').count()).toBe(1);
    // Rendered, styled and visible: the heading has a box, the brand's logo decoded, the text is not empty.
    const box = await page.locator('h1').boundingBox();
    expect(box && box.width > 0 && box.height > 0).toBe(true);
    expect(await page.evaluate(LOGO_DECODED)).toBe(true);
    expect((await page.locator('body').innerText()).trim().length).toBeGreaterThan(20);
    const overflow = await page.evaluate(OVERFLOW);
    if (width === 390) expect({ name, overflow }).toEqual({ name, overflow: 0 });
    const inputs = page.locator('input:not([type=hidden])');
    for (let i = 0; i < (await inputs.count()); i++) {
      const id = await inputs.nth(i).getAttribute('id');
      expect((await page.locator(`label[for="${id}"]`).innerText()).trim()).not.toBe('');
    }
    await expectAxeClean(page, name);
    expect({ name, errors }).toEqual({ name, errors: [] });
    await page.screenshot({ path: join(SCREENSHOT_DIR, `${locale}-${width}-${name}.png`), fullPage: true });
  }

  for (const locale of LOCALES) {
    for (const width of WIDTHS) {
      it(`${locale} at ${width} px: every portal page`, async () => {
        const username = `user-${locale}-${width}`;
        const context = await chromium.newContext({
          locale: locale === 'en' ? 'en-GB' : `${locale}-${locale.toUpperCase()}`,
          viewport: { width, height: 860 },
        });
        const page = await context.newPage();
        const errors: string[] = [];
        // A CSP violation (a style or image the page's policy refuses) is reported only on the console.
        page.on('console', (message) => {
          if (message.type() === 'error' && !/status of 4\d\d/.test(message.text())) errors.push(message.text());
        });

        await page.goto(authorizeUrl({ acr_values: 'urn:cloudcard:acr:mfa' }));
        await page.waitForURL(/\/portal\/login\?/);
        await shoot(page, locale, width, 'login', errors);
        await page.locator('#username').fill(username);
        await page.locator('#password').fill('not the password');
        await page.locator('button[type=submit]').click();
        await page.waitForSelector('#error');
        await shoot(page, locale, width, 'login-error', errors);
        await page.locator('#password').fill(DEMO_PASSWORD);
        await page.locator('button[type=submit]').click();
        await page.waitForURL(/\/portal\/otp\?/);
        await shoot(page, locale, width, 'otp', errors);
        const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secrets.get(username)!), algorithm: 'SHA1', digits: 6, period: 30 });
        await page.locator('#code').fill(totp.generate());
        await page.locator('button[type=submit]').click();
        await page.waitForURL(/\/portal\/consent\?/);
        await shoot(page, locale, width, 'consent', errors);

        // The device flow, approved with the SSO session the sign-in above started.
        const started = await postForm(`${issuer}/oidc/device_authorization`, { client_id: AGENT_CLIENT_ID, scope: 'openid' });
        await page.goto(`${issuer}/portal/device`);
        await shoot(page, locale, width, 'device-code', errors);
        await page.locator('#user_code').fill(String(started.body['user_code']));
        await page.locator('button[type=submit]').click();
        await page.waitForURL(/\/portal\/device\/confirm\?/);
        await shoot(page, locale, width, 'device-confirm', errors);
        await page.locator('button[value=allow]').click();
        await page.waitForLoadState('load');
        await shoot(page, locale, width, 'device-done', errors);

        // The account page of the same SSO session: profile, password, TOTP, cards, devices and sessions.
        await page.goto(`${issuer}/portal/account`);
        await shoot(page, locale, width, 'account', errors);

        await page.goto(`${issuer}/oidc/logout`);
        await shoot(page, locale, width, 'logout', errors);
        const missing = await page.goto(`${issuer}/no-such-page`);
        expect(missing?.status()).toBe(404);
        // The frame's error page knows no tenant: the built-in look, so the brand's logo is not expected there.
        await shootPlain(page, locale, width, 'error', errors);
        await context.close();
      });
    }
  }

  /** An error page from the HTTP frame: the same checks without the tenant's brand. */
  async function shootPlain(page: Page, locale: string, width: number, name: string, errors: string[]): Promise<void> {
    expect(await page.locator('html').getAttribute('lang')).toBe(locale);
    expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe(HEADINGS[locale as 'en'][name]);
    if (width === 390) expect(await page.evaluate(OVERFLOW)).toBe(0);
    await expectAxeClean(page, name);
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOT_DIR, `${locale}-${width}-${name}.png`), fullPage: true });
  }
});
