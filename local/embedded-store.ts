import { createRequire } from 'node:module';
import { Agent, type Server } from 'node:http';
import { createConnection } from 'node:net';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SDK_BUDGET } from '../lambdas/adapters/sdk-budget.ts';

const require = createRequire(import.meta.url);
// dynalite is CommonJS and ships no types: it returns a plain node:http server.
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

/**
 * Credentials the SDK signs with for the embedded store. dynalite checks no signature: what keeps other
 * local users and processes out is that it listens only on a Unix socket inside the 0700 data directory.
 */
export const EMBEDDED_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Longest socket path the kernel takes (sun_path is 108 bytes on Linux, 104 on macOS, with the NUL). */
const MAX_SOCKET_PATH = 103;

export interface EmbeddedStore {
  /** The Unix socket the store listens on (mode 0600, in a 0700 directory). */
  readonly socketPath: string;
  /** A DynamoDB client connected to this store. */
  client(): DynamoDBClient;
  close(): Promise<void>;
}

/**
 * Starts dynalite, the DynamoDB-compatible embedded store, on a Unix socket: never on a TCP port, where any
 * local process could read and write it with made-up credentials. With `path` it persists to LevelDB there
 * (one process at a time: the caller must hold the data directory's lock, see data-dir.ts, because
 * dynalite reports a LevelDB directory in use only later, as an uncaught error); without, it lives
 * in memory. `socketPath` must lie in a directory only this user can enter; without it the socket goes in
 * a fresh private temporary directory.
 */
export async function startEmbeddedStore(options: { path?: string; socketPath?: string } = {}): Promise<EmbeddedStore> {
  const ownDir = options.socketPath ? undefined : mkdtempSync(join(tmpdir(), 'cc-store-'));
  const socketPath = options.socketPath ?? join(ownDir!, 'store.sock');
  if (socketPath.length > MAX_SOCKET_PATH) {
    throw new Error(`the store socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} characters; use a shorter data directory path`);
  }
  rmSync(socketPath, { force: true }); // a socket left by a process that died (the caller holds the lock)
  const server = dynalite({ ...(options.path ? { path: options.path } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);
  return {
    socketPath,
    client: () => embeddedStoreClient(socketPath),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => {
          rmSync(socketPath, { force: true });
          if (ownDir) rmSync(ownDir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

/** A DynamoDB client for the embedded store behind `socketPath`, with the same call budget as everywhere. */
export function embeddedStoreClient(socketPath: string): DynamoDBClient {
  const agent = new Agent({ keepAlive: true });
  // Every connection of this client goes to the socket, whatever host the endpoint names.
  agent.createConnection = () => createConnection(socketPath);
  return new DynamoDBClient({
    endpoint: 'http://embedded-store.invalid',
    region: 'local',
    credentials: EMBEDDED_CREDENTIALS,
    ...SDK_BUDGET,
    requestHandler: { ...SDK_BUDGET.requestHandler, httpAgent: agent },
  });
}
