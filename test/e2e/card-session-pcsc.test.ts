import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, verify } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { ROOT } from '../support/emulator.ts';
import { DEMO_PASSWORD } from '../support/oidc-stack.ts';
import { agentRequests, freePort, READER, readerEvents, startPcscd, tool, type Pcscd } from '../support/pcsc.ts';
import { agentDeviceLogin } from '../support/agent-device-login.ts';
import { cli, start, type Started } from '../support/processes.ts';

const AGENT = join(ROOT, 'agent', 'bin', 'cloudcard-agent.js');
const PIN = '123456';
const PKCS11 = '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';
/** The shortest card session the tenant configuration allows; the verified PIN may be carried 30 s past it. */
const SESSION_SECONDS = 60;
const PIN_MAX_SECONDS = 90;

/**
 * Long-lived logins through a real PKCS#11 consumer (issue 15): ssh-agent holds OpenSC's login across the
 * card session's expiry because the agent renews the session with the verified PIN; when the server ends
 * it (the tenant's cardPinMaxSeconds), the agent makes pcscd see a removal and re-insertion, so the
 * middleware's stale login is dropped and the PIN is asked (and accepted) again.
 * Time line (session opened at T): renewal at ~T+40 s, signature at > T+60 s, end of the session at T+90 s.
 */
