import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeHtml } from '../../lambdas/http/views/html.ts';
import { INTERACTION_COOKIE } from '../../lambdas/http/routes/oidc/authorize.ts';
import { directoryServices, type DirectoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { HttpBrowser } from '../support/http-browser.ts';
import { pkce, RP_REDIRECT } from '../support/oidc-flows.ts';
import { startStackOn } from '../support/oidc-stack.ts';
import { cli, seedDataDir } from '../support/processes.ts';
import { pngDataUri, tinyPng } from '../support/tiny-png.ts';

const LOGO = pngDataUri(tinyPng([11, 83, 148]));
const BRANDING = {
  productName: 'Acme sign-in',
  logo: LOGO,
  colors: { primary: '#0b5394', primaryText: '#ffffff' },
  supportUrl: 'https://help.acme.example/',
  css: 'h1 { letter-spacing: .02em; color: #0b5394 }  main{padding:0 .5rem}',
};

/** The page's one style element and the CSP: the style's SHA-256 must be the CSP's only style source. */
function styleOf(page: string, csp: string): { style: string; hashed: boolean } {
  const style = /<style>([\s\S]*?)<\/style>/.exec(page)?.[1] ?? '';
  const hash = createHash('sha256').update(style).digest('base64');
  return { style, hashed: /style-src '(sha256-[^']+)';/.exec(csp)?.[1] === `sha256-${hash}` };
}

/**
 * Issue 15, the portal an organisation can brand and translate: branding through the admin API (validated
 * whole, audited), on every portal page under a strict CSP; the language from ui_locales, then
 * Accept-Language, then the tenant default; discovery names exactly the catalogues.
 */
