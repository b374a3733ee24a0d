import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { DeviceKey } from './sdk.ts';

/**
 * What the agent keeps between runs, in one file readable only by the user: the tenant, the OAuth client
 * it registered, the tokens, and its device key (made once; it signs every card-session challenge).
 */
export interface AgentState {
  readonly version: 1;
  readonly issuer: string;
  readonly clientId: string;
  readonly accessToken: string;
  readonly refreshToken?: string;
  /** Epoch seconds. */
  readonly expiresAt: number;
  readonly deviceKey: { readonly privateJwk: JWK; readonly publicJwk: JWK };
}

export class AgentStateError extends Error {
  override readonly name = 'AgentStateError';
}

/** `$CLOUDCARD_AGENT_HOME`, else `$XDG_CONFIG_HOME/cloudcard-agent`, else `~/.config/cloudcard-agent`. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['CLOUDCARD_AGENT_HOME'] ?? join(env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), 'cloudcard-agent');
}

export const stateFile = (dir: string): string => join(dir, 'state.json');

export function readState(dir: string): AgentState {
  const path = stateFile(dir);
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    throw new AgentStateError(`not signed in (no ${path}); run: cloudcard-agent login --issuer <tenant URL>`);
  }
  if ((mode & 0o077) !== 0) throw new AgentStateError(`${path} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${path}`);
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<AgentState>;
  if (parsed.version !== 1 || !parsed.issuer || !parsed.accessToken || !parsed.deviceKey)
    throw new AgentStateError(`${path} is not a cloudcard-agent state file`);
  return parsed as AgentState;
}

/** Writes atomically (temp file + rename) with mode 0600 in a 0700 directory. */
export function writeState(dir: string, state: AgentState): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = stateFile(dir);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(state, null, 2), { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

export async function newDeviceKey(): Promise<AgentState['deviceKey']> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { privateJwk: await exportJWK(privateKey), publicJwk: { kty: publicJwk.kty!, crv: publicJwk.crv!, x: publicJwk.x!, y: publicJwk.y! } };
}

export async function loadDeviceKey(state: AgentState): Promise<DeviceKey> {
  return { privateKey: (await importJWK(state.deviceKey.privateJwk, 'ES256')) as CryptoKey, publicJwk: state.deviceKey.publicJwk, alg: 'ES256' };
}

/** A lock older than this was left by a process that died mid-refresh: it is broken. */
const STALE_LOCK_MS = 30_000;

/**
 * Runs `operation` holding the state directory's lock file (O_EXCL create), so of the agent's processes
 * (the running daemon, `token`, `browser-sso`) only one rotates the PRT at a time: two rotating the same
 * refresh token would make the IdP see reuse and revoke the family.
 */
export async function withStateLock<T>(dir: string, operation: () => Promise<T>): Promise<T> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'state.lock');
  for (;;) {
    try {
      closeSync(openSync(path, 'wx', 0o600));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(path).mtimeMs > STALE_LOCK_MS) rmSync(path, { force: true });
      } catch {
        // released meanwhile: try again
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  try {
    return await operation();
  } finally {
    rmSync(path, { force: true });
  }
}
