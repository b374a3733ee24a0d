import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildAgent } from '../../agent/build.ts';
import { buildDeb } from '../../agent/debian/build-deb.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { approveDevice } from '../support/device-approval.ts';
import { startStackOn } from '../support/oidc-stack.ts';
import { ROOT } from '../support/emulator.ts';

const run = promisify(execFile);
const AGENT_PACKAGE = JSON.parse(readFileSync(join(ROOT, 'agent/package.json'), 'utf8')) as { version: string };
/** The machine's Node (20 here), as an employee would have it, beside the project's Node 22. */
const SYSTEM_NODE = '/usr/bin/node';

/**
 * The client agent as employees get it, not from a clone: the npm package (one bundled file, no
 * TypeScript, no test payload) installed into a clean directory and run on Node 20 and 22, signing in
 * with the device flow and listing the user's cards; and the Debian package (dependencies checked by
 * dpkg against this machine, installed with dpkg -i into an isolated root, its unit file and binary).
 */
describe('cloudcard-agent packages', () => {
  const work = mkdtempSync(join(tmpdir(), 'cc-agent-pkg-'));
  let tarball: string;
  let installed: string;

  beforeAll(async () => {
    const staged = join(work, 'package');
    mkdirSync(staged);
    copyFileSync(join(ROOT, 'agent/package.json'), join(staged, 'package.json'));
    copyFileSync(join(ROOT, 'agent/README.md'), join(staged, 'README.md'));
    await buildAgent(join(staged, 'dist'));
    const packed = await run('npm', ['pack', staged, '--pack-destination', work, '--json'], { cwd: work });
    tarball = join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
    const clean = join(work, 'clean');
    mkdirSync(clean);
    writeFileSync(join(clean, 'package.json'), '{"private":true}\n');
    // --prefer-offline: koffi (optional) comes from the npm cache `npm ci` filled; without it the agent still runs.
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], { cwd: clean });
    installed = join(clean, 'node_modules/.bin/cloudcard-agent');
  }, 180_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('packs the bundle, its package.json and README only', async () => {
    const { stdout } = await run('tar', ['tzf', tarball]);
    const files = stdout.trim().split('\n').sort();
    expect(files).toEqual(['package/README.md', 'package/dist/cloudcard-agent.js', 'package/package.json']);
  });

  it('runs from the clean install on Node 20 and on Node 22, and says its version', async () => {
    for (const node of [SYSTEM_NODE, process.execPath]) {
      const { stdout } = await run(node, [installed, '--version']);
      expect(stdout.trim()).toBe(AGENT_PACKAGE.version);
      expect((await run(node, [installed, '--help'])).stdout).toContain('login');
    }
    expect((await run(SYSTEM_NODE, ['--version'])).stdout).toMatch(/^v20\./);
  });

  describe('signing in with the installed agent', () => {
    let stack: LocalStack;
    const state = join(work, 'state');

    beforeAll(async () => {
      stack = await startStackOn('embedded');
    }, 60_000);
    afterAll(async () => stack?.close());

    it('signs in with the device flow on Node 20 and lists whose cards these are', async () => {
      const card = await directoryServices(stack.runtime).cards!.enrol('demo', {
        username: 'alice',
        slots: ['9a'],
        pin: '24681357',
        puk: '86427531',
        label: 'laptop card',
      });
      const issuer = `${stack.url}/t/demo`;
      const login = spawn(SYSTEM_NODE, [installed, '--state-dir', state, 'login', '--issuer', issuer, '--device'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let approval: Promise<void> | undefined;
      login.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const [, url, code] = /open (\S+) and enter the code (\S+)/.exec(out) ?? [];
        if (url && code && !approval) approval = approveDevice(url, code);
      });
      const code = await new Promise<number | null>((resolve) => login.once('close', resolve));
      await approval;
      expect([code, out]).toEqual([0, expect.stringContaining(`Signed in to ${issuer}`)]);

      const { stdout } = await run(SYSTEM_NODE, [installed, '--state-dir', state, 'cards']);
      expect(stdout).toContain(`alice at ${issuer}: 1 card`);
      expect(stdout).toContain(card.card.id);
      expect(stdout).toContain('laptop card');
    }, 60_000);
  });

  it('builds a .deb whose dependencies this machine satisfies, installs it with dpkg -i into an isolated root, and runs it', async () => {
    const deb = await buildDeb(join(work, 'deb'));
    const info = (await run('dpkg-deb', ['--field', deb, 'Package', 'Version', 'Depends'])).stdout;
    expect(info).toContain('Package: cloudcard-agent');
    expect(info).toContain(`Version: ${AGENT_PACKAGE.version}`);
    expect(info).toMatch(/Depends: nodejs \(>= 20\), pcscd, vsmartcard-vpcd/);
    // dpkg checks Depends against the machine's package database without installing.
    await run('dpkg', ['--dry-run', '-i', deb]);

    const root = join(work, 'root');
    const admin = join(root, 'var/lib/dpkg');
    mkdirSync(join(admin, 'info'), { recursive: true });
    mkdirSync(join(admin, 'updates'), { recursive: true });
    writeFileSync(join(admin, 'status'), '');
    // The isolated database knows none of the dependencies the real one has just satisfied.
    await run('dpkg', [`--instdir=${root}`, `--admindir=${admin}`, '--force-depends', '--force-not-root', '--force-script-chrootless', '-i', deb]);
    const unit = readFileSync(join(root, 'usr/lib/systemd/user/cloudcard-agent.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/cloudcard-agent run$/m);
    expect(unit).toMatch(/^WantedBy=default\.target$/m);
    expect(existsSync(join(root, 'usr/lib/cloudcard-agent/node_modules/koffi/package.json'))).toBe(true);
    const { stdout } = await run(SYSTEM_NODE, [join(root, 'usr/bin/cloudcard-agent'), '--version']);
    expect(stdout.trim()).toBe(AGENT_PACKAGE.version);
    const listed = (await run('dpkg-query', [`--admindir=${admin}`, '-W', '-f', '${Package} ${Version} ${Status}', 'cloudcard-agent'])).stdout;
    expect(listed).toBe(`cloudcard-agent ${AGENT_PACKAGE.version} install ok installed`);
  }, 120_000);
});
