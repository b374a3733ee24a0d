import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Who holds a data directory: the local stack (`npm start`) or one CLI command opening the store itself. */
export type DataDirOwner = 'local stack' | 'cloudcard CLI';

export class DataDirError extends Error {
  override readonly name: string = 'DataDirError';
}

/** Another live process holds the data directory's lock: worth a retry once it has finished. */
export class DataDirBusyError extends DataDirError {
  override readonly name = 'DataDirBusyError';
}

/**
 * Creates the data directory (0700) or checks an existing one: it must be this user's and closed to group
 * and others, because it holds the key file, the admin credentials and the store's socket. The store's
 * LevelDB files would be created 0644 by a usual umask: the ones there are set to 0600 (directories 0700)
 * here, and this process's umask becomes 077 so the files LevelDB creates later are private too. They
 * stay private even if the directory is opened up later.
 */
export function prepareDataDir(dataDir: string, storeDir?: string): void {
  process.umask(0o077);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dataDir);
  if (!stat.isDirectory()) throw new DataDirError(`data directory ${dataDir} is not a directory`);
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    throw new DataDirError(`data directory ${dataDir} belongs to another user (uid ${stat.uid}); use a directory of your own`);
  }
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new DataDirError(`data directory ${dataDir} is open to other users (mode ${mode.toString(8)}); run: chmod 700 ${dataDir}`);
  }
  if (storeDir) tighten(storeDir);
}

/** Files 0600 and directories 0700, all the way down (LevelDB keeps a handful of files). */
function tighten(path: string): void {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    if ((stat.mode & 0o777) !== 0o700) chmodSync(path, 0o700);
    for (const name of readdirSync(path)) tighten(join(path, name));
  } else if ((stat.mode & 0o077) !== 0) {
    chmodSync(path, stat.mode & 0o600);
  }
}

export interface DataDirLock {
  /** Gives the directory up (only if the lock file is still this process's). */
  release(): void;
}

interface LockContent {
  readonly pid: number;
  readonly owner: DataDirOwner;
}

const lockPath = (dataDir: string): string => join(dataDir, 'lock');

/** The live holder of the data directory, if any (a lock whose process is gone does not count). */
export function dataDirHolder(dataDir: string): LockContent | undefined {
  const holder = readLock(lockPath(dataDir));
  return holder && alive(holder.pid) ? holder : undefined;
}

/**
 * Takes the data directory for this process: one lock file, created atomically with its content (written
 * aside, then hard-linked into place, which fails if it exists). A lock held by a live process is refused
 * with a message naming the directory and the holder; a lock whose process is gone is taken over.
 */
export function lockDataDir(dataDir: string, owner: DataDirOwner): DataDirLock {
  const path = lockPath(dataDir);
  const mine: LockContent = { pid: process.pid, owner };
  const aside = `${path}.${process.pid}`;
  writeFileSync(aside, JSON.stringify(mine), { mode: 0o600 });
  try {
    for (let round = 0; round < 3; round++) {
      try {
        linkSync(aside, path);
        return { release: () => releaseLock(path) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = readLock(path);
      if (holder && alive(holder.pid)) {
        throw new DataDirBusyError(
          `data directory ${dataDir} is in use by the ${holder.owner} (pid ${holder.pid}); stop it first, or set CLOUDCARD_DATA_DIR to another directory`,
        );
      }
      rmSync(path, { force: true }); // left by a process that is gone
    }
    throw new DataDirError(`data directory ${dataDir}: could not take its lock file ${path}`);
  } finally {
    rmSync(aside, { force: true });
  }
}

function releaseLock(path: string): void {
  if (readLock(path)?.pid === process.pid) rmSync(path, { force: true });
}

function readLock(path: string): LockContent | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockContent>;
    return typeof parsed.pid === 'number' && Number.isInteger(parsed.pid) && parsed.pid > 0
      ? { pid: parsed.pid, owner: parsed.owner === 'cloudcard CLI' ? 'cloudcard CLI' : 'local stack' }
      : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
