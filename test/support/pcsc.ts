import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The reader name prefix our pcscd configuration gives vpcd's two slots ("cloudcard-test 00 00", "… 00 01"). */
export const READER = 'cloudcard-test';

/** Two consecutive free loopback ports (vpcd listens on port and port + 1). */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await portFree(port)) && (await portFree(port + 1))) return port;
  }
  throw new Error('no free port pair');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
  });
}

export interface Pcscd {
  readonly vpcdPort: number;
  /** Restarts pcscd (same configuration), as a system update or a crash would. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const PID_FILE = '/run/pcscd/pcscd.pid';

/**
 * Debian's pcscd in the foreground with its own reader configuration: only vpcd, on a free port pair, so
 * the test's card is the only one. pcscd's socket is machine-wide (/run/pcscd), so a pcscd that is
 * already running is refused with a clear message rather than shared.
 */
export async function startPcscd(): Promise<Pcscd> {
  if (existsSync(PID_FILE)) {
    const pid = Number(readFileSync(PID_FILE, 'utf8').trim());
    if (pid > 0 && alive(pid)) throw new Error(`a pcscd (pid ${pid}) is already running; these tests need their own: stop it first`);
  }
  const vpcdPort = await freePortPair();
  const dir = mkdtempSync(join(tmpdir(), 'cc-pcscd-'));
  writeFileSync(
    join(dir, 'vpcd'),
    [
      `FRIENDLYNAME "${READER}"`,
      `DEVICENAME   /dev/null:${vpcdPort}`,
      'LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so',
      `CHANNELID    ${vpcdPort}`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const halt = async (): Promise<void> => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  /**
   * Starts pcscd and waits for vpcd's readers. vpcd binds its port without SO_REUSEADDR, so right after
   * a pcscd with connected cards stopped, the port sits in TIME_WAIT (60 s on Linux) and vpcd cannot
   * listen: then pcscd is started again until vpcd gets the port.
   */
  const launch = async (timeoutMs = 10_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      child = spawn('pcscd', ['--foreground', '--config', dir], { stdio: 'ignore' });
      const attemptEnd = Math.min(deadline, Date.now() + 5_000);
      while (Date.now() < attemptEnd) {
        if (listReaders().includes(READER) && !(await portFree(vpcdPort))) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      await halt();
    }
    throw new Error('pcscd did not come up with the vpcd readers');
  };
  await launch();
  return {
    vpcdPort,
    restart: async () => {
      await halt();
      await launch(120_000);
    },
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function listReaders(): string {
  return spawnSync('opensc-tool', ['--list-readers'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
}

/**
 * Runs a smart-card tool to completion (stdin closed unless given), with a timeout. Asynchronous on
 * purpose: the local gateway the agent talks to runs in the test's own process and must keep serving.
 */
export function tool(
  command: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(options.env ? { env: { ...process.env, ...options.env } } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    // A tool that exits before reading its stdin (most do not read it) closes the pipe first: the write
    // then fails with EPIPE, which must not become an uncaught error; the exit status and output decide.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(options.input ?? '');
  });
}

/** HTTPS requests each inserted card made for APDUs, from a running agent's control socket. */
export async function agentRequests(stateDir: string): Promise<Record<string, number>> {
  return (await agentStats(stateDir)).requests;
}

/** A running agent's counters per card: HTTPS requests for APDUs, and how its vpcd messages arrived. */
export function agentStats(
  stateDir: string,
): Promise<{ requests: Record<string, number>; turns: Record<string, { turns: number; slow: number; maxMs: number }> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(join(stateDir, 'agent.sock'));
    let reply = '';
    socket.on('connect', () => socket.write('{"command":"stats"}\n'));
    socket.on('data', (chunk) => (reply += chunk.toString()));
    socket.on('end', () =>
      resolve(JSON.parse(reply) as { requests: Record<string, number>; turns: Record<string, { turns: number; slow: number; maxMs: number }> }),
    );
    socket.on('error', reject);
  });
}

/**
 * Each reader as pcscd reports it (test/support/reader-events.py over libpcsclite): whether a card is
 * present and pcscd's event counter, which counts every insertion and removal pcscd itself saw.
 */
export async function readerEvents(): Promise<Record<string, { events: number; present: boolean }>> {
  const listed = await tool('python3', [join(import.meta.dirname, 'reader-events.py')]);
  if (listed.status !== 0) throw new Error(`reader-events.py failed: ${listed.stderr}`);
  return JSON.parse(listed.stdout) as Record<string, { events: number; present: boolean }>;
}
