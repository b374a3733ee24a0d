import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const VENV = join(ROOT, '.venv');
/** moto server behind one lock, so conditional writes are atomic as on DynamoDB. */
const SERIAL_SERVER = join(ROOT, 'test', 'emulator', 'moto_serial_server.py');
export const REQUIREMENTS = join(ROOT, 'test', 'emulator', 'requirements.txt');
/** Where the venv records the sha256 of the requirements it was installed from (`.ci/run` writes it too). */
export const STAMP_FILE = '.requirements.sha256';

/** Test credentials for the emulator; they mean nothing anywhere else. */
export const EMULATOR_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };
export const EMULATOR_REGION = 'us-east-1';

export interface VenvLocation {
  readonly venv: string;
  readonly requirements: string;
}

const DEFAULT_VENV: VenvLocation = { venv: VENV, requirements: REQUIREMENTS };

export const requirementsDigest = (requirements: string): string => createHash('sha256').update(readFileSync(requirements)).digest('hex');

/** The pinned packages, normalised as `pip freeze` prints them (comments and blank lines dropped). */
const pins = (text: string): string[] =>
  text
    .split('\n')
    .map((line) => line.trim().toLowerCase())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .sort();

/**
 * `current` when the venv has moto and was installed from these exact requirements (its stamp holds their
 * sha256); `missing` without moto; `stale` otherwise. When the stamp is absent (a venv from before it
 * existed) or differs only because the file changed in comments, a venv whose `pip freeze` lists exactly
 * the pinned packages is current too, and is re-stamped instead of rebuilt.
 */
export function venvState({ venv, requirements }: VenvLocation = DEFAULT_VENV): 'current' | 'missing' | 'stale' {
  if (!existsSync(join(venv, 'bin', 'moto_server'))) return 'missing';
  const wanted = requirementsDigest(requirements);
  const stamp = join(venv, STAMP_FILE);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === wanted) return 'current';
  const frozen = spawnSync(join(venv, 'bin', 'pip'), ['freeze', '--disable-pip-version-check'], { encoding: 'utf8' });
  if (frozen.status === 0 && pins(frozen.stdout).join('\n') === pins(readFileSync(requirements, 'utf8')).join('\n')) {
    writeFileSync(stamp, `${wanted}\n`);
    return 'current';
  }
  return 'stale';
}

/**
 * Creates the project-local venv with the pinned moto when it is missing, and recreates it from scratch
 * when test/emulator/requirements.txt changed since it was installed (what `.ci/run` also does).
 */
export function ensureMotoInstalled(location: VenvLocation = DEFAULT_VENV, python = process.env['PYTHON'] ?? 'python3'): 'current' | 'installed' {
  if (venvState(location) === 'current') return 'current';
  const steps: string[][] = [
    // --clear: a changed requirements file may drop packages, so start from an empty venv.
    [python, '-m', 'venv', '--clear', location.venv],
    [join(location.venv, 'bin', 'pip'), 'install', '--quiet', '--disable-pip-version-check', '-r', location.requirements],
  ];
  for (const [command, ...args] of steps) {
    const result = spawnSync(command!, args, { stdio: 'inherit' });
    if (result.status !== 0) {
      throw new Error(
        `could not install the AWS emulator (${command} ${args.join(' ')} exited ${result.status ?? result.error?.message}); need python3 with venv and PyPI access`,
      );
    }
  }
  writeFileSync(join(location.venv, STAMP_FILE), `${requirementsDigest(location.requirements)}\n`);
  return 'installed';
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface RunningEmulator {
  readonly endpoint: string;
  readonly process: ChildProcess;
}

/** Starts moto server on a free loopback port and waits until it answers. */
export async function startMoto(): Promise<RunningEmulator> {
  ensureMotoInstalled();
  const port = await freePort();
  // moto's own server, but answering one request at a time: DynamoDB's conditional writes are atomic,
  // moto's are not under concurrent requests (see the script).
  const child = spawn(join(VENV, 'bin', 'python'), [SERIAL_SERVER, '127.0.0.1', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}: ${stderr}`);
    if (await answers(`${endpoint}/moto-api/`)) return { endpoint, process: child };
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`moto_server did not answer on ${endpoint} within 30 s: ${stderr}`);
}

/** One GET without keep-alive, so no pooled socket outlives the probe in Jest's main process. */
function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = get(url, { agent: false, timeout: 1_000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => request.destroy());
  });
}