describe('card session renewal and end through pcscd, ssh-agent and pkcs11-tool', () => {
  let dataDir: string;
  let stateDir: string;
  let work: string;
  let stack: LocalStack;
  let pcscd: Pcscd;
  let agent: Started | undefined;
  let sshAgent: ChildProcess | undefined;
  /** No later than this (epoch ms), the card session the agent opened at start expires unless renewed. */
  let firstExpiry = 0;
  let cardId = '';

  const ssh = (command: string, args: string[]) =>
    tool(command, args, {
      env: { SSH_AUTH_SOCK: join(work, 'agent.sock'), SSH_ASKPASS: join(work, 'askpass'), SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
      timeoutMs: 120_000,
    });

  /** `ssh-keygen -Y sign` with the card's PIV Authentication key through ssh-agent; verified against the key ssh-add listed. */
  const sshSign = async (): Promise<{ status: number | null; stderr: string }> => {
    const data = join(work, `data-${Date.now()}`);
    writeFileSync(data, `signed through ssh-agent at ${new Date().toISOString()}`);
    const signed = await ssh('ssh-keygen', ['-Y', 'sign', '-f', join(work, 'card.pub'), '-n', 'file', data]);
    if (signed.status !== 0) return signed;
    const checked = await tool('ssh-keygen', ['-Y', 'verify', '-f', join(work, 'allowed_signers'), '-I', 'alice', '-n', 'file', '-s', `${data}.sig`], {
      input: readFileSync(data, 'utf8'),
    });
    expect(checked.stdout + checked.stderr).toContain('Good "file" signature for alice');
    return signed;
  };

  /** Loads the card's keys into ssh-agent (the PIN from the askpass script) and keeps the 9A key's public half. */
  const sshAddCard = async (): Promise<void> => {
    const added = await ssh('ssh-add', ['-s', PKCS11]);
    expect(added.stdout + added.stderr).toMatch(/Card added/);
    expect(added.status).toBe(0);
    const listed = await ssh('ssh-add', ['-L']);
    const key = listed.stdout.split('\n').find((line) => /PIV AUTH/i.test(line)) ?? listed.stdout.split('\n')[0]!;
    writeFileSync(join(work, 'card.pub'), `${key}\n`);
    writeFileSync(join(work, 'allowed_signers'), `alice ${key.split(' ').slice(0, 2).join(' ')}\n`);
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cc-renew-data-'));
    stateDir = mkdtempSync(join(tmpdir(), 'cc-renew-state-'));
    work = mkdtempSync(join(tmpdir(), 'cc-renew-work-'));
    const port = await freePort();
    stack = await startLocalStack({ port, dataDir, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD });
    await stack.close();
    const enrolled = await cli(
      ['--data-dir', dataDir, '--json', 'card', 'enroll', 'demo', 'alice', '--alg', 'p256', '--pin', PIN, '--puk', '12345678', '--label', 'ssh card'],
      {},
    );
    expect(enrolled.code).toBe(0);
    cardId = (JSON.parse(enrolled.stdout) as { card: { id: string } }).card.id;
    stack = await startLocalStack({ port, dataDir, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD });
    await directoryServices(stack.runtime).tenants.update('demo', {
      sessionLifetimes: { cardSessionSeconds: SESSION_SECONDS, cardPinIdleSeconds: PIN_MAX_SECONDS, cardPinMaxSeconds: PIN_MAX_SECONDS },
    });
    writeFileSync(join(work, 'askpass'), `#!/bin/sh\necho ${PIN}\n`);
    chmodSync(join(work, 'askpass'), 0o700);
    pcscd = await startPcscd();
    await agentDeviceLogin(AGENT, stateDir, `${stack.url}/t/demo`);
    const starting = Date.now();
    agent = start([AGENT, '--state-dir', stateDir, 'run', '--vpcd-port', String(pcscd.vpcdPort), '--verbose'], { CLOUDCARD_AGENT_HOME: stateDir });
    await waitForLog(agent, /inserted in reader slot 0/);
    // The session was opened between the agent's start and this log line.
    firstExpiry = Date.now() + SESSION_SECONDS * 1000;
    expect(starting).toBeLessThan(firstExpiry);
    await cardPresent();
    sshAgent = spawn('ssh-agent', ['-D', '-a', join(work, 'agent.sock')], { stdio: 'ignore' });
    const socketBy = Date.now() + 10_000;
    while (!existsSync(join(work, 'agent.sock')) && Date.now() < socketBy) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(work, 'agent.sock'))).toBe(true);
  }, 180_000);

  afterAll(async () => {
    if (sshAgent && sshAgent.exitCode === null) {
      const exited = new Promise((resolve) => sshAgent!.once('exit', resolve));
      sshAgent.kill('SIGTERM');
      await exited;
    }
    agent?.child.kill('SIGTERM');
    await agent?.exited;
    if (process.env['AGENT_LOG'] && agent) writeFileSync(process.env['AGENT_LOG'], agent.stderr());
    await pcscd?.stop();
    await stack?.close();
    for (const dir of [dataDir, stateDir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ssh-add -s loads the card key with the PIN; ssh-keygen -Y sign works through ssh-agent', async () => {
    await sshAddCard();
    const signed = await sshSign();
    expect(signed.stderr).not.toMatch(/refused|error/i);
    expect(signed.status).toBe(0);
  });

  it('signs through ssh-agent after the original session expiry: the agent renewed it with the verified PIN', async () => {
    await waitForLog(agent!, /session renewed with the verified PIN/, SESSION_SECONDS * 1000);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstExpiry + 1_000 - Date.now())));
    const signed = await sshSign();
    expect(signed.stderr).not.toMatch(/refused|error/i);
    expect(signed.status).toBe(0);
    expect(agent!.stderr()).not.toMatch(/session ended by the server/);
  }, 120_000);

  it('at the tenant maximum the reader reports a removal and re-insertion; the PIN is asked and accepted again', async () => {
    const reader = `${READER} 00 00`;
    const before = (await readerEvents())[reader]!;
    expect(before.present).toBe(true);
    await waitForLog(agent!, /session ended by the server \(the verified PIN reached the tenant's maximum lifetime/, PIN_MAX_SECONDS * 1000);
    // pcscd itself saw the card leave and come back (its event counter counts both), not just a new session.
    let after = before;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && !(after.present && after.events >= before.events + 2);) {
      await new Promise((r) => setTimeout(r, 200));
      after = (await readerEvents())[reader]!;
    }
    expect(after).toEqual({ present: true, events: before.events + 2 });
    // OpenSC inside ssh-agent dropped its login with the removed token: ssh-agent's key now fails at once,
    // without sending a signature to the card behind a login it wrongly believes in (as with a physical
    // card pulled out, ssh-agent does not log in again by itself: the card is re-added below).
    const requestsBefore = (await agentRequests(stateDir))[cardId] ?? 0;
    const stale = await sshSign();
    expect(stale.status).not.toBe(0);
    expect((await agentRequests(stateDir))[cardId] ?? 0).toBe(requestsBefore);
    // pkcs11-tool logs in again with the PIN and signs; the signature checks against the 9A certificate.
    const data = join(work, 'p11-data');
    writeFileSync(data, 'signed after the session ended');
    const signed = await tool('pkcs11-tool', [
      '--module',
      PKCS11,
      '--slot-description',
      `${READER} 00 00`,
      '--login',
      '--pin',
      PIN,
      '--sign',
      '--id',
      '01',
      '--mechanism',
      'ECDSA-SHA256',
      '--signature-format',
      'openssl',
      '--input-file',
      data,
      '--output-file',
      join(work, 'p11.sig'),
    ]);
    expect(signed.stderr).not.toMatch(/error/i);
    expect(signed.status).toBe(0);
    expect(
      (
        await tool('pkcs11-tool', [
          '--module',
          PKCS11,
          '--slot-description',
          `${READER} 00 00`,
          '--read-object',
          '--type',
          'cert',
          '--id',
          '01',
          '--output-file',
          join(work, 'card.der'),
        ])
      ).status,
    ).toBe(0);
    expect(verify('sha256', readFileSync(data), new X509Certificate(readFileSync(join(work, 'card.der'))).publicKey, readFileSync(join(work, 'p11.sig')))).toBe(
      true,
    );
    // ssh-agent's login went with the removed card: re-adding the card asks for the PIN again, and it signs.
    await ssh('ssh-add', ['-e', PKCS11]);
    await sshAddCard();
    const again = await sshSign();
    expect(again.stderr).not.toMatch(/refused|error/i);
    expect(again.status).toBe(0);
  }, 150_000);
});

/** pcscd polls vpcd for presence: wait until the first reader shows the card. */
async function cardPresent(timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let readers = '';
  while (Date.now() < deadline) {
    readers = (await tool('opensc-tool', ['--list-readers'])).stdout;
    if (new RegExp(`Yes\\s+${READER} 00 00`).test(readers)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no card in ${READER} 00 00:\n${readers}`);
}

async function waitForLog(started: Started, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pattern.test(started.stderr())) return;
    if (started.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${pattern} in the log:\n${started.stderr()}\n${started.stdout()}`);
}
