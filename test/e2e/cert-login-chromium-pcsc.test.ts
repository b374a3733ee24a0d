import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { decodeJwt } from 'jose';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { chromiumRunnable, launchChromium, type ChromiumSession } from '../support/chromium.ts';
import { ROOT } from '../support/emulator.ts';
import { DEMO_PASSWORD } from '../support/oidc-stack.ts';
import { basic, pkce, postForm } from '../support/oidc-flows.ts';
import { agentRequests, freePort, READER, startPcscd, tool, type Pcscd } from '../support/pcsc.ts';
import { agentDeviceLogin } from '../support/agent-device-login.ts';
import { cli, start, type Started } from '../support/processes.ts';

const AGENT = join(ROOT, 'agent', 'bin', 'cloudcard-agent.js');
const PKCS11 = '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';
const REDIRECT = 'https://rp.example.test/cb';
/**
 * Debian's Chromium reads managed policies from here. Machine-wide: the suite writes one uniquely named
 * file (its AutoSelectCertificateForUrls names only this run's listener origin) and removes it in afterAll.
 */
const POLICY_DIR = '/etc/chromium/policies/managed';

/**
 * Certificate login in a real browser with the cloud card (issue 12): headless Chromium with OpenSC's
 * PKCS#11 module in its NSS database (a HOME of the test's own), through pcscd, vpcd and the agent. The
 * card holds only a 9E (PIV Card Authentication) key, whose key signs without a PIN (SP 800-73-4), since
 * a headless browser cannot answer a PIN prompt; the AutoSelectCertificateForUrls policy picks its
 * certificate for the mutual-TLS listener. It signs in at the lower x509 level (amr sc + swk, no pin).
 */
