import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { agentDeviceLogin } from '../support/agent-device-login.ts';
import { ROOT } from '../support/emulator.ts';
import { HttpBrowser } from '../support/http-browser.ts';
import { DEMO_PASSWORD } from '../support/oidc-stack.ts';
import { freePort } from '../support/pcsc.ts';
import { cli, start } from '../support/processes.ts';

const AGENT = join(ROOT, 'agent', 'bin', 'cloudcard-agent.js');
const PAYROLL = 'https://payroll.example.test/api';
const CALLBACK = 'http://127.0.0.1:9/callback';

/**
 * The agent's primary refresh token end to end through its own commands (no pcscd): `login --device`,
 * `token --resource` for scripts, and `browser-sso --print` followed over HTTP, against the local gateway
 * with the resource allowed by the operator CLI (`cloudcard client resources`).
 */
describe('cloudcard-agent token and browser-sso', () => {
  let dataDir: string;
  let stateDir: string;
  let port: number;
  let stack: LocalStack;
  const issuer = (): string => `${stack.url}/t/demo`;
  const startStack = async (): Promise<void> => {
    stack = await startLocalStack({ port, dataDir, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD });
  };
  const agent = async (...args: string[]) => {
    const run = start([AGENT, '--state-dir', stateDir, ...args], {});
    const code = await run.exited;
    return { code, stdout: run.stdout(), stderr: run.stderr() };
  };
  const storedRefreshToken = (): string => (JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as { refreshToken: string }).refreshToken;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cc-prt-data-'));
    stateDir = mkdtempSync(join(tmpdir(), 'cc-prt-state-'));
    port = await freePort();
    await startStack();
    await stack.close();
    // The operator allows the agent client one more service (the stack is stopped: one process at a time).
    const refused = await cli(['--data-dir', dataDir, 'client', 'resources', 'demo', 'cloudcard-agent', `${PAYROLL}#fragment`], {});
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('resources');
    expect((await cli(['--data-dir', dataDir, 'client', 'resources', 'demo', 'cloudcard-agent', PAYROLL], {})).code).toBe(0);
    await startStack();
    await agentDeviceLogin(AGENT, stateDir, issuer());
  });
  afterAll(async () => {
    await stack?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('token --resource prints a token for that service and rotates the stored PRT each time', async () => {
    const before = storedRefreshToken();
    const json = await agent('token', '--resource', PAYROLL, '--json');
    expect(json.code).toBe(0);
    const answer = JSON.parse(json.stdout) as { access_token: string; token_type: string; resource: string };
    expect(answer).toMatchObject({ token_type: expect.stringMatching(/^bearer$/i), resource: PAYROLL });
    expect(decodeJwt(answer.access_token)).toMatchObject({ aud: PAYROLL, sub: 'alice' });
    const afterFirst = storedRefreshToken();
    expect(afterFirst).not.toBe(before);

    const plain = await agent('token', '--resource', PAYROLL);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(storedRefreshToken()).not.toBe(afterFirst);

    const refused = await agent('token', '--resource', 'https://other.example.test/api');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('invalid_target');
    // A refused target spends nothing: the PRT still works.
    expect((await agent('token', '--resource', PAYROLL)).code).toBe(0);
  });

  it('browser-sso --print gives a one-time URL that signs the browser in and goes on to the target; a replay is refused', async () => {
    const target = `${issuer()}/oidc/authorize?${new URLSearchParams({ client_id: 'cloudcard-agent', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', prompt: 'none', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGGSN7FLYM', code_challenge_method: 'S256' })}`;
    const printed = await agent('browser-sso', target, '--print');
    expect(printed.code).toBe(0);
    const url = printed.stdout.trim();
    expect(url).toMatch(new RegExp(`^${issuer()}/portal/sso\\?transfer=`));

    const landed = await new HttpBrowser().follow(url, CALLBACK);
    expect(new URL(landed.url).searchParams.get('code')).toBeTruthy();

    const replay = await new HttpBrowser().request(url);
    expect(replay.status).toBe(410);
    expect(await replay.text()).toContain('already been used');

    const elsewhere = await agent('browser-sso', 'https://evil.example.test/', '--print');
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('invalid_request');
  });
});
