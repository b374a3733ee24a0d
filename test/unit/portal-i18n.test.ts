import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { brandingSchema, logoProblem, sanitizeCss, CssError } from '../../lambdas/core/portal/branding.ts';
import { CATALOGUES, LOCALES, placeholdersOf, translate } from '../../lambdas/core/portal/i18n/index.ts';
import { en } from '../../lambdas/core/portal/i18n/en.ts';
import { chooseLocale } from '../../lambdas/core/portal/locale.ts';
import { page, pageHeaders, stylesheetOf } from '../../lambdas/http/views/html.ts';
import { html } from '../../lambdas/http/views/html.ts';
import { portalView } from '../../lambdas/http/views/portal-view.ts';
import { viewOf } from '../../lambdas/http/views/view.ts';
import { SHARED_CATALOGUES } from '../../lambdas/core/portal/i18n/shared.ts';
import { spDisplayName } from '../../lambdas/core/saml/display-name.ts';
import { pngDataUri, tinyPng } from '../support/tiny-png.ts';

describe('message catalogues', () => {
  it('every language has every key of the English catalogue, no other, none empty, with the same placeholders', () => {
    const keys = Object.keys(en).sort();
    for (const locale of LOCALES) {
      const catalogue = CATALOGUES[locale];
      expect(Object.keys(catalogue).sort()).toEqual(keys);
      for (const key of keys) {
        const message = catalogue[key as keyof typeof en];
        expect({ locale, key, empty: message.trim() === '' }).toEqual({ locale, key, empty: false });
        expect({ locale, key, placeholders: placeholdersOf(message).sort() }).toEqual({
          locale,
          key,
          placeholders: placeholdersOf(en[key as keyof typeof en]).sort(),
        });
      }
    }
  });

  it('formats numbers and dates with Intl for the language', () => {
    expect(translate('de', 'login.locked', { minutes: 15 })).toBe('Zu viele Fehlversuche. Versuchen Sie es in 15 Minuten erneut.');
    expect(translate('en', 'error.time', { time: new Date(Date.UTC(2026, 11, 4, 22, 5, 0)) })).toBe('Time: December 4, 2026 at 10:05:00 PM UTC');
    expect(translate('de', 'error.time', { time: new Date(Date.UTC(2026, 11, 4, 22, 5, 0)) })).toBe('Zeit: 4. Dezember 2026 um 22:05:00 UTC');
    expect(translate('fr', 'error.time', { time: new Date(Date.UTC(2026, 11, 4, 22, 5, 0)) })).toBe('Heure : 4 décembre 2026 à 22:05:00 UTC');
    expect(translate('de', 'login.locked', { minutes: 1500 })).toContain('1.500');
  });

  it('escapes message text and values, keeps markup the caller built', () => {
    const view = portalView({ acceptLanguage: 'en' });
    expect(view.t('consent.wants', { app: '<b>x</b>' }).value).toBe('&#60;b&#62;x&#60;/b&#62; wants to:');
    expect(view.t('consent.wants', { app: html`<strong>${'A&B'}</strong>` }).value).toBe('<strong>A&#38;B</strong> wants to:');
  });
});

describe('shared messages (every function) and the portal catalogues', () => {
  it("the shared catalogues are exactly the portal catalogues' page, error, sign-out and form-post messages, in every language", () => {
    const shared = (key: string) => /^(page|error|logout|formPost)\./.test(key);
    for (const locale of LOCALES) {
      const full = CATALOGUES[locale] as Readonly<Record<string, string>>;
      const expected = Object.fromEntries(Object.entries(full).filter(([key]) => shared(key)));
      expect({ locale, shared: SHARED_CATALOGUES[locale] }).toEqual({ locale, shared: expected });
    }
  });

  it("a shared view speaks the browser's language with the shared messages only", () => {
    const view = viewOf({ acceptLanguage: 'de' });
    expect(view.text('error.title.404')).toBe(CATALOGUES.de['error.title.404']);
    expect(view.t('error.requestId', { id: '<x>' }).value).toContain('&#60;x&#62;');
  });
});

describe('language choice', () => {
  it('ui_locales first (its first supported tag), then Accept-Language by quality, then the tenant default, then English', () => {
    expect(chooseLocale({ uiLocales: 'tlh fr-CA de', acceptLanguage: 'de' })).toBe('fr');
    expect(chooseLocale({ uiLocales: 'tlh', acceptLanguage: 'en;q=0.2, de-AT;q=0.9, *' })).toBe('de');
    expect(chooseLocale({ acceptLanguage: 'fr;q=0, de;q=0.1' })).toBe('de');
    expect(chooseLocale({ acceptLanguage: 'ja, *', tenantDefault: 'fr' })).toBe('fr');
    expect(chooseLocale({ acceptLanguage: 'garbage;;q=x' })).toBe('en');
    expect(chooseLocale({})).toBe('en');
  });
});

