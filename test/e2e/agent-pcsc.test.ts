import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createPublicKey, verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { ROOT } from '../support/emulator.ts';
import { formOf, HttpBrowser } from '../support/http-browser.ts';
import { DEMO_PASSWORD } from '../support/oidc-stack.ts';
import { freePort, READER, startPcscd, tool, type Pcscd } from '../support/pcsc.ts';
import { cli, start, waitFor, type Started } from '../support/processes.ts';

const AGENT = join(ROOT, 'agent', 'bin', 'cloudcard-agent.js');
const PIN = '123456';
const PUK = '12345678';
const PKCS11 = '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';

/**
 * The client agent end to end with real components: Debian's pcscd with vsmartcard's vpcd, OpenSC
 * (opensc-tool, pkcs15-tool, pkcs11-tool) and yubico-piv-tool, against the local gateway, with cards
 * enrolled through the operator CLI and a sign-in through the agent's own device flow.
 */
describe('cloudcard-agent with pcscd, vpcd, OpenSC and yubico-piv-tool', () => {
  let dataDir: string;
  let stateDir: string;
  let port: number;
  let stack: LocalStack;
  let pcscd: Pcscd;
  let agent: Started;
  const cards: Record<'rsa' | 'ec', { id: string; managementKey: string }> = { rsa: { id: '', managementKey: '' }, ec: { id: '', managementKey: '' } };

  const issuer = (): string => `${stack.url}/t/demo`;
  /** The agent fills reader slots in the card list's order (ascending card id). */
  const readerOf = (name: 'rsa' | 'ec'): string => {
    const ordered = [cards.rsa.id, cards.ec.id].sort();
    return `${READER} 00 0${ordered.indexOf(cards[name].id)}`;
  };
  const pkcs11 = (name: 'rsa' | 'ec', ...args: string[]): string[] => ['--module', PKCS11, '--slot-description', readerOf(name), ...args];
  const startStack = async (): Promise<void> => {
    stack = await startLocalStack({ port, dataDir, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD });
  };
  const startAgent = (): Started =>
    start([AGENT, '--state-dir', stateDir, 'run', '--vpcd-port', String(pcscd.vpcdPort), '--verbose'], { CLOUDCARD_AGENT_HOME: stateDir });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cc-agent-data-'));
    stateDir = mkdtempSync(join(tmpdir(), 'cc-agent-state-'));
    port = await freePort();
    await startStack();
    await stack.close();
    // Cards are enrolled by the operator CLI on the local data directory (the stack is stopped: one process at a time).
    for (const [name, alg] of [['rsa', 'rsa2048'], ['ec', 'p256']] as const) {
      const enrolled = await cli(['--data-dir', dataDir, '--json', 'card', 'enroll', 'demo', 'alice', '--alg', alg, '--pin', PIN, '--puk', PUK, '--label', `${name} card`], {});
      expect(enrolled.code).toBe(0);
      const result = JSON.parse(enrolled.stdout) as { card: { id: string }; managementKey: { hex: string } };
      cards[name] = { id: result.card.id, managementKey: result.managementKey.hex };
    }
    await startStack();
    pcscd = await startPcscd();

    // Sign in with the agent's device flow; the user approves in the portal.
    const login = start([AGENT, '--state-dir', stateDir, 'login', '--issuer', issuer(), '--device'], {});
    const [, url, code] = await waitFor(login, /open (\S+) and enter the code (\S+)/);
    const browser = new HttpBrowser();
    let page = await browser.follow(url!, 'never');
    const entry = formOf(await page.response.text());
    page = await browser.follow(entry.action, 'never', { form: { ...entry.fields, user_code: code! } });
    const form = formOf(await page.response.text());
    page = await browser.follow(form.action, 'never', { form: { ...form.fields, username: 'alice', password: DEMO_PASSWORD } });
    const confirm = formOf(await page.response.text());
    await browser.follow(confirm.action, 'never', { form: { ...confirm.fields, decision: 'allow' } });
    expect(await login.exited).toBe(0);
    expect(statSync(join(stateDir, 'state.json')).mode & 0o777).toBe(0o600);

    agent = startAgent();
    await waitForLog(agent, /running/);
    await cardsPresent(2);
  }, 180_000);

  afterAll(async () => {
    if (process.env['AGENT_LOG']) writeFileSync(process.env['AGENT_LOG'], agent?.stderr() ?? '');
    agent?.child.kill('SIGTERM');
    await agent?.exited;
    await pcscd?.stop();
    await stack?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('lists the cards through the agent CLI', async () => {
    const listed = start([AGENT, '--state-dir', stateDir, 'cards'], {});
    expect(await listed.exited).toBe(0);
    expect(listed.stdout()).toContain(cards.rsa.id);
    expect(listed.stdout()).toContain(cards.ec.id);
  });

  it('shows both cards in the vpcd readers to opensc-tool', async () => {
    const readers = await tool('opensc-tool', ['--list-readers']);
    expect(readers.stdout).toMatch(new RegExp(`Yes\\s+${READER} 00 00`));
    expect(readers.stdout).toMatch(new RegExp(`Yes\\s+${READER} 00 01`));
    const atr = await tool('opensc-tool', ['--reader', '0', '--atr']);
    expect(atr.status).toBe(0);
    expect(atr.stdout.trim()).toMatch(/^([0-9a-f]{2}:)+[0-9a-f]{2}$/);
  });

  it('lists certificates with pkcs15-tool and objects with pkcs11-tool', async () => {
    const certificates = await tool('pkcs15-tool', ['--reader', '0', '--list-certificates']);
    expect(certificates.status).toBe(0);
    expect(certificates.stdout).toContain('X.509 Certificate');
    const objects = await tool('pkcs11-tool', ['--module', PKCS11, '-L']);
    expect(objects.stdout).toContain(`${READER} 00 00`);
    expect(objects.stdout).toContain(`${READER} 00 01`);
    const listed = await tool('pkcs11-tool', pkcs11('rsa', '-O'));
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain('Certificate Object');
    expect(listed.stdout).toContain('Public Key Object; RSA 2048 bits');
    expect(listed.stdout).toContain('Certificate for PIV Authentication');
  });

  it.each([
    ['rsa', '01', 'SHA256-RSA-PKCS'],
    ['ec', '01', 'ECDSA-SHA256'],
    ['rsa', '02', 'SHA256-RSA-PKCS'],
  ] as const)('signs with the %s card’s key %s through pkcs11-tool; openssl verifies against the card certificate', async (name, id, mechanism) => {
    const work = mkdtempSync(join(tmpdir(), 'cc-sign-'));
    try {
      const data = join(work, 'data');
      writeFileSync(data, 'signed by a cloud card');
      const signature = join(work, 'sig');
      const signed = await tool('pkcs11-tool', pkcs11(name, '--login', '--pin', PIN, '--sign', '--id', id, '--mechanism', mechanism, '--input-file', data, '--output-file', signature, ...(mechanism.startsWith('ECDSA') ? ['--signature-format', 'openssl'] : [])));
      expect(signed.stderr).not.toMatch(/error/i);
      expect(signed.status).toBe(0);
      const cert = await tool('pkcs11-tool', pkcs11(name, '--read-object', '--type', 'cert', '--id', id, '--output-file', join(work, 'cert.der')));
      expect(cert.status).toBe(0);
      const certificate = new X509Certificate(readFileSync(join(work, 'cert.der')));
      writeFileSync(join(work, 'pub.pem'), certificate.publicKey.export({ type: 'spki', format: 'pem' }));
      const checked = await tool('openssl', ['dgst', '-sha256', '-verify', join(work, 'pub.pem'), '-signature', signature, data]);
      expect(checked.stdout).toContain('Verified OK');
      expect(verify('sha256', readFileSync(data), createPublicKey(certificate.publicKey.export({ type: 'spki', format: 'pem' })), readFileSync(signature))).toBe(true);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  void createHash;
});

/** pcscd polls vpcd for presence: wait until this many readers show a card. */
async function cardsPresent(count: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let readers = '';
  while (Date.now() < deadline) {
    readers = (await tool('opensc-tool', ['--list-readers'])).stdout;
    if ((readers.match(new RegExp(`Yes\\s+${READER}`, 'g')) ?? []).length === count) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`expected ${count} card(s) present:\n${readers}`);
}

async function waitForLog(started: Started, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pattern.test(started.stderr())) return;
    if (started.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${pattern} in the agent's log:\n${started.stderr()}\n${started.stdout()}`);
}
