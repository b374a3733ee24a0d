import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The local stand-in for KMS: one file, readable only by its owner, holding the key-encryption key and
 * the token-signing key of the embedded stack. Never used in AWS.
 */
export interface KeyFile {
  readonly version: 1;
  readonly kek: { readonly id: string; readonly key: string };
  readonly signing: { readonly id: string; readonly algorithm: 'RS256'; readonly privateKeyPem: string };
}

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
}

/** Loads the key file, creating it (mode 0600, exclusive create) on first use. */
export function loadOrCreateKeyFile(path: string): KeyFile {
  try {
    return readKeyFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const file: KeyFile = {
    version: 1,
    kek: { id: `local-kek-${randomUUID()}`, key: randomBytes(32).toString('base64') },
    signing: { id: `local-signing-${randomUUID()}`, algorithm: 'RS256', privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string },
  };
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    // Another process created it between our read and our create: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readKeyFile(path);
    throw error;
  }
  try {
    writeSync(fd, JSON.stringify(file, null, 2));
  } finally {
    closeSync(fd);
  }
  return file;
}

function readKeyFile(path: string): KeyFile {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new KeyFileError(`key file ${path} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${path}`);
  }
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<KeyFile>;
  if (parsed.version !== 1 || !parsed.kek?.key || !parsed.signing?.privateKeyPem) {
    throw new KeyFileError(`key file ${path} is not a cloudcard key file (version 1)`);
  }
  if (Buffer.from(parsed.kek.key, 'base64').length !== 32) throw new KeyFileError(`key file ${path}: kek must be 32 bytes`);
  return parsed as KeyFile;
}