describe('branding validation', () => {
  it('custom CSS: allow-listed properties re-serialised; at-rules, url(), other functions, escapes and "<" refused with the rule named', () => {
    expect(sanitizeCss('/* brand */ h1 , .brand span { color : #123456 ; font-family: "Acme Sans", sans-serif }\nbutton{border-radius:0}')).toBe(
      'h1 , .brand span{color:#123456;font-family:"Acme Sans", sans-serif}\nbutton{border-radius:0}',
    );
    expect(sanitizeCss('a{color:rgb(0, 0, 0);margin:var(--cc-gap)}')).toBe('a{color:rgb(0, 0, 0);margin:var(--cc-gap)}');
    const refused = (css: string): readonly string[] => {
      try {
        sanitizeCss(css);
      } catch (error) {
        if (error instanceof CssError) return error.problems;
        throw error;
      }
      throw new Error(`accepted: ${css}`);
    };
    expect(refused('@import "x.css";')[0]).toMatch(/at-rules/);
    expect(refused('body{background:url(https://x.example/a.png)}')).toEqual(['rule 1: property "background" is not allowed']);
    expect(refused('body{color:url(x)}')).toEqual(['rule 1: function "url" is not allowed in "color" (only rgb, rgba, hsl, hsla, var)']);
    expect(refused('body{color:expression(alert(1))}')[0]).toMatch(/function "expression"/);
    expect(refused('body{color:red}</style><script>')[0]).toMatch(/"<"/);
    expect(refused('body{color:\\75rl(x)}')[0]).toMatch(/backslash/);
    expect(refused('h1{color:red} p{position:fixed;content:"x"}')).toEqual([
      'rule 2: property "position" is not allowed',
      'rule 2: property "content" is not allowed',
    ]);
    expect(refused('h1{color:red')[0]).toMatch(/missing "}"/);
    expect(refused('h1{color:"red"}')).toEqual(['rule 1: quotes are only allowed in font-family']);
    expect(refused('h1{color:red /* open')).toEqual(['a comment is not closed']);
  });

  it('the logo: a small PNG, JPEG, GIF or WebP data: URI whose bytes are that image; no SVG, no URL', () => {
    expect(logoProblem(pngDataUri(tinyPng([1, 2, 3])))).toBeUndefined();
    expect(logoProblem('https://acme.example/logo.png')).toMatch(/data:image/);
    expect(logoProblem('data:image/svg;base64,PHN2Zz4=')).toMatch(/not accepted/);
    expect(logoProblem(`data:image/png;base64,${Buffer.from('GIF89a-not-a-png').toString('base64')}`)).toMatch(/not a image\/png/);
    expect(logoProblem(pngDataUri(Buffer.concat([tinyPng([1, 2, 3]), Buffer.alloc(40_000)])))).toMatch(/at most 32768/);
  });

  it('the schema names each bad field', () => {
    const result = brandingSchema.safeParse({
      productName: '',
      colors: { primary: 'blue', extra: '#fff' },
      supportUrl: 'http://help.example',
      defaultLocale: 'es',
      unknown: 1,
    });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((issue) => issue.path.join('.') || issue.message);
    expect(paths).toEqual(expect.arrayContaining(['productName', 'colors.primary', 'colors', 'supportUrl', 'defaultLocale']));
  });
});

describe('the SP name on the login page', () => {
  it('mdui:DisplayName in English, else the first, else OrganizationDisplayName; nothing from unreadable metadata', () => {
    const md = (inner: string) =>
      `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" entityID="https://sp.example"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${inner}</md:SPSSODescriptor></md:EntityDescriptor>`;
    expect(
      spDisplayName(
        md(
          '<md:Extensions><mdui:UIInfo><mdui:DisplayName xml:lang="fr">Paie</mdui:DisplayName><mdui:DisplayName xml:lang="en-GB">Payroll</mdui:DisplayName></mdui:UIInfo></md:Extensions>',
        ),
      ),
    ).toBe('Payroll');
    expect(spDisplayName(md('<md:Extensions><mdui:UIInfo><mdui:DisplayName xml:lang="fr">Paie</mdui:DisplayName></mdui:UIInfo></md:Extensions>'))).toBe('Paie');
    expect(
      spDisplayName(
        md('').replace(
          '</md:EntityDescriptor>',
          '<md:Organization><md:OrganizationName xml:lang="en">o</md:OrganizationName><md:OrganizationDisplayName xml:lang="en">Org App</md:OrganizationDisplayName><md:OrganizationURL xml:lang="en">https://o.example</md:OrganizationURL></md:Organization></md:EntityDescriptor>',
        ),
      ),
    ).toBe('Org App');
    expect(spDisplayName(md(''))).toBeUndefined();
    expect(spDisplayName('<not xml')).toBeUndefined();
  });
});

describe('branded pages', () => {
  it('the CSP names the hash of exactly the stylesheet the page carries; images only when a logo needs them', () => {
    const tenant = {
      id: 't',
      displayName: 'T',
      branding: { productName: 'Brand', colors: { primary: '#000000' }, css: 'h1{color:#111111}', logo: pngDataUri(tinyPng([9, 9, 9])) },
    };
    const view = viewOf({ acceptLanguage: 'fr', tenant: tenant as never, app: { name: 'App', logoUri: 'https://cdn.app.example/l.png' } });
    const body = page(view, 'Titre', html`<p>x</p>`);
    const style = /<style>([\s\S]*?)<\/style>/.exec(body)![1]!;
    expect(style).toBe(stylesheetOf(view.branding));
    const csp = pageHeaders(view)['Content-Security-Policy']!;
    expect(csp).toContain(`style-src 'sha256-${createHash('sha256').update(style).digest('base64')}';`);
    expect(csp).toContain('img-src data: https://cdn.app.example;');
    expect(body).toContain('<html lang="fr">');
    expect(pageHeaders(viewOf({}))['Content-Security-Policy']).not.toContain('img-src');
  });
});
