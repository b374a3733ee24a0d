import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { build } from 'esbuild';
import { CONTEXT_NAMES, type ContextName } from '../../lambdas/contexts.ts';
import { LAMBDA_ESBUILD } from '../../lib/function.ts';

/**
 * Every function's bundle budget, in one place (KiB of minified bundle, built with the stack's own esbuild
 * options). A bundle that grows past its budget fails CI: raise the budget only with the reason in the
 * commit, and the figure in BENCHMARKS.md. Measured when set (issue 14): oidc 509, portal 488, card 927,
 * admin 928, saml 1231; after merging JAR/PAR, CORS, token protection (risk engine, external service),
 * the card PKI and SAML SOAP 1.2 in the same round: oidc 570, portal 541, card 989, admin 966, saml 1296,
 * pki 9xx (its budget leaves the same ~5 % headroom); portal 572 after certificate login, HTML error pages
 * and security events (budget 600). The portal's message catalogues (en, de, fr: ~38 KiB minified) are in
 * every function, because the HTTP frame answers a navigating browser's error with a page in its language.
 * After the token-protection and operator round's merges (issue 14's aliases, issue 13's PRT, correlation and
 * relying-party logout, issue 15's catalogues and account page): oidc 592, portal 594, card 1010, admin
 * 1026, saml 1315, pki 673. Then the account page's words joined the catalogues (en, de, fr), which every
 * function carries for the frame's error pages: oidc 611, portal 612, card 1038, admin 1065, saml 1343, pki
 * 688; each budget ~3 % above. Then the catalogues were split (issue 14 item 3): every function shows only the
 * shared messages (error pages, layout, sign-out, form post; i18n/shared*.ts, ~16 KiB), only the portal
 * bundles the full catalogues (~49 KiB): oidc 578, portal 613, card 1005, admin 1031, saml 1310, pki 655; each
 * budget ~3 % above. Then @peculiar/x509 became lazy (core/pki/x509-lib.ts: evaluated on first use, ~40 ms off
 * the init of card, saml, admin and pki) and the card function stopped building the SAML services: a dynamic
 * import keeps every export of the library (+21 KiB where it is bundled), so pki 679 (budget 700), admin 1056,
 * saml 1335, card 900. Then zod through `zod/mini` (core/zod.ts: ~40 KiB instead of ~98): oidc 524, portal 562,
 * card 839, admin 1013, saml 1274, pki 617; each budget ~3 % above.
 */
const BUDGET_KIB: Record<ContextName, number> = {
  oidc: 540,
  portal: 580,
  card: 865,
  admin: 1045,
  saml: 1312,
  pki: 636,
};

/**
 * Packages no function bundles: replaced by small modules of ours (lib/function.ts BUNDLE_ALIASES, http/user-agent.ts),
 * and zod's classic API (its methods keep every schema's JSON-Schema code: core/zod.ts is the way in).
 */
const NO_FUNCTION_BUNDLES = [
  'zod/v4/classic',
  'bowser',
  'mnemonist',
  '@smithy/core/dist-es/submodules/event-streams',
  '@aws-sdk/credential-provider-node',
  '@aws-sdk/nested-clients',
] as const;

/** Packages a function must not bundle: what its routes never use. */
const MUST_NOT_BUNDLE: Partial<Record<ContextName, readonly string[]>> = {
  oidc: ['@xmldom/xmldom', '@peculiar/x509', 'asn1js'],
  portal: ['@xmldom/xmldom', '@peculiar/x509', 'asn1js'],
  // The card function builds the base services and cards only: no SAML service providers.
  card: ['@xmldom/xmldom', 'xml-crypto', 'xpath'],
};

/** Modules of ours a function must not bundle: the portal's full message catalogues (the others show only i18n/shared.ts). */
const PORTAL_ONLY = ['lambdas/core/portal/i18n/en.ts', 'lambdas/core/portal/i18n/de.ts', 'lambdas/core/portal/i18n/fr.ts'] as const;

const ROOT = join(import.meta.dirname, '..', '..');

describe('Lambda bundle budgets', () => {
  it.each(CONTEXT_NAMES.map((c) => [c]))(
    'keeps the %s bundle within its budget and free of what it does not use',
    async (context) => {
      const result = await build({
        ...LAMBDA_ESBUILD,
        mainFields: [...LAMBDA_ESBUILD.mainFields],
        entryPoints: [join(ROOT, 'lambdas', 'handlers', `${context}.ts`)],
        outfile: join(ROOT, 'out.mjs'),
        write: false,
        metafile: true,
        logLevel: 'error',
      });
      const output = Object.values(result.metafile.outputs)[0]!;
      const kib = Math.round(output.bytes / 1024);
      expect({ context, kib, withinBudget: kib <= BUDGET_KIB[context] }).toEqual({ context, kib, withinBudget: true });
      const bundled = Object.keys(output.inputs);
      for (const pkg of [...NO_FUNCTION_BUNDLES, ...(MUST_NOT_BUNDLE[context] ?? [])])
        expect({ context, pkg, bundled: bundled.some((file) => file.includes(`node_modules/${pkg}/`)) }).toEqual({ context, pkg, bundled: false });
      if (context !== 'portal')
        for (const module of PORTAL_ONLY)
          expect({ context, module, bundled: bundled.some((file) => file.endsWith(module)) }).toEqual({ context, module, bundled: false });
    },
    120_000,
  );
});
