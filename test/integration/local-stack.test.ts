import { afterAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoItemStore } from '../../lambdas/adapters/dynamodb/item-store.ts';
import { verifySecret } from '../../lambdas/core/crypto/password.ts';
import { directoryKeys } from '../../lambdas/core/directory/keys.ts';
import { embeddedStoreClient } from '../../local/embedded-store.ts';
import { LOCAL_DEFAULTS } from '../../local/stack.ts';
import { start, waitFor, type Started } from '../support/processes.ts';

/** alice's stored password hash, read from the running stack's embedded store (its socket is in local.json). */
async function storedHash(dataDir: string): Promise<string> {
  const { storeSocket } = JSON.parse(readFileSync(join(dataDir, 'local.json'), 'utf8')) as { storeSocket: string };
  const client = embeddedStoreClient(storeSocket);
  try {
    const directory = new DynamoItemStore({ client, tableName: LOCAL_DEFAULTS.DIRECTORY_TABLE, role: 'directory' });
    const item = await directory.get(directoryKeys.user('demo', 'alice'));
    return item?.['passwordHash'] as string;
  } finally {
    client.destroy();
  }
}

/** The TCP ports a process listens on (Linux: its socket inodes matched against /proc/net/tcp{,6}). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`)
      .map((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/)?.[1];
        } catch {
          return undefined;
        }
      })
      .filter((inode): inode is string => inode !== undefined),
  );
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === '0A' && inodes.has(fields[9]!)) ports.push(parseInt(fields[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/** Every file under a directory with its permission bits. */
function modes(dir: string): { path: string; mode: number; directory: boolean }[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).map((entry) => {
    const path = join(entry.parentPath, entry.name);
    return { path, mode: statSync(path).mode & 0o777, directory: entry.isDirectory() };
  });
}

