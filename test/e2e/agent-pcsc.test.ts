import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPublicKey, verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { ROOT } from '../support/emulator.ts';
import { DEMO_PASSWORD } from '../support/oidc-stack.ts';
import { agentRequests, agentStats, freePort, READER, startPcscd, tool, type Pcscd } from '../support/pcsc.ts';
import { agentDeviceLogin } from '../support/agent-device-login.ts';
import { cli, start, type Started } from '../support/processes.ts';

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
  const agents: Started[] = [];
  const startAgent = (): Started => {
    const started = start([AGENT, '--state-dir', stateDir, 'run', '--vpcd-port', String(pcscd.vpcdPort), '--verbose'], { CLOUDCARD_AGENT_HOME: stateDir });
    agents.push(started);
    return started;
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cc-agent-data-'));
    stateDir = mkdtempSync(join(tmpdir(), 'cc-agent-state-'));
    port = await freePort();
    await startStack();
    await stack.close();
    // Debian's yubico-piv-tool 2.2 authenticates with 3DES management keys only (AES came in 2.3).
    expect((await cli(['--data-dir', dataDir, 'tenant', 'update', 'demo', '--management-alg', '3des'], {})).code).toBe(0);
    // Cards are enrolled by the operator CLI on the local data directory (the stack is stopped: one process at a time).
    for (const [name, alg] of [
      ['rsa', 'rsa2048'],
      ['ec', 'p256'],
    ] as const) {
      const enrolled = await cli(
        ['--data-dir', dataDir, '--json', 'card', 'enroll', 'demo', 'alice', '--alg', alg, '--pin', PIN, '--puk', PUK, '--label', `${name} card`],
        {},
      );
      expect(enrolled.code).toBe(0);
      const result = JSON.parse(enrolled.stdout) as { card: { id: string }; managementKey: { hex: string } };
      cards[name] = { id: result.card.id, managementKey: result.managementKey.hex };
    }
    await startStack();
    pcscd = await startPcscd();

    // Sign in with the agent's device flow; the user approves in the portal.
    await agentDeviceLogin(AGENT, stateDir, issuer());
    expect(statSync(join(stateDir, 'state.json')).mode & 0o777).toBe(0o600);

    agent = startAgent();
    await waitForLog(agent, /running/);
    await cardsPresent(2);
  }, 180_000);

  afterAll(async () => {
    agent?.child.kill('SIGTERM');
    await agent?.exited;
    // AGENT_LOG=<file> keeps the agents' logs (APDU command bytes and status words) for debugging.
    if (process.env['AGENT_LOG']) writeFileSync(process.env['AGENT_LOG'], agents.map((a) => a.stderr()).join('\n'));
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
    ['rsa', '02', 'SHA256-RSA-PKCS'],
    ['ec', '01', 'ECDSA-SHA256'],
  ] as const)('signs with the %s card’s key %s through pkcs11-tool; openssl verifies against the card certificate', async (name, id, mechanism) => {
    const work = mkdtempSync(join(tmpdir(), 'cc-sign-'));
    try {
      const data = join(work, 'data');
      writeFileSync(data, 'signed by a cloud card');
      const signature = join(work, 'sig');
      const signed = await tool(
        'pkcs11-tool',
        pkcs11(
          name,
          '--login',
          '--pin',
          PIN,
          '--sign',
          '--id',
          id,
          '--mechanism',
          mechanism,
          '--input-file',
          data,
          '--output-file',
          signature,
          ...(mechanism.startsWith('ECDSA') ? ['--signature-format', 'openssl'] : []),
        ),
      );
      expect(signed.stderr).not.toMatch(/error/i);
      expect(signed.status).toBe(0);
      const cert = await tool('pkcs11-tool', pkcs11(name, '--read-object', '--type', 'cert', '--id', id, '--output-file', join(work, 'cert.der')));
      expect(cert.status).toBe(0);
      const certificate = new X509Certificate(readFileSync(join(work, 'cert.der')));
      writeFileSync(join(work, 'pub.pem'), certificate.publicKey.export({ type: 'spki', format: 'pem' }));
      const checked = await tool('openssl', ['dgst', '-sha256', '-verify', join(work, 'pub.pem'), '-signature', signature, data]);
      expect(checked.stdout).toContain('Verified OK');
      expect(
        verify('sha256', readFileSync(data), createPublicKey(certificate.publicKey.export({ type: 'spki', format: 'pem' })), readFileSync(signature)),
      ).toBe(true);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  /** Signs with pkcs11-tool and checks the signature against the slot certificate. */
  const signAndVerify = async (name: 'rsa' | 'ec', id = '01'): Promise<void> => {
    const mechanism = name === 'rsa' ? 'SHA256-RSA-PKCS' : 'ECDSA-SHA256';
    const work = mkdtempSync(join(tmpdir(), 'cc-sign-'));
    try {
      writeFileSync(join(work, 'data'), `signed at ${Date.now()}`);
      const signed = await tool(
        'pkcs11-tool',
        pkcs11(
          name,
          '--login',
          '--pin',
          PIN,
          '--sign',
          '--id',
          id,
          '--mechanism',
          mechanism,
          '--input-file',
          join(work, 'data'),
          '--output-file',
          join(work, 'sig'),
          ...(name === 'ec' ? ['--signature-format', 'openssl'] : []),
        ),
      );
      expect(signed.stderr).not.toMatch(/error/i);
      const cert = await tool('pkcs11-tool', pkcs11(name, '--read-object', '--type', 'cert', '--id', id, '--output-file', join(work, 'cert.der')));
      expect(cert.status).toBe(0);
      const publicKey = new X509Certificate(readFileSync(join(work, 'cert.der'))).publicKey;
      expect(verify('sha256', readFileSync(join(work, 'data')), publicKey, readFileSync(join(work, 'sig')))).toBe(true);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  };

  const stats = (): Promise<Record<string, number>> => agentRequests(stateDir);

  it('makes two HTTPS requests per pkcs11-tool login+sign: VERIFY and GENERAL AUTHENTICATE', async () => {
    await signAndVerify('rsa'); // warm: the first run after insertion learns the static answers
    const before = (await stats())[cards.rsa.id]!;
    await signAndVerify('rsa');
    const after = (await stats())[cards.rsa.id]!;
    expect(after - before).toBe(2);
  });

  it('answers vpcd without a delayed-ACK wait: nearly no vpcd message of a login+sign takes > 20 ms to arrive (TCP_QUICKACK re-armed)', async () => {
    // Debian 12's vpcd (0.8) sends each message's length and payload in two writes on a Nagle socket; without
    // quick-ACK on the agent's socket, each payload waits ~40 ms for the delayed ACK, i.e. nearly every turn is slow.
    const before = (await agentStats(stateDir)).turns[cards.rsa.id]!;
    for (let run = 0; run < 3; run++) await signAndVerify('rsa');
    const after = (await agentStats(stateDir)).turns[cards.rsa.id]!;
    const turns = after.turns - before.turns;
    const slow = after.slow - before.slow;
    expect(turns).toBeGreaterThan(60); // ~45 messages per login+sign
    // A few may stall on a loaded machine's scheduler; the delayed ACK would make it nearly all of them.
    expect(slow).toBeLessThanOrEqual(Math.ceil(turns / 10));
  });

  it('passes pkcs11-tool --login --test', async () => {
    const tested = await tool('pkcs11-tool', pkcs11('rsa', '--login', '--pin', PIN, '--test'), { timeoutMs: 120_000 });
    expect(tested.stdout + tested.stderr).toMatch(/No errors/);
    expect(tested.status).toBe(0);
  });

  it('drives the card with yubico-piv-tool: status, and generate and import-certificate after 9B authentication', async () => {
    const reader = readerOf('rsa');
    const piv = (...args: string[]) => tool('yubico-piv-tool', ['-r', reader, ...args]);
    // The card stays powered between tools (pcscd leaves it), so an earlier login may still hold: log out
    // (VERIFY P1=FF), or the status query answers "verified" instead of the tries left.
    expect((await tool('opensc-tool', ['--reader', reader, '--send-apdu', '00:20:FF:80'])).stdout).toMatch(/SW1=0x90, SW2=0x00/);
    const status = await piv('-a', 'status');
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(/Slot 9a:/);
    expect(status.stdout).toMatch(/PIN tries left:\s+3/);

    const work = mkdtempSync(join(tmpdir(), 'cc-ykpiv-'));
    try {
      const generated = await piv(`--key=${cards.rsa.managementKey}`, '-a', 'generate', '-s', '9e', '-A', 'RSA2048', '-o', join(work, 'pub.pem'));
      expect(generated.status).toBe(0);
      expect(readFileSync(join(work, 'pub.pem'), 'utf8')).toContain('BEGIN PUBLIC KEY');
      // Debian's yubico-piv-tool 2.2 cannot `selfsign` on OpenSSL 3 with any card (Yubico/yubico-piv-tool#388:
      // "Failed signing certificate" before a single APDU), so the certificate for the generated key comes
      // from a test CA here, and the card proves it holds the key by signing through pkcs11-tool.
      const certificatePem = await issueTestCertificate(readFileSync(join(work, 'pub.pem'), 'utf8'), 'CN=yubico imported');
      writeFileSync(join(work, 'cert.pem'), certificatePem);
      const imported = await piv(`--key=${cards.rsa.managementKey}`, '-a', 'import-certificate', '-s', '9e', '-i', join(work, 'cert.pem'));
      expect(imported.status).toBe(0);
      // OpenSC reads the new certificate of the card-authentication key (ID 04).
      const read = await tool('pkcs15-tool', ['--reader', reader, '--read-certificate', '04']);
      expect(new X509Certificate(read.stdout).subject).toBe('CN=yubico imported');
      await signAndVerify('rsa', '04');
      // A wrong management key is refused.
      expect((await piv('--key=0102030405060708010203040506070801020304050607ff', '-a', 'generate', '-s', '9e', '-o', join(work, 'x.pem'))).status).not.toBe(0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('counts wrong PINs down through OpenSC, locks at zero, and unblocks with the PUK', async () => {
    const reader = readerOf('ec');
    const wrongPin = Buffer.from('999999\xff\xff', 'latin1').toString('hex');
    /** opensc-tool sends raw APDUs and prints the status word the card (via the agent) answered. */
    const send = async (apdu: string): Promise<string> => {
      const sent = await tool('opensc-tool', ['--reader', reader, '--send-apdu', apdu]);
      return /SW1=0x([0-9A-F]{2}), SW2=0x([0-9A-F]{2})/i.exec(sent.stdout)?.slice(1).join('').toUpperCase() ?? sent.stdout + sent.stderr;
    };
    // The PIN may still be verified from the last test: pcscd powers an idle card down (clearing it) only
    // after a grace period, which a fast agent no longer outlasts. VERIFY P1=FF clears it explicitly.
    expect(await send('00:20:FF:80')).toBe('9000');
    expect(await send('00:20:00:80')).toBe('63C3');
    const wrong = await tool('pkcs11-tool', pkcs11('ec', '--login', '--pin', '999999', '-O'));
    expect(wrong.stderr).toContain('CKR_PIN_INCORRECT');
    expect(await send('00:20:00:80')).toBe('63C2');
    expect(await send(`00:20:00:80:08:${wrongPin.match(/../g)!.join(':')}`)).toBe('63C1');
    expect(await send(`00:20:00:80:08:${wrongPin.match(/../g)!.join(':')}`)).toBe('63C0');
    const locked = await tool('pkcs11-tool', pkcs11('ec', '--login', '--pin', PIN, '-O'));
    expect(locked.stderr).toContain('CKR_PIN_LOCKED');
    const unblocked = await tool('pkcs15-tool', ['--reader', reader, '--unblock-pin', '--auth-id', '01', '--puk', PUK, '--new-pin', PIN]);
    expect(unblocked.stdout + unblocked.stderr).not.toMatch(/error|failed/i);
    expect(await send('00:20:00:80')).toBe('63C3');
    await signAndVerify('ec');
  });

  it('two agents, one card: the second takes it over, the first removes it and says why, re-inserting takes it back', async () => {
    // The second agent runs "on another computer": its own vpcd stand-in on loopback.
    const { createServer } = await import('node:net');
    const elsewhere = createServer(() => undefined);
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    const otherState = mkdtempSync(join(tmpdir(), 'cc-agent-other-'));
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(otherState, 'state.json'), JSON.stringify(state), { mode: 0o600 });
    const second = start([AGENT, '--state-dir', otherState, 'run', '--vpcd-port', String((elsewhere.address() as { port: number }).port), '--slots', '1'], {});
    try {
      await waitForLog(second, /running/);
      // The first agent learns it lost the card at its next request to the service.
      const refused = await tool('pkcs11-tool', pkcs11(ordered()[0]!, '--login', '--pin', PIN, '-O'));
      expect(refused.status).not.toBe(0);
      await waitForLog(agent, /removed from the reader: another client opened a session/);
      await cardsPresent(1);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
      elsewhere.close();
      rmSync(otherState, { recursive: true, force: true });
    }
    const reinserted = start([AGENT, '--state-dir', stateDir, 'cards', 'insert', firstCard()], {});
    expect(await reinserted.exited).toBe(0);
    await cardsPresent(2);
    await signAndVerify(ordered()[0]!);
  });

  it('comes back by itself after the agent is killed, pcscd restarts, and the gateway restarts', async () => {
    agent.child.kill('SIGKILL');
    await agent.exited;
    agent = startAgent();
    await waitForLog(agent, /running/);
    await cardsPresent(2);
    await signAndVerify('rsa');

    await pcscd.restart();
    await cardsPresent(2, 60_000);
    await signAndVerify('ec');

    await stack.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await startStack();
    await signAndVerify('rsa');
  }, 240_000);

  // Last: it leaves the RSA card with PIN and PUK blocked.
  it('refuses what would wipe or weaken the card: `-a generate --pin-policy=never`, and `-a reset` with PIN and PUK blocked', async () => {
    const reader = readerOf('rsa');
    const piv = (...args: string[]) => tool('yubico-piv-tool', ['-r', reader, ...args]);
    const work = mkdtempSync(join(tmpdir(), 'cc-ykpiv-'));
    try {
      const never = await piv(
        `--key=${cards.rsa.managementKey}`,
        '-a',
        'generate',
        '-s',
        '9a',
        '-A',
        'ECCP256',
        '--pin-policy=never',
        '-o',
        join(work, 'pub.pem'),
      );
      expect(never.status).not.toBe(0);
      // Debian's 2.2 prints only "Key generation failed."; the agent's trace shows the card's answer.
      await waitForLog(agent, /ins=47 sw=6a80 server/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    for (let i = 0; i < 3; i++) expect((await piv('-a', 'verify-pin', '-P', '000000')).status).not.toBe(0);
    for (let i = 0; i < 3; i++) expect((await piv('-a', 'unblock-pin', '-P', '00000000', '-N', PIN)).status).not.toBe(0);
    const reset = await piv('-a', 'reset');
    expect(reset.status).not.toBe(0);
    expect(reset.stdout).not.toMatch(/Successfully reset/);
    await waitForLog(agent, /ins=fb sw=6985 server/);
    // Nothing was wiped: the slots still hold their keys and certificates, and the PIN stays blocked.
    const status = await piv('-a', 'status');
    expect(status.stdout).toMatch(/Slot 9a:/);
    expect(status.stdout).toMatch(/Slot 9e:/);
    expect(status.stdout).toMatch(/PIN tries left:\s+0/);
  });

  /** The card kinds in reader order, and the id of the one in reader 0. */
  const ordered = (): Array<'rsa' | 'ec'> => (cards.rsa.id < cards.ec.id ? ['rsa', 'ec'] : ['ec', 'rsa']);
  const firstCard = (): string => cards[ordered()[0]!].id;
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

/** A certificate for a public key (PEM), from a throwaway test CA. */
async function issueTestCertificate(publicKeyPem: string, subject: string): Promise<string> {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  const { webcrypto } = await import('node:crypto');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[1]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const ca = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
  const spki = createPublicKey(publicKeyPem).export({ format: 'der', type: 'spki' });
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: '01',
    subject,
    issuer: 'CN=cloudcard test CA',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: algorithm,
    publicKey: new x509.PublicKey(Uint8Array.from(spki).buffer),
    signingKey: ca.privateKey,
  });
  return certificate.toString('pem');
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
