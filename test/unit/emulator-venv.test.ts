import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ensureMotoInstalled, STAMP_FILE, venvState } from '../support/emulator.ts';

/**
 * The emulator venv is rebuilt when test/emulator/requirements.txt changes. A stand-in `python3` makes a
 * "venv" whose pip records each install in a log (outside the venv, which --clear empties) and whose
 * `pip freeze` prints what was installed, so no network or real Python is involved.
 */
describe('AWS emulator venv (test/support/emulator.ts)', () => {
  let dir: string;
  let location: { venv: string; requirements: string };
  let python: string;
  const installs = () => (existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8').trim().split('\n') : []);
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cc-venv-'));
    location = { venv: join(dir, '.venv'), requirements: join(dir, 'requirements.txt') };
    python = join(dir, 'python3');
    writeFileSync(
      python,
      [
        '#!/bin/sh',
        '# called as: python3 -m venv --clear DIR',
        '[ "$1 $2 $3" = "-m venv --clear" ] || exit 2',
        'rm -rf "$4" && mkdir -p "$4/bin"',
        `cat > "$4/bin/pip" <<'PIP'`,
        '#!/bin/sh',
        'bin=$(dirname "$0")',
        'if [ "$1" = freeze ]; then cat "$bin/../frozen" 2>/dev/null; exit 0; fi',
        '# install --quiet --disable-pip-version-check -r FILE',
        'grep -q FAIL "$5" && exit 1',
        'grep -v "^#" "$5" > "$bin/../frozen"',
        `echo "$(cat "$5" | tr '\\n' ' ')" >> "${dir}/log"`,
        'touch "$bin/moto_server" && chmod +x "$bin/moto_server"',
        'PIP',
        'chmod +x "$4/bin/pip"',
        '',
      ].join('\n'),
    );
    chmodSync(python, 0o755);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('installs when missing, stamps the venv with the sha256 of the requirements, and then leaves it', () => {
    writeFileSync(location.requirements, 'moto==5.2.5\n');
    expect(venvState(location)).toBe('missing');
    expect(ensureMotoInstalled(location, python)).toBe('installed');
    expect(readFileSync(join(location.venv, STAMP_FILE), 'utf8').trim()).toBe(sha256('moto==5.2.5\n'));
    expect(venvState(location)).toBe('current');
    expect(ensureMotoInstalled(location, python)).toBe('current');
    expect(installs()).toHaveLength(1);
  });

  it('rebuilds the venv from scratch when the pinned requirements change', () => {
    writeFileSync(location.requirements, 'moto==5.2.5\nboto3==1.44.5\n');
    ensureMotoInstalled(location, python);
    writeFileSync(join(location.venv, 'leftover'), 'from the old install');
    writeFileSync(location.requirements, 'moto==5.2.6\n');
    expect(venvState(location)).toBe('stale');
    expect(ensureMotoInstalled(location, python)).toBe('installed');
    expect(installs()).toHaveLength(2);
    expect(existsSync(join(location.venv, 'leftover'))).toBe(false); // --clear
    expect(readFileSync(join(location.venv, STAMP_FILE), 'utf8').trim()).toBe(sha256('moto==5.2.6\n'));
  });

  it('re-stamps instead of rebuilding when only comments changed, or the stamp predates this rule', () => {
    writeFileSync(location.requirements, '# pinned\nmoto==5.2.5\n');
    ensureMotoInstalled(location, python);
    writeFileSync(location.requirements, '# pinned, see keys.test.ts\nmoto==5.2.5\n');
    expect(ensureMotoInstalled(location, python)).toBe('current');
    rmSync(join(location.venv, STAMP_FILE));
    expect(venvState(location)).toBe('current');
    expect(readFileSync(join(location.venv, STAMP_FILE), 'utf8').trim()).toBe(sha256('# pinned, see keys.test.ts\nmoto==5.2.5\n'));
    expect(installs()).toHaveLength(1);
  });

  it('fails naming the step when the install fails, and leaves no stamp', () => {
    writeFileSync(location.requirements, 'FAIL==1\n');
    expect(() => ensureMotoInstalled(location, python)).toThrow(/could not install the AWS emulator \(.*pip install/);
    expect(existsSync(join(location.venv, STAMP_FILE))).toBe(false);
  });
});