(chromiumRunnable() ? describe : describe.skip)('certificate login in Chromium with the 9E card certificate through NSS, OpenSC, pcscd and the agent', () => {
  let dataDir: string;
  let stateDir: string;
  let home: string;
  let stack: LocalStack;
  let pcscd: Pcscd;
  let agent: Started | undefined;
  let chromium: ChromiumSession | undefined;
  let cardId = '';
  const policyFile = join(POLICY_DIR, `cloudcard-test-${randomUUID()}.json`);
  /** The outermost directory of POLICY_DIR this run had to create, if any. */
  let createdPolicyDir: string | undefined;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cc-chromium-data-'));
    stateDir = mkdtempSync(join(tmpdir(), 'cc-chromium-state-'));
    home = mkdtempSync(join(tmpdir(), 'cc-chromium-home-'));
    const port = await freePort();
    stack = await startLocalStack({ port, dataDir, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD, certListener: { port: 0 } });
    await stack.close();
    const enrolled = await cli(
      [
        '--data-dir',
        dataDir,
        '--json',
        'card',
        'enroll',
        'demo',
        'alice',
        '--slots',
        '9e',
        '--alg',
        'p256',
        '--pin',
        '123456',
        '--puk',
        '12345678',
        '--label',
        'browser card',
      ],
      {},
    );
    expect(enrolled.code).toBe(0);
    cardId = (JSON.parse(enrolled.stdout) as { card: { id: string } }).card.id;
    stack = await startLocalStack({ port, dataDir, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD, certListener: { port: 0 } });

    // NSS database: OpenSC's module, and the listener's self-signed certificate as a trusted peer ("P,,": a
    // trusted leaf; as a CA anchor, "C,,", Chromium 156 refuses it with ERR_CERT_INVALID, as it is no CA).
    const nssdb = `sql:${join(home, '.pki', 'nssdb')}`;
    mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
    expect((await tool('certutil', ['-N', '-d', nssdb, '--empty-password'])).status).toBe(0);
    const added = await tool('modutil', ['-dbdir', nssdb, '-add', 'OpenSC', '-libfile', PKCS11, '-force']);
    expect(added.stdout + added.stderr).toMatch(/added to database/i);
    // NSS asks an "unfriendly" token (one that needs a login) for its PIN before it lists its certificates
    // for client authentication, which headless Chromium cannot answer: PIV certificates are public, so
    // the OpenSC slots are declared PublicCerts (modutil has no option for it: pkcs11.txt's slotParams).
    const modules = join(home, '.pki', 'nssdb', 'pkcs11.txt');
    const publicCerts = `NSS=slotParams=(${[0, 1, 2, 3, 4, 5, 6, 7].map((slot) => `${slot}={slotFlags=[PublicCerts]}`).join(' ')})`;
    writeFileSync(modules, readFileSync(modules, 'utf8').replace(/(library=\S*opensc-pkcs11\.so\nname=OpenSC\n)/, `$1${publicCerts}\n`));
    writeFileSync(join(home, 'listener.pem'), stack.certListenerPem!);
    expect((await tool('certutil', ['-A', '-d', nssdb, '-n', 'cloudcard listener', '-t', 'P,,', '-i', join(home, 'listener.pem')])).status).toBe(0);

    const certOrigin = new URL(stack.certUrl!).origin;
    createdPolicyDir = mkdirSync(POLICY_DIR, { recursive: true });
    writeFileSync(
      policyFile,
      JSON.stringify({ AutoSelectCertificateForUrls: [JSON.stringify({ pattern: certOrigin, filter: { ISSUER: { CN: 'demo card CA' } } })] }),
    );

    pcscd = await startPcscd();
    await agentDeviceLogin(AGENT, stateDir, `${stack.url}/t/demo`);
    agent = start([AGENT, '--state-dir', stateDir, 'run', '--vpcd-port', String(pcscd.vpcdPort), '--slots', '1', '--verbose'], {
      CLOUDCARD_AGENT_HOME: stateDir,
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !new RegExp(`Yes\\s+${READER} 00 00`).test((await tool('opensc-tool', ['--list-readers'])).stdout))
      await new Promise((r) => setTimeout(r, 200));
    // NSS sees the card's 9E certificate through OpenSC.
    const listed = await tool('certutil', ['-L', '-d', nssdb, '-h', 'all']);
    expect(listed.stdout).toMatch(/Card Authentication/i);
    // CHROMIUM_DEBUG_ARGS: extra flags when debugging, e.g. --log-net-log=/tmp/net.json --net-log-capture-mode=Everything.
    chromium = await launchChromium({
      env: { HOME: home },
      args: [`--host-resolver-rules=MAP ${new URL(REDIRECT).hostname} ~NOTFOUND`, ...(process.env['CHROMIUM_DEBUG_ARGS'] ?? '').split(' ').filter(Boolean)],
    });
  }, 180_000);

  afterAll(async () => {
    rmSync(policyFile, { force: true });
    // The directories this run created go too, innermost first, each only if empty (another run's file stays).
    for (let dir = POLICY_DIR; createdPolicyDir && dir.startsWith(createdPolicyDir); dir = dirname(dir)) {
      try {
        rmdirSync(dir);
      } catch {
        break;
      }
    }
    await chromium?.close();
    agent?.child.kill('SIGTERM');
    await agent?.exited;
    // AGENT_LOG=<file> keeps the agent's log (APDU command bytes and status words) for debugging.
    if (process.env['AGENT_LOG'] && agent) writeFileSync(process.env['AGENT_LOG'], agent.stderr());
    await pcscd?.stop();
    await stack?.close();
    for (const dir of [dataDir, stateDir, home]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('"Sign in with your smart card" completes with the card key; the RP gets acr x509 and amr sc + swk (no PIN)', async () => {
    const issuer = `${stack.url}/t/demo`;
    const issued = await directoryServices(stack.runtime).clients.create(
      'demo',
      { client_name: 'chromium RP', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], scope: 'openid' },
      'admin',
    );
    const client = { client_id: issued.client.client_id, client_secret: issued.clientSecret! };
    const { verifier, challenge } = pkce();
    const context = await chromium!.newContext();
    const page = await context.newPage();
    const network: string[] = [];
    page.on('request', (r) => network.push(`→ ${r.method()} ${r.url()}`));
    page.on('response', (r) => network.push(`← ${r.status()} ${r.url()}`));
    page.on('requestfailed', (r) => network.push(`✗ ${r.url()} ${r.failure()?.errorText ?? ''}`));
    const authorize = `${issuer}/oidc/authorize?${new URLSearchParams({ client_id: client.client_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256', acr_values: 'urn:cloudcard:acr:x509' })}`;
    await page.goto(authorize);
    const before = (await agentRequests(stateDir))[cardId] ?? 0;
    // The RP is not running (its host resolves nowhere, by --host-resolver-rules): the browser's request to
    // its redirect URI carries the code, redeemed here. (A route would not see it: it ends a redirect chain.)
    const toRp = page.waitForRequest((r) => r.url().startsWith(REDIRECT), { timeout: 30_000 });
    await page.click('#smartcard', { noWaitAfter: true });
    const callback = new URL(
      (
        await toRp.catch(async (error: Error) => {
          // Say where it stopped, what it loaded, and whether the card signed.
          const shown = await page
            .locator('body')
            .innerText()
            .catch(() => '(page unreadable)');
          throw new Error(
            `${error.message}\nthe browser stopped at ${page.url()}; card requests ${((await agentRequests(stateDir))[cardId] ?? 0) - before}\n${network.join('\n')}\n${shown.slice(0, 1_500)}`,
          );
        })
      ).url(),
    );
    // The TLS handshake's signature was made by the card service: the agent carried GENERAL AUTHENTICATE.
    expect((await agentRequests(stateDir))[cardId]! - before).toBeGreaterThanOrEqual(1);
    const code = callback.searchParams.get('code')!;
    expect(code).toBeTruthy();
    const token = await postForm(
      `${issuer}/oidc/token`,
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier },
      { Authorization: basic(client) },
    );
    expect(token.status).toBe(200);
    const claims = decodeJwt(String(token.body['id_token']));
    expect([claims.sub, claims['acr'], claims['amr']]).toEqual(['alice', 'urn:cloudcard:acr:x509', ['sc', 'swk']]);
  }, 120_000);
});