/** `npm start` as a user runs it: a real process, a data directory, Ctrl-C, restarts. */
describe('local stack (npm start)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-stack-'));
  const env = { PORT: '0', CLOUDCARD_DATA_DIR: dataDir, LOG_LEVEL: 'WARN' };
  const running: Started[] = [];
  const launch = (extra: Record<string, string> = {}): Started => {
    const started = start(['local/main.ts'], { ...env, ...extra });
    running.push(started);
    return started;
  };
  const stop = async (started: Started): Promise<number | null> => {
    started.child.kill('SIGINT');
    return started.exited;
  };
  afterAll(async () => {
    for (const started of running) if (started.child.exitCode === null) started.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts, prints its URLs and the demo password, seeds, and stops cleanly on Ctrl-C', async () => {
    const first = launch();
    const [, url] = await waitFor(first, /base URL\s+(http:\/\/localhost:\d+)/);
    const out = first.stdout();
    expect(out).toContain(`demo issuer       ${url}/t/demo`);
    expect(out).toContain(`${url}/t/demo/.well-known/openid-configuration`);
    expect(out).toContain(`${url}/t/demo/saml/metadata`);
    const [, password] = out.match(/demo user\s+alice \/ (\S+)/)!;
    expect(password!.length).toBeGreaterThanOrEqual(16);
    expect(await verifySecret(password!, await storedHash(dataDir))).toBe(true);

    expect((await fetch(`${url}/health`)).status).toBe(200);
    const bootstrap = JSON.parse(readFileSync(join(dataDir, 'bootstrap.json'), 'utf8')) as { clientId: string; clientSecret: string };
    expect(statSync(join(dataDir, 'bootstrap.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'keys.json')).mode & 0o777).toBe(0o600);
    const auth = `Basic ${Buffer.from(`${bootstrap.clientId}:${bootstrap.clientSecret}`).toString('base64')}`;
    const created = await fetch(`${url}/t/demo/admin/v1/users`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'persisted' }),
    });
    expect(created.status).toBe(201);

    expect(await stop(first)).toBe(0);
    expect(first.stdout()).toContain('SIGINT: stopping');
    expect(() => statSync(join(dataDir, 'local.json'))).toThrow();
  });

  it('keeps its data across a restart and does not reseed', async () => {
    const second = launch();
    const [, url] = await waitFor(second, /base URL\s+(http:\/\/localhost:\d+)/);
    expect(second.stdout()).toContain('demo user         alice (password as set on first start)');
    const bootstrap = JSON.parse(readFileSync(join(dataDir, 'bootstrap.json'), 'utf8')) as { clientId: string; clientSecret: string };
    const auth = `Basic ${Buffer.from(`${bootstrap.clientId}:${bootstrap.clientSecret}`).toString('base64')}`;
    const users = (await (await fetch(`${url}/t/demo/admin/v1/users`, { headers: { Authorization: auth } })).json()) as { users: { username: string }[] };
    expect(users.users.map((u) => u.username)).toEqual(['alice', 'persisted']);
    expect(await stop(second)).toBe(0);
  });

  it('uses CLOUDCARD_DEMO_PASSWORD on first start instead of generating one', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'cc-stack-'));
    const started = launch({ CLOUDCARD_DATA_DIR: fresh, CLOUDCARD_DEMO_PASSWORD: 'chosen password 123' });
    await waitFor(started, /base URL/);
    expect(started.stdout()).not.toContain('chosen password 123');
    expect(started.stdout()).toContain('demo user         alice (password as set on first start)');
    // The chosen password is the one stored: it verifies against alice's hash, and another does not.
    const hash = await storedHash(fresh);
    expect(await verifySecret('chosen password 123', hash)).toBe(true);
    expect(await verifySecret('chosen password 124', hash)).toBe(false);
    expect(await stop(started)).toBe(0);
    rmSync(fresh, { recursive: true, force: true });
  });

  it.each([
    [{ MAX_BODY_BYTES: 'lots' }, /MAX_BODY_BYTES/],
    [{ PUBLIC_BASE_URL: 'not a url' }, /PUBLIC_BASE_URL/],
    [{ PORT: 'eighty' }, /PORT/],
    [{ CERT_PORT: 'ninety' }, /CERT_PORT: must be a TCP port number other than PORT/],
    [{ CERT_BASE_URL: 'http://cert.example' }, /CERT_BASE_URL: must be an https URL/],
    [{ CLOUDCARD_DEMO_PASSWORD: 'short' }, /CLOUDCARD_DEMO_PASSWORD: must be at least 12 characters/],
    [{ LOG_LEVEL: 'verbose' }, /LOG_LEVEL: must be one of DEBUG, INFO, WARN, ERROR, SILENT/],
    [{ LOG_LEVEL: 'loud', PORT: 'eighty' }, /PORT: must be a TCP port number; LOG_LEVEL: must be one of/],
  ])('refuses to start with bad configuration %p, naming the variable', async (extra, named) => {
    const started = launch(extra as Record<string, string>);
    expect(await started.exited).toBe(1);
    expect(started.stderr()).toMatch(named);
    expect(started.stderr()).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });

  it('refuses to start when its key file is readable by others', async () => {
    const { chmodSync } = await import('node:fs');
    chmodSync(join(dataDir, 'keys.json'), 0o644);
    const started = launch();
    expect(await started.exited).toBe(1);
    expect(started.stderr()).toMatch(/chmod 600/);
    chmodSync(join(dataDir, 'keys.json'), 0o600);
  });

  it('serves its store only on a 0600 Unix socket in the 0700 data directory, never on a TCP port', async () => {
    // A store file left world-readable (as LevelDB's umask made them before) is tightened on start.
    const leveldb = modes(join(dataDir, 'dynalite')).find((f) => !f.directory)!;
    chmodSync(leveldb.path, 0o644);
    const started = launch();
    const [, port] = await waitFor(started, /base URL\s+http:\/\/localhost:(\d+)/);
    // Two TCP listeners: the gateway, and the mutual-TLS one for certificate login (PORT+1 by default).
    const [, certPort] = /certificate login https:\/\/localhost:(\d+) \(mutual TLS/.exec(started.stdout())!;
    expect(listeningPorts(started.child.pid!).sort()).toEqual([Number(port), Number(certPort)].sort());
    const { storeSocket } = JSON.parse(readFileSync(join(dataDir, 'local.json'), 'utf8')) as { storeSocket: string };
    expect(storeSocket).toBe(join(dataDir, 'store.sock'));
    expect(statSync(storeSocket).isSocket()).toBe(true);
    expect(statSync(storeSocket).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    for (const file of modes(join(dataDir, 'dynalite'))) expect([file.path, file.mode]).toEqual([file.path, file.directory ? 0o700 : 0o600]);
    expect(await stop(started)).toBe(0);
  });

  it('refuses a data directory that group or others may enter, naming the fix', async () => {
    chmodSync(dataDir, 0o755);
    try {
      const started = launch();
      expect(await started.exited).toBe(1);
      expect(started.stderr()).toContain(`data directory ${dataDir} is open to other users (mode 755); run: chmod 700 ${dataDir}`);
    } finally {
      chmodSync(dataDir, 0o700);
    }
  });

  it('stops a second start on the same data directory with a message naming it; the first keeps serving', async () => {
    const first = launch();
    const [, url] = await waitFor(first, /base URL\s+(http:\/\/localhost:\d+)/);
    const second = launch();
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toContain(`data directory ${dataDir} is in use by the local stack (pid ${first.child.pid})`);
    expect(second.stderr()).not.toMatch(/Database is closed|\n\s+at /);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect(await stop(first)).toBe(0);
    expect(() => statSync(join(dataDir, 'lock'))).toThrow();
  });

  it('takes over a lock whose process is gone', async () => {
    const gone = start(['-e', ''], {});
    await gone.exited;
    writeFileSync(join(dataDir, 'lock'), JSON.stringify({ pid: gone.child.pid, owner: 'local stack' }), { mode: 0o600 });
    const started = launch();
    await waitFor(started, /base URL/);
    expect(JSON.parse(readFileSync(join(dataDir, 'lock'), 'utf8'))).toEqual({ pid: started.child.pid, owner: 'local stack' });
    expect(await stop(started)).toBe(0);
  });
});
