import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SAML } from '@node-saml/node-saml';
import type { BrowserContext, Page } from 'playwright-core';
import { createOidc } from '../../lambdas/core/oidc/provider.ts';
import { createSaml } from '../../lambdas/core/saml/provider.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { chromiumRunnable, launchChromium, type ChromiumSession } from '../support/chromium.ts';
import { registerClient } from '../support/oidc-flows.ts';
import { allowRegistration } from '../support/oidc-stack.ts';
import { spCredentials } from '../support/saml-sp.ts';

const PASSWORD = 'correct horse battery staple';

interface AcsHit {
  readonly relayState?: string;
  readonly nameId?: string;
  readonly error?: string;
}

/**
 * A service provider on http://127.0.0.1 (another site than the IdP on http://localhost): `/login` starts
 * an SP-initiated login over its AuthnRequest binding (HTTP-POST: node-saml's auto-submitting form;
 * HTTP-Redirect: a 302), `/acs` validates the response strictly with node-saml, `/cb` stands for an OIDC
 * client's redirect URI, and `/forge` serves any form a test hands it (the foreign site of the CSRF cases).
 */
async function startServiceProvider(issuer: string, idpCert: string, name: string, binding: 'HTTP-POST' | 'HTTP-Redirect') {
  const hits: AcsHit[] = [];
  const forged: { action: string; fields: Record<string, string> } = { action: '', fields: {} };
  let sp: SAML | undefined;
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://sp');
    if (request.method === 'GET' && url.pathname === '/login') {
      const relayState = url.searchParams.get('relay') ?? '';
      if (binding === 'HTTP-POST') {
        response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(await sp!.getAuthorizeFormAsync(relayState, undefined, {}));
      } else {
        response.writeHead(302, { Location: await sp!.getAuthorizeUrlAsync(relayState, undefined, {}) }).end();
      }
      return;
    }
    if (request.method === 'GET' && url.pathname === '/cb') {
      response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('OIDC callback');
      return;
    }
    if (request.method === 'GET' && url.pathname === '/forge') {
      const inputs = Object.entries(forged.fields)
        .map(([k, v]) => `<input type="hidden" name="${k}" value="${v.replace(/"/g, '&quot;')}">`)
        .join('');
      response
        .writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
        .end(`<!DOCTYPE html><html><body><form method="post" action="${forged.action}">${inputs}</form></body></html>`);
      return;
    }
    if (request.method === 'POST' && url.pathname === '/acs') {
      let body = '';
      for await (const chunk of request) body += (chunk as Buffer).toString('utf8');
      const form = Object.fromEntries(new URLSearchParams(body));
      const relayState = form['RelayState'];
      try {
        const { profile } = await sp!.validatePostResponseAsync({
          SAMLResponse: form['SAMLResponse'] ?? '',
          ...(relayState !== undefined ? { RelayState: relayState } : {}),
        });
        hits.push({ ...(relayState !== undefined ? { relayState } : {}), nameId: profile!.nameID });
        response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`signed in at ${name}: ${profile!.nameID}`);
      } catch (error) {
        hits.push({ error: (error as Error).message });
        response.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`refused: ${(error as Error).message}`);
      }
      return;
    }
    response.writeHead(404).end();
  };
  const server: Server = createServer((request, response) => {
    handle(request, response).catch(() => response.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signing = await spCredentials(name);
  const entityId = `https://${name}.example.test/sp`;
  sp = new SAML({
    entryPoint: `${issuer}/saml/sso`,
    issuer: entityId,
    callbackUrl: `${base}/acs`,
    idpCert,
    privateKey: signing.keyPem,
    publicCert: signing.certPem,
    signatureAlgorithm: 'sha256',
    audience: entityId,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: true,
    authnRequestBinding: binding,
    // The HTTP-POST binding carries the XML base64-encoded, not deflated (SAML Bindings §3.5.4).
    skipRequestCompression: binding === 'HTTP-POST',
    validateInResponseTo: 'always' as never,
  });
  return {
    sp,
    base,
    acs: `${base}/acs`,
    hits,
    metadata: sp.generateServiceProviderMetadata(null, signing.certPem),
    /** Serves a form to `action` at `{base}/forge`. */
    forge(action: string, fields: Record<string, string>): string {
      forged.action = action;
      forged.fields = fields;
      return `${base}/forge`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Issue 11 item 12: SSO must survive the SAML HTTP-POST binding. The IdP is on http://localhost, the SPs
 * on http://127.0.0.1 (another site), so the browser's cross-site POST of an AuthnRequest carries only
 * cookies with SameSite=None; the portal's own forms must still refuse a foreign site's POST.
 */
(chromiumRunnable() ? describe : describe.skip)('SAML SSO across sites over the HTTP-POST binding, in Chromium', () => {
  let stack: LocalStack;
  let chromium: ChromiumSession;
  let first: Awaited<ReturnType<typeof startServiceProvider>>;
  let second: Awaited<ReturnType<typeof startServiceProvider>>;
  let issuer: string;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, logLevel: 'SILENT', demoPassword: PASSWORD });
    issuer = `${stack.url}/t/demo`;
    expect(new URL(issuer).hostname).toBe('localhost');
    const metadata = await (await fetch(`${issuer}/saml/metadata`)).text();
    const idpCert = /<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/.exec(metadata)![1]!;
    first = await startServiceProvider(issuer, idpCert, 'first-sp', 'HTTP-Redirect');
    second = await startServiceProvider(issuer, idpCert, 'second-sp', 'HTTP-POST');
    const runtime = stack.runtime;
    const saml = createSaml(
      createOidc({ directory: runtime.directory, state: runtime.state, clock: runtime.clock, random: runtime.random }),
      runtime.directory,
    );
    await saml.serviceProviders.register('demo', first.metadata);
    await saml.serviceProviders.register('demo', second.metadata);
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
    await first?.close();
    await second?.close();
    await stack?.close();
  });

  async function signIn(page: Page): Promise<void> {
    await page.waitForURL(/\/portal\/login\?/);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /** Opens the SP's login page and waits for the document its ACS answers, or for the portal's login page. */
  async function loginAt(page: Page, service: typeof first, relay: string): Promise<'acs' | 'portal'> {
    await page.goto(`${service.base}/login?relay=${relay}`);
    await page
      .waitForURL((url) => url.href === service.acs || url.pathname.endsWith('/portal/login'))
      .catch(async (error: Error) => {
        throw new Error(
          `${error.message}\nstopped at ${page.url()}: ${await page
            .locator('body')
            .innerText()
            .catch(() => '')}`,
        );
      });
    return page.url() === service.acs ? 'acs' : 'portal';
  }

  /** A foreign page (the second SP's site) whose script submits a form to `action`; the status of that POST. */
  async function forgedPost(context: BrowserContext, action: string, fields: Record<string, string>): Promise<{ status: number; heading: string }> {
    const page = await context.newPage();
    await page.goto(second.forge(action, fields));
    const answered = page.waitForResponse((response) => response.url() === action && response.request().method() === 'POST');
    await page.evaluate('document.forms[0].submit()');
    const status = (await answered).status();
    await page.waitForLoadState();
    const heading = await page.getByRole('heading', { level: 1 }).innerText();
    await page.close();
    return { status, heading };
  }

  /** Signs in at the first SP (Redirect binding), so the browser holds an SSO session. */
  async function sessionFromFirstSp(context: BrowserContext): Promise<Page> {
    const page = await context.newPage();
    expect(await loginAt(page, first, 'first')).toBe('portal');
    await signIn(page);
    await page.waitForURL((url) => url.href === first.acs);
    expect(first.hits.at(-1)).toMatchObject({ relayState: 'first' });
    expect(first.hits.at(-1)!.error).toBeUndefined();
    return page;
  }

  it("answers the second SP's cross-site POST AuthnRequest from the SSO session, without a login prompt", async () => {
    const context = await chromium.newContext();
    const page = await sessionFromFirstSp(context);
    const cookies = await context.cookies(`${issuer}/`);
    expect(cookies.find((c) => c.name === 'cc_sso')).toMatchObject({ sameSite: 'Lax', secure: true, httpOnly: true, path: '/t/demo/' });
    expect(cookies.find((c) => c.name === 'cc_sso_xs')).toMatchObject({ sameSite: 'None', secure: true, httpOnly: true, path: '/t/demo/' });

    const before = second.hits.length;
    expect(await loginAt(page, second, 'second')).toBe('acs');
    const hit = second.hits.slice(before);
    expect(hit).toHaveLength(1);
    expect(hit[0]!.error).toBeUndefined();
    expect(hit[0]!.relayState).toBe('second');
    expect(await page.locator('body').innerText()).toBe(`signed in at second-sp: ${hit[0]!.nameId}`);
  });

  it('asks a browser without a session to sign in, then answers the POST binding too', async () => {
    const page = await (await chromium.newContext()).newPage();
    const before = second.hits.length;
    expect(await loginAt(page, second, 'fresh')).toBe('portal');
    await signIn(page);
    await page.waitForURL((url) => url.href === second.acs);
    expect(second.hits.slice(before)).toEqual([expect.objectContaining({ relayState: 'fresh' })]);
    expect(second.hits.at(-1)!.error).toBeUndefined();
  });

  it('finds the session for an OIDC authorization request a foreign site sends by POST as well', async () => {
    await allowRegistration(stack);
    const callback = `${second.base}/cb`;
    const client = await registerClient(issuer, {
      client_name: 'Cross-site RP',
      redirect_uris: [callback],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
    });
    const fields = {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: callback,
      scope: 'openid',
      prompt: 'none',
      state: 's',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    };
    const answer = async (context: BrowserContext): Promise<string | null> => {
      const tab = await context.newPage();
      await tab.goto(second.forge(`${issuer}/oidc/authorize`, fields));
      await tab.evaluate('document.forms[0].submit()');
      await tab.waitForURL((url) => url.href.startsWith(`${callback}?`));
      return new URL(tab.url()).searchParams.get('error');
    };
    // Signed in: the session is found (this third-party client still needs consent); signed out: login_required.
    const signedIn = await chromium.newContext();
    await sessionFromFirstSp(signedIn);
    expect(await answer(signedIn)).toBe('consent_required');
    expect(await answer(await chromium.newContext())).toBe('login_required');
  });

  it("still refuses the portal's and the sign-out forms when a foreign site posts them, and the session survives", async () => {
    const context = await chromium.newContext();
    const page = await sessionFromFirstSp(context);

    // A sign-in pending in another browser (the attacker's own), whose id, form token and interaction
    // cookie are all known; a foreign page still cannot complete it in the victim's browser (login CSRF):
    // the interaction cookie stays Lax, so the cross-site POST arrives without it.
    const other = await (await chromium.newContext()).newPage();
    await other.goto(`${second.base}/login?relay=pending`);
    await other.waitForURL(/\/portal\/login\?/);
    const interaction = new URL(other.url()).searchParams.get('interaction')!;
    const csrf = await other.locator('input[name="csrf"]').getAttribute('value');
    const intCookie = (await other.context().cookies(`${issuer}/`)).find((c) => c.name === 'cc_int')!;
    // The victim's browser is made to hold that very interaction cookie (the worst case), then a foreign page posts the form.
    await context.addCookies([{ ...intCookie }]);
    expect(await forgedPost(context, `${issuer}/portal/login`, { interaction, csrf: csrf ?? '', username: 'alice', password: PASSWORD })).toEqual({
      status: 400,
      heading: 'Sign-in expired',
    });

    // Sign-out confirmations posted by a foreign page are refused (their CSRF cookies are Strict).
    for (const [path, fields] of [
      ['oidc/logout', { logout: 'yes', csrf: 'guess' }],
      ['saml/logout', { csrf: 'guess' }],
    ] as const) {
      expect((await forgedPost(context, `${issuer}/${path}`, fields)).status).toBe(403);
    }

    // The session is intact: the cross-site POST AuthnRequest is still answered without a login prompt.
    const before = second.hits.length;
    expect(await loginAt(page, second, 'after')).toBe('acs');
    expect(second.hits.slice(before)).toEqual([expect.objectContaining({ relayState: 'after' })]);
  });
});
