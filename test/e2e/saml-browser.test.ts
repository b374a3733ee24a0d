import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SAML } from '@node-saml/node-saml';
import type { Page } from 'playwright-core';
import { createOidc } from '../../lambdas/core/oidc/provider.ts';
import { createSaml } from '../../lambdas/core/saml/provider.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { chromiumRunnable, launchChromium, type ChromiumSession } from '../support/chromium.ts';
import { spCredentials } from '../support/saml-sp.ts';

const PASSWORD = 'correct horse battery staple';

/** What the SP's ACS received and what node-saml made of it. */
interface AcsHit {
  readonly relayState?: string;
  readonly nameId?: string;
  readonly mail?: string;
  readonly error?: string;
}

/**
 * A tiny service provider on loopback: its ACS takes the HTTP-POST binding's form and validates the
 * SAMLResponse with node-saml (strict: response and assertion signed, audience, InResponseTo, encrypted
 * assertion decrypted with its key), then answers a page saying who signed in.
 */
async function startServiceProvider(make: (acs: string) => SAML): Promise<{ sp: SAML; acs: string; hits: AcsHit[]; close(): Promise<void> }> {
  const hits: AcsHit[] = [];
  let sp: SAML | undefined;
  const server: Server = createServer((request, response) => {
    // Only the ACS counts (the browser also asks for /favicon.ico).
    if (request.method !== 'POST' || new URL(request.url ?? '/', 'http://sp').pathname !== '/acs') {
      response.writeHead(404).end();
      return;
    }
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      const relayState = form['RelayState'];
      sp!
        .validatePostResponseAsync({ SAMLResponse: form['SAMLResponse'] ?? '', ...(relayState !== undefined ? { RelayState: relayState } : {}) })
        .then(({ profile }) => {
          hits.push({ ...(relayState !== undefined ? { relayState } : {}), nameId: profile!.nameID, mail: profile!['mail'] as string });
          response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
          response.end(`signed in: ${profile!.nameID}`);
        })
        .catch((error: Error) => {
          hits.push({ error: error.message });
          response.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
          response.end(`refused: ${error.message}`);
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const acs = `http://127.0.0.1:${(server.address() as AddressInfo).port}/acs`;
  sp = make(acs);
  return {
    sp,
    acs,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A full SP-initiated login in Chromium: SP (Redirect) → IdP → portal → auto-POST → SP ACS, with and without JavaScript. */
(chromiumRunnable() ? describe : describe.skip)('SAML Web SSO in Chromium', () => {
  let stack: LocalStack;
  let chromium: ChromiumSession;
  let service: Awaited<ReturnType<typeof startServiceProvider>>;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, logLevel: 'SILENT', demoPassword: PASSWORD });
    const issuer = `${stack.url}/t/demo`;
    const metadata = await (await fetch(`${issuer}/saml/metadata`)).text();
    const idpCert = /<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/.exec(metadata)![1]!;
    const signing = await spCredentials('browser SP');
    const encryption = await spCredentials('browser SP encryption');
    const entityId = 'https://browser-sp.example.test/sp';
    service = await startServiceProvider(
      (acs) =>
        new SAML({
          entryPoint: `${issuer}/saml/sso`,
          issuer: entityId,
          callbackUrl: acs,
          idpCert,
          privateKey: signing.keyPem,
          publicCert: signing.certPem,
          decryptionPvk: encryption.keyPem,
          signatureAlgorithm: 'sha256',
          audience: entityId,
          wantAssertionsSigned: true,
          wantAuthnResponseSigned: true,
          identifierFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
          validateInResponseTo: 'always' as never,
        }),
    );
    const runtime = stack.runtime;
    const saml = createSaml(
      createOidc({ directory: runtime.directory, state: runtime.state, clock: runtime.clock, random: runtime.random }),
      runtime.directory,
    );
    await saml.serviceProviders.register('demo', service.sp.generateServiceProviderMetadata(encryption.certPem, signing.certPem));
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
    await service?.close();
    await stack?.close();
  });

  async function signIn(page: Page): Promise<void> {
    await page.waitForURL(/\/portal\/login\?/);
    expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe('Sign in');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  const reachAcs = (page: Page) => page.waitForURL((url) => url.href === service.acs, { timeout: 10_000 });

  it('signs in SP-initiated: the auto-submitting form posts the response to the ACS, node-saml accepts it', async () => {
    const page = await (await chromium.newContext()).newPage();
    const before = service.hits.length;
    await page.goto(await service.sp.getAuthorizeUrlAsync('browser-relay', undefined, {}));
    await signIn(page);
    await reachAcs(page);
    const hit = service.hits.slice(before);
    expect(hit).toHaveLength(1);
    expect(hit[0]!.error).toBeUndefined();
    expect(hit[0]!.relayState).toBe('browser-relay');
    expect(hit[0]!.nameId).toContain('@');
    expect(await page.locator('body').innerText()).toBe(`signed in: ${hit[0]!.nameId}`);

    // Same browser, second login: the SSO session answers, no portal page, straight to the ACS.
    await page.goto(await service.sp.getAuthorizeUrlAsync('', undefined, {}));
    await reachAcs(page);
    expect(service.hits.at(-1)!.error).toBeUndefined();
    expect(service.hits.at(-1)!.nameId).toBe(hit[0]!.nameId);
  });

  it('works without JavaScript: the visible Continue button submits the form', async () => {
    const page = await (await chromium.newContext({ javaScriptEnabled: false })).newPage();
    const before = service.hits.length;
    await page.goto(await service.sp.getAuthorizeUrlAsync('no-js', undefined, {}));
    await signIn(page);
    await page.waitForURL(/\/saml\/sso\/resume\?/);
    expect(await page.title()).toBe('Returning to the application');
    expect(service.hits.length).toBe(before);
    const button = page.getByRole('button', { name: 'Continue' });
    expect(await button.isVisible()).toBe(true);
    await button.click();
    await reachAcs(page);
    const hit = service.hits.slice(before);
    expect(hit).toHaveLength(1);
    expect(hit[0]!.error).toBeUndefined();
    expect(hit[0]!.relayState).toBe('no-js');
    expect(await page.locator('body').innerText()).toBe(`signed in: ${hit[0]!.nameId}`);
  });
});
