import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { en } from '../../lambdas/core/portal/i18n/en.ts';
import { deFrame } from '../../lambdas/core/portal/i18n/de-frame.ts';
import { enFrame } from '../../lambdas/core/portal/i18n/en-frame.ts';
import { frFrame } from '../../lambdas/core/portal/i18n/fr-frame.ts';
import { translate } from '../../lambdas/core/portal/i18n/index.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const filesUnder = (path: string): string[] =>
  statSync(path).isDirectory() ? readdirSync(path).flatMap((name) => filesUnder(join(path, name))) : path.endsWith('.ts') ? [path] : [];

/** What functions other than the portal render: their routes, the HTTP frame and the page builders they use. */
const NON_PORTAL_SOURCES = [
  ...['oidc', 'saml', 'card', 'pki'].flatMap((dir) => filesUnder(join(ROOT, 'lambdas', 'http', 'routes', dir))),
  ...readdirSync(join(ROOT, 'lambdas', 'http', 'routes'))
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(ROOT, 'lambdas', 'http', 'routes', name)),
  ...['app.ts', 'views/pages.ts', 'views/html.ts', 'views/view.ts'].map((file) => join(ROOT, 'lambdas', 'http', file)),
];

describe("the frame's messages (what every function carries)", () => {
  it('serve without the portal catalogues: error pages in every language; a portal-only key is not there', () => {
    expect(translate('de', 'error.title.404')).toBe(deFrame['error.title.404']);
    expect(translate('fr', 'logout.title')).toBe(frFrame['logout.title']);
    expect(translate('en', 'login.title')).toBe('login.title');
  });

  it('hold every message key that a non-portal route, the frame or its page builders name', () => {
    const named = new Set<string>();
    for (const file of NON_PORTAL_SOURCES) {
      for (const match of readFileSync(file, 'utf8').matchAll(/'([a-zA-Z]+\.[\w.-]+)'/g)) if (match[1]! in en) named.add(match[1]!);
    }
    expect(named.size).toBeGreaterThan(20);
    expect([...named].filter((key) => !(key in enFrame))).toEqual([]);
  });
});
