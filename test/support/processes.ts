import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './emulator.ts';

export const NODE = process.execPath;
export const CLI = join(ROOT, 'bin', 'cloudcard.js');

export interface Started {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/** Spawns a project command and collects its output. */
export function start(args: readonly string[], env: Record<string, string | undefined>, input?: string): Started {
  const child = spawn(NODE, args, { cwd: ROOT, env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  // A command that exits before reading its stdin makes the write fail with EPIPE: its exit code and
  // output decide, not an uncaught pipe error.
  child.stdin!.on('error', () => undefined);
  if (input !== undefined) child.stdin!.end(input);
  else child.stdin!.end();
  // 'close', not 'exit': 'exit' can come before the child's last output has been read from its pipes,
  // which left a CLI command's stdout empty now and then (about 1 in 100 under load).
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Waits until the output matches, or the process ends, or time runs out. */
export async function waitFor(started: Started, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = started.stdout().match(pattern);
    if (match) return match;
    if (started.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${pattern} in output:\n${started.stdout()}\n${started.stderr()}`);
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON; a failed command or output that is not JSON throws with the exit code and stderr. */
  json(): ReturnType<typeof JSON.parse>;
}

/**
 * Runs a CLI command to completion. A command that fails has its exit code and stderr printed, so a test
 * that did not expect it shows why (tests that expect a failure see the same lines in their log).
 */
export async function cli(args: readonly string[], env: Record<string, string | undefined>, input?: string): Promise<CliResult> {
  const run = start([CLI, ...args], env, input);
  const code = await run.exited;
  const stdout = run.stdout();
  const stderr = run.stderr();
  const report = `cloudcard ${args.join(' ')} exited with code ${code}\n--- stderr ---\n${stderr}--- stdout ---\n${stdout}`;
  if (code !== 0) process.stderr.write(`[test cli] ${report}\n`);
  return {
    code,
    stdout,
    stderr,
    json: () => {
      if (code !== 0) throw new Error(report);
      try {
        return JSON.parse(stdout);
      } catch {
        throw new Error(`not JSON: ${report}`);
      }
    },
  };
}

/**
 * Prepares a local data directory the way a first `npm start` does (the key file, the demo tenant with
 * alice, bootstrap.json), then stops the gateway, so CLI commands run on it with the store closed.
 */
export async function seedDataDir(env: Record<string, string | undefined>): Promise<void> {
  const first = start(['local/main.ts'], { ...env, PORT: '0', LOG_LEVEL: 'WARN' });
  await waitFor(first, /base URL/);
  first.child.kill('SIGINT');
  await first.exited;
}
