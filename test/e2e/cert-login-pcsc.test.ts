import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { ROOT } from '../support/emulator.ts';
import { HttpBrowser } from '../support/http-browser.ts';
import { DEMO_PASSWORD } from '../support/oidc-stack.ts';
import { basic, pkce, postForm } from '../support/oidc-flows.ts';
import { agentRequests, freePort, READER, startPcscd, tool, type Pcscd } from '../support/pcsc.ts';
import { agentDeviceLogin } from '../support/agent-device-login.ts';
import { cli, start, type Started } from '../support/processes.ts';

const AGENT = join(ROOT, 'agent', 'bin', 'cloudcard-agent.js');
const PIN = '123456';
const PKCS11 = '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';
const REDIRECT = 'https://rp.example.test/cb';

/**
 * Certificate login with the card's own 9A key: curl's TLS handshake signs through OpenSSL's PKCS#11
 * engine (libp11), OpenSC, pcscd + vpcd and the cloudcard agent, i.e. with the key held by the card
 * service, after the PIN. The code it ends with is redeemed, and the ID token says how the user signed in.
 */
describe('certificate login with the cloud card through pcscd, the agent and curl', () => {
  let dataDir: string;
  let stateDir: string;
  let work: string;
  let stack: LocalStack;
  let pcscd: Pcscd;
  let agent: Started | undefined;
  let cardId = '';

  const startStack = async (port: number): Promise<void> => {
    stack = await startLocalStack({ port, dataDir, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD, certListener: { port: 0 } });
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cc-cert-data-'));
    stateDir = mkdtempSync(join(tmpdir(), 'cc-cert-state-'));
    work = mkdtempSync(join(tmpdir(), 'cc-cert-work-'));
    const port = await freePort();
    await startStack(port);
    await stack.close();
    const enrolled = await cli(
      ['--data-dir', dataDir, '--json', 'card', 'enroll', 'demo', 'alice', '--alg', 'p256', '--pin', PIN, '--puk', '12345678', '--label', 'login card'],
      {},
    );
    expect(enrolled.code).toBe(0);
    cardId = (JSON.parse(enrolled.stdout) as { card: { id: string } }).card.id;
    await startStack(port);
    pcscd = await startPcscd();
    const issuer = `${stack.url}/t/demo`;
    await agentDeviceLogin(AGENT, stateDir, issuer);
    agent = start([AGENT, '--state-dir', stateDir, 'run', '--vpcd-port', String(pcscd.vpcdPort)], { CLOUDCARD_AGENT_HOME: stateDir });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !/Yes\s+cloudcard-test/.test((await tool('opensc-tool', ['--list-readers'])).stdout))
      await new Promise((r) => setTimeout(r, 200));
    expect((await tool('opensc-tool', ['--list-readers'])).stdout).toMatch(new RegExp(`Yes\\s+${READER}`));
  }, 180_000);

  afterAll(async () => {
    agent?.child.kill('SIGTERM');
    await agent?.exited;
    await pcscd?.stop();
    await stack?.close();
    for (const dir of [dataDir, stateDir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('curl presents the 9A certificate, signs the handshake with the card key after the PIN, and the RP gets sc + pin', async () => {
    const issuer = `${stack.url}/t/demo`;
    const issued = await directoryServices(stack.runtime).clients.create(
      'demo',
      { client_name: 'pcsc RP', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], scope: 'openid' },
      'admin',
    );
    const client = { client_id: issued.client.client_id, client_secret: issued.clientSecret! };
    const cert = await tool('pkcs11-tool', ['--module', PKCS11, '--read-object', '--type', 'cert', '--id', '01', '--output-file', join(work, 'card.der')]);
    expect(cert.status).toBe(0);
    expect((await tool('openssl', ['x509', '-inform', 'DER', '-in', join(work, 'card.der'), '-out', join(work, 'card.pem')])).status).toBe(0);
    writeFileSync(join(work, 'listener.pem'), stack.certListenerPem!);

    const { verifier, challenge } = pkce();
    const browser = new HttpBrowser();
    const authorize = `${issuer}/oidc/authorize?${new URLSearchParams({ client_id: client.client_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256', acr_values: 'urn:cloudcard:acr:smartcard' })}`;
    const { response } = await browser.follow(authorize, REDIRECT);
    const link = /<a id="smartcard" href="([^"]+)"/.exec(await response.text())![1]!.replace(/&amp;/g, '&');
    const before = (await agentRequests(stateDir))[cardId] ?? 0;
    const curl = await tool(
      'curl',
      [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{redirect_url}',
        '--cacert',
        join(work, 'listener.pem'),
        '--engine',
        'pkcs11',
        '--key-type',
        'ENG',
        '--key',
        `pkcs11:id=%01;type=private;pin-value=${PIN}`,
        '--cert',
        join(work, 'card.pem'),
        link,
      ],
      { env: { PKCS11_MODULE_PATH: PKCS11 }, timeoutMs: 60_000 },
    );
    expect(curl.stderr).toBe('');
    const [status, location] = curl.stdout.split(' ');
    expect(status).toBe('303');
    // The handshake's signature was made by the card service: the agent carried APDUs for it (VERIFY, GENERAL AUTHENTICATE).
    expect((await agentRequests(stateDir))[cardId]! - before).toBeGreaterThanOrEqual(2);
    const { url: callback } = await browser.follow(location!, REDIRECT);
    const code = new URL(callback).searchParams.get('code')!;
    const token = await postForm(
      `${issuer}/oidc/token`,
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier },
      { Authorization: basic(client) },
    );
    expect(token.status).toBe(200);
    const claims = decodeJwt(String(token.body['id_token']));
    expect([claims.sub, claims['acr'], claims['amr']]).toEqual(['alice', 'urn:cloudcard:acr:smartcard', ['sc', 'pin', 'swk', 'mfa']]);
  });
});
