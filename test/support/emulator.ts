import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const VENV = join(ROOT, '.venv');
const MOTO_SERVER = join(VENV, 'bin', 'moto_server');
const REQUIREMENTS = join(ROOT, 'test', 'emulator', 'requirements.txt');

/** Test credentials for the emulator; they mean nothing anywhere else. */
export const EMULATOR_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };
export const EMULATOR_REGION = 'us-east-1';

/** Creates the project-local venv with the pinned moto if it is missing (what `.ci/run` also does). */
export function ensureMotoInstalled(): void {
  if (existsSync(MOTO_SERVER)) return;
  const python = process.env['PYTHON'] ?? 'python3';
  const steps: string[][] = [
    [python, '-m', 'venv', VENV],
    [join(VENV, 'bin', 'pip'), 'install', '--quiet', '--disable-pip-version-check', '-r', REQUIREMENTS],
  ];
  for (const [command, ...args] of steps) {
    const result = spawnSync(command!, args, { stdio: 'inherit' });
    if (result.status !== 0) {
      throw new Error(`could not install the AWS emulator (${command} ${args.join(' ')} exited ${result.status ?? result.error?.message}); need python3 with venv and PyPI access`);
    }
  }
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
  const child = spawn(MOTO_SERVER, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
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
