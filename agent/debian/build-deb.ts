/**
 * Builds the Debian package of the client agent: the bundled agent (agent/build.ts) under
 * /usr/lib/cloudcard-agent with koffi for this architecture (optional at run time), /usr/bin/cloudcard-agent,
 * and the systemd user unit. It depends on Debian's nodejs (>= 20), pcscd and vsmartcard-vpcd, whose
 * package already installs vpcd's reader configuration for pcscd: no udev rule is needed for a virtual
 * reader. `node agent/debian/build-deb.ts [outdir]` prints the .deb's path.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAgent } from '../build.ts';

const agentDir = fileURLToPath(new URL('..', import.meta.url));
const rootModules = join(agentDir, '..', 'node_modules');

/** Debian's name for this machine's architecture, and the koffi package with its binary for it. */
const ARCHITECTURES: Readonly<Record<string, string>> = {
  amd64: 'linux-x64',
  arm64: 'linux-arm64',
  armhf: 'linux-arm',
  i386: 'linux-ia32',
  riscv64: 'linux-riscv64',
};

export async function buildDeb(outdir: string): Promise<string> {
  const { version, description } = JSON.parse(readFileSync(join(agentDir, 'package.json'), 'utf8')) as { version: string; description: string };
  const architecture = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
  const stage = mkdtempSync(join(tmpdir(), 'cc-agent-deb-'));
  try {
    const lib = join(stage, 'usr/lib/cloudcard-agent');
    await buildAgent(join(lib, 'dist'));
    writeFileSync(join(lib, 'package.json'), readFileSync(join(agentDir, 'package.json')));
    const koffiBinary = ARCHITECTURES[architecture] ? join(rootModules, '@koromix', `koffi-${ARCHITECTURES[architecture]}`) : undefined;
    if (existsSync(join(rootModules, 'koffi'))) cpSync(join(rootModules, 'koffi'), join(lib, 'node_modules/koffi'), { recursive: true });
    if (koffiBinary && existsSync(koffiBinary))
      cpSync(koffiBinary, join(lib, 'node_modules/@koromix', `koffi-${ARCHITECTURES[architecture]}`), { recursive: true });
    mkdirSync(join(stage, 'usr/bin'), { recursive: true });
    symlinkSync('../lib/cloudcard-agent/dist/cloudcard-agent.js', join(stage, 'usr/bin/cloudcard-agent'));
    mkdirSync(join(stage, 'usr/lib/systemd/user'), { recursive: true });
    cpSync(join(agentDir, 'debian/cloudcard-agent.service'), join(stage, 'usr/lib/systemd/user/cloudcard-agent.service'));
    mkdirSync(join(stage, 'usr/share/doc/cloudcard-agent'), { recursive: true });
    cpSync(join(agentDir, 'README.md'), join(stage, 'usr/share/doc/cloudcard-agent/README.md'));
    mkdirSync(join(stage, 'DEBIAN'));
    writeFileSync(
      join(stage, 'DEBIAN/control'),
      [
        'Package: cloudcard-agent',
        `Version: ${version}`,
        `Architecture: ${architecture}`,
        'Maintainer: cloudcard <cloudcard@localhost>',
        'Depends: nodejs (>= 20), pcscd, vsmartcard-vpcd',
        'Section: utils',
        'Priority: optional',
        `Description: ${description}`,
        " Signs in to your organisation's cloudcard identity provider and relays your",
        " cloud smart cards to PC/SC applications through vsmartcard's virtual reader.",
        ' Run per user: cloudcard-agent login, then systemctl --user enable --now cloudcard-agent.',
        '',
      ].join('\n'),
    );
    // Whatever the caller's umask: Debian wants 0755 directories and 0644 files (the bin 0755).
    execFileSync('chmod', ['-R', 'u=rwX,go=rX', stage]);
    chmodSync(join(lib, 'dist/cloudcard-agent.js'), 0o755);
    mkdirSync(outdir, { recursive: true });
    const deb = join(outdir, `cloudcard-agent_${version}_${architecture}.deb`);
    execFileSync('dpkg-deb', ['--root-owner-group', '--build', stage, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
    return deb;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${await buildDeb(process.argv[2] ?? join(agentDir, 'dist'))}\n`);
}