describe('portal branding and languages', () => {
  let stack: LocalStack;
  let services: DirectoryServices;
  let issuer: string;
  let adminAuth: string;
  let clientId: string;
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.url}/t/demo/admin/v1${path}`, {
      method,
      headers: { Authorization: adminAuth, Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  /** The portal page an authorization request lands on, in a new browser with these headers. */
  async function loginPage(
    params: Record<string, string> = {},
    acceptLanguage?: string,
  ): Promise<{ status: number; page: string; csp: string; lang: string | null }> {
    const browser = new HttpBrowser();
    const { challenge } = pkce();
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: RP_REDIRECT,
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...params,
    });
    let url = `${issuer}/oidc/authorize?${query}`;
    let response = await browser.request(url);
    while (response.status === 303) {
      url = new URL(response.headers.get('location')!, url).toString();
      response = acceptLanguage
        ? await fetch(url, {
            redirect: 'manual',
            headers: { cookie: `${INTERACTION_COOKIE}=${new URL(url).searchParams.get('interaction')}`, 'Accept-Language': acceptLanguage },
          })
        : await browser.request(url);
    }
    const page = await response.text();
    return { status: response.status, page, csp: response.headers.get('content-security-policy') ?? '', lang: /<html lang="([^"]+)"/.exec(page)?.[1] ?? null };
  }

  beforeAll(async () => {
    stack = await startStackOn('embedded');
    services = directoryServices(stack.runtime);
    issuer = `${stack.url}/t/demo`;
    adminAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    const issued = await services.clients.create(
      'demo',
      {
        client_name: 'Payroll',
        logo_uri: 'https://logo.payroll.example/logo.png',
        redirect_uris: [RP_REDIRECT],
        grant_types: ['authorization_code'],
        scope: 'openid',
      },
      'admin',
    );
    clientId = issued.client.client_id;
  });
  afterAll(async () => stack?.close());

  it('admin API: GET is empty until set; a bad PUT names each bad field and writes nothing; a good one is stored (CSS re-serialised) and audited', async () => {
    expect(await (await admin('GET', '/branding')).json()).toEqual({});
    const bad = await admin('PUT', '/branding', {
      productName: 'Acme',
      logo: 'data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=',
      colors: { primary: 'red' },
      supportUrl: 'javascript:alert(1)',
      css: 'body { background: url(https://evil.example/x.png) } @import "x.css";',
      defaultLocale: 'tlh',
    });
    expect(bad.status).toBe(400);
    const problem = (await bad.json()) as { issues: string[] };
    for (const field of ['logo', 'colors.primary', 'supportUrl', 'css', 'defaultLocale'])
      expect(problem.issues.some((issue) => issue.startsWith(`${field}:`))).toBe(true);
    expect(await (await admin('GET', '/branding')).json()).toEqual({});
    // One bad property is enough to refuse the whole stylesheet, with the rule named.
    const oneBad = (await (await admin('PUT', '/branding', { css: 'h1{color:#000} p{position:fixed}' })).json()) as { issues: string[] };
    expect(oneBad.issues).toEqual(['css: rule 2: property "position" is not allowed']);

    const stored = await admin('PUT', '/branding', BRANDING);
    expect(stored.status).toBe(200);
    const body = (await stored.json()) as typeof BRANDING;
    expect(body.css).toBe('h1{letter-spacing:.02em;color:#0b5394}\nmain{padding:0 .5rem}');
    expect(await (await admin('GET', '/branding')).json()).toEqual(body);
    const audit = (await (await admin('GET', '/audit')).json()) as { events: { action: string; outcome: number }[] };
    expect(audit.events.slice(0, 3).map((event) => [event.action, event.outcome])).toEqual([
      ['PUT /branding', 200],
      ['PUT /branding', 400],
      ['PUT /branding', 400],
    ]);
  });

  it('the login page shows the brand and the application under a CSP whose only style source is the stylesheet hash', async () => {
    const { status, page, csp } = await loginPage();
    expect(status).toBe(200);
    expect(page).toContain(`<img src="${escapeHtml(LOGO)}" alt="">`);
    expect(page).toContain('<span>Acme sign-in</span>');
    expect(page).toContain('Sign in to Acme sign-in.');
    expect(page).toContain('<img src="https://logo.payroll.example/logo.png" alt=""><span>Signing in to Payroll</span>');
    expect(page).toContain('<a href="https://help.acme.example/" rel="noopener noreferrer">Need help? Contact support</a>');
    expect(page).toContain('--cc-primary:#0b5394');
    expect(page).toContain('h1{letter-spacing:.02em;color:#0b5394}');
    expect(page).not.toContain('<script');
    expect(styleOf(page, csp).hashed).toBe(true);
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain('img-src data: https://logo.payroll.example;');
  });

  it('the language: ui_locales first, then Accept-Language, then the tenant default; numbers and the lang attribute follow', async () => {
    const german = await loginPage({ ui_locales: 'tlh de-CH fr' }, 'fr-FR,fr;q=0.9');
    expect(german.lang).toBe('de');
    expect(german.page).toContain('<label for="username">Benutzername</label>');
    expect(german.page).toContain('Anmeldung bei Payroll');
    expect(styleOf(german.page, german.csp).hashed).toBe(true);

    const french = await loginPage({}, 'ja;q=1, fr-CH;q=0.8, en;q=0.5');
    expect(french.lang).toBe('fr');
    expect(french.page).toContain('<title>Se connecter</title>');

    expect((await loginPage({}, 'ja, *;q=0.1')).lang).toBe('en');
    await admin('PUT', '/branding', { ...BRANDING, defaultLocale: 'de' });
    expect((await loginPage({}, 'ja, *;q=0.1')).lang).toBe('de');
    expect((await loginPage({ ui_locales: 'fr' }, 'ja')).lang).toBe('fr');
    await admin('PUT', '/branding', BRANDING);
  });

  it("a SAML login page names the SP by its metadata's mdui:DisplayName (the English one)", async () => {
    const entityId = 'https://payroll-sp.example.test/metadata';
    await services.serviceProviders.register(
      'demo',
      `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" entityID="${entityId}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:Extensions><mdui:UIInfo><mdui:DisplayName xml:lang="de">Lohnabrechnung</mdui:DisplayName><mdui:DisplayName xml:lang="en">Payroll &amp; HR</mdui:DisplayName></mdui:UIInfo></md:Extensions>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://payroll-sp.example.test/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>`,
    );
    const { response } = await new HttpBrowser().follow(`${issuer}/saml/sso/idp?sp=${encodeURIComponent(entityId)}`, 'never');
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('<span>Signing in to Payroll &#38; HR</span>');
  });

  it('error pages speak the browser language with the time formatted by Intl; discovery lists exactly the catalogues', async () => {
    const response = await fetch(`${stack.url}/t/demo/nothing-here`, { headers: { Accept: 'text/html', 'Accept-Language': 'de-DE,de;q=0.9' } });
    expect(response.status).toBe(404);
    const page = await response.text();
    expect(page).toContain('<html lang="de">');
    expect(page).toContain('<h1>Nicht gefunden</h1>');
    expect(page).toMatch(/Anfrage-ID: <code>[^<]+<\/code>/);
    expect(page).toMatch(/Zeit: \d{1,2}\. \S+ \d{4} um \d{2}:\d{2}:\d{2} UTC/);
    expect(response.headers.get('content-language')).toBe('de');
    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery['ui_locales_supported']).toEqual(['en', 'de', 'fr']);
  });
});

describe('branding in the operator CLI', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-branding-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };

  beforeAll(async () => {
    await seedDataDir(env);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('shows and sets the branding field by field (a logo file, a CSS file), naming a bad field', async () => {
    expect((await cli(['branding', 'show', 'demo'], env)).json()).toEqual({});
    const logo = join(dataDir, 'logo.png');
    writeFileSync(logo, tinyPng([200, 30, 30]));
    const css = join(dataDir, 'brand.css');
    writeFileSync(css, 'button { border-radius: 0 }');
    const set = await cli(
      ['branding', 'set', 'demo', '--product-name', 'Acme', '--logo', logo, '--css', css, '--primary-color', '#0b5394', '--default-locale', 'fr'],
      env,
    );
    expect(set.code).toBe(0);
    expect(set.json()).toMatchObject({
      productName: 'Acme',
      logo: expect.stringMatching(/^data:image\/png;base64,/),
      css: 'button{border-radius:0}',
      colors: { primary: '#0b5394' },
      defaultLocale: 'fr',
    });
    // A later change keeps the other fields.
    expect((await cli(['branding', 'set', 'demo', '--support-url', 'mailto:help@acme.example'], env)).json()).toMatchObject({
      productName: 'Acme',
      supportUrl: 'mailto:help@acme.example',
    });
    writeFileSync(css, 'body { background-image: url(x.png) }');
    const bad = await cli(['branding', 'set', 'demo', '--css', css], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/css: rule 1: property "background-image" is not allowed/);
    expect((await cli(['branding', 'show', 'demo'], env)).json()).toMatchObject({ css: 'button{border-radius:0}' });
  });
});
