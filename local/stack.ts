import { openSync, closeSync, writeSync, readFileSync, existsSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContextHandler } from '../lambdas/apps.ts';
import { CONTEXT_ROUTES } from '../lambdas/http/contexts/index.ts';
import { loadConfig, type Config } from '../lambdas/config.ts';
import { CONTEXT_NAMES, ENV, type ContextName } from '../lambdas/contexts.ts';
import { createObservability } from '../lambdas/observability.ts';
import { directoryServices, type Runtime } from '../lambdas/runtime.ts';
import { FileTruststore } from '../lambdas/adapters/local/truststore-file.ts';
import { TRUSTSTORE_OBJECT_KEY } from '../lambdas/core/pki/truststore.ts';
import { startEmbeddedStore, type EmbeddedStore } from './embedded-store.ts';
import { lockDataDir, prepareDataDir, type DataDirLock } from './data-dir.ts';
import { startGateway, type ContextHandlers, type Gateway } from './gateway.ts';
import { localRuntime, type AwsBackendOptions, type LocalOutboundOptions } from './runtime.ts';
import type { Clock } from '../lambdas/ports.ts';
import { seedDemo, type SeedResult } from './seed.ts';
import { listenerCertificate } from './tls-certificate.ts';

export interface LocalStackOptions {
  /** Where data persists (`.data` for `npm start`); `undefined` keeps everything in a temporary directory. */
  readonly dataDir?: string;
  readonly port?: number;
  /** Environment overrides, validated like a Lambda's (a bad value stops the start, naming it). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly demoPassword?: string;
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** Tests: a clock they can move. */
  readonly clock?: Clock;
  /** Tests: tables and keys on an AWS endpoint (the emulator) through the AWS adapters. */
  readonly aws?: AwsBackendOptions;
  /**
   * Tests: the runtime one context's handler gets (as each Lambda function has its own), derived from
   * the shared one, e.g. with stores that record which items each function touches.
   */
  readonly contextRuntime?: (context: ContextName, runtime: Runtime) => Runtime;
  /** The outbound URL policy's loopback exception (off by default; `npm start` turns it on) and, for tests, the resolver. */
  readonly outbound?: LocalOutboundOptions;
  /**
   * The mutual-TLS listener for certificate login (`npm start`: PORT+1, env CERT_PORT): HTTPS on this
   * port (0: a free one) with the server certificate given or made under the data directory. Its URL
   * becomes CERT_BASE_URL unless that is set.
   */
  readonly certListener?: { readonly port: number; readonly certFile?: string; readonly keyFile?: string };
}

export interface LocalStack {
  readonly url: string;
  /** The mutual-TLS listener's base URL (certificate login), when asked for. */
  readonly certUrl?: string;
  /** Its server certificate (PEM), for clients to pin. */
  readonly certListenerPem?: string;
  /** The embedded store's Unix socket (inside the data directory); unused on the AWS backend. */
  readonly storeSocket: string;
  readonly dataDir: string;
  readonly config: Config;
  readonly runtime: Runtime;
  readonly seed: SeedResult;
  /** The admin client written to bootstrap.json (on every start, read back from the file). */
  readonly bootstrap: { clientId: string; clientSecret: string };
  close(): Promise<void>;
}

export const LOCAL_DEFAULTS = {
  [ENV.stage]: 'local',
  [ENV.directoryTable]: 'cloudcard-local-directory',
  [ENV.stateTable]: 'cloudcard-local-state',
  [ENV.keyProvider]: 'local',
  // No tenant/client cache locally by default: the CLI and the admin API change them under a developer's
  // eyes, and the change should show at once. DIRECTORY_CACHE_SECONDS turns it on (the benchmark does).
  [ENV.directoryCacheSeconds]: '0',
};

/**
 * Files under the data directory (0700). `store.sock` is the embedded store's only door; `lock` names the
 * process that has the directory open; `local.json` tells where the running gateway listens.
 */
export const dataFiles = (dataDir: string) => ({
  store: join(dataDir, 'dynalite'),
  socket: join(dataDir, 'store.sock'),
  keys: join(dataDir, 'keys.json'),
  bootstrap: join(dataDir, 'bootstrap.json'),
  running: join(dataDir, 'local.json'),
  /** The mutual-TLS truststore bundle (every tenant's card CA and trusted CAs), rewritten as they change. */
  truststore: join(dataDir, TRUSTSTORE_OBJECT_KEY),
});

/** The whole local stack: embedded store, local keys, seeded demo tenant, and the gateway. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const ephemeral = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'cloudcard-'));
  const files = dataFiles(dataDir);
  prepareDataDir(dataDir, files.store);
  const env: Record<string, string | undefined> = { ...LOCAL_DEFAULTS, ...pick(options.env ?? {}) };
  // Validate before touching anything, so a bad variable fails fast and by name.
  loadConfig({ ...env, [ENV.publicBaseUrl]: env[ENV.publicBaseUrl] ?? 'http://localhost' });

  let lock: DataDirLock | undefined;
  let store: EmbeddedStore | undefined;
  let gateway: Gateway | undefined;
  try {
    lock = lockDataDir(dataDir, 'local stack');
    store = await startEmbeddedStore({ path: files.store, socketPath: files.socket });
    let runtime: Runtime | undefined;
    let config: Config | undefined;
    const tls = options.certListener ? await listenerCertificate(dataDir, options.certListener, (path, content) => writePrivate(path, content)) : undefined;
    gateway = await startGateway(
      async (url, certUrl) => {
        config = loadConfig({ ...env, [ENV.publicBaseUrl]: env[ENV.publicBaseUrl] ?? url, [ENV.certBaseUrl]: env[ENV.certBaseUrl] ?? certUrl });
        runtime = {
          ...(await localRuntime(config, store!, files.keys, {
            ...(options.clock ? { clock: options.clock } : {}),
            ...(options.aws ? { aws: options.aws } : {}),
            ...(options.outbound ? { outbound: options.outbound } : {}),
          })),
          // The same publication path as the admin function in AWS, written to the data directory.
          truststore: new FileTruststore(files.truststore),
        };
        const handlers = Object.fromEntries(
          CONTEXT_NAMES.map((name) => [
            name,
            createContextHandler(
              name,
              options.contextRuntime?.(name, runtime!) ?? runtime!,
              CONTEXT_ROUTES[name],
              createObservability(name, options.logLevel ? { logLevel: options.logLevel } : {}),
            ),
          ]),
        );
        return handlers as ContextHandlers;
      },
      options.port ?? 3000,
      undefined,
      options.certListener && tls ? { port: options.certListener.port, certPem: tls.certPem, keyPem: tls.keyPem } : undefined,
    );

    const hadBootstrap = existsSync(files.bootstrap);
    const services = directoryServices(runtime!);
    const seed = await seedDemo(services, {
      ...(options.demoPassword ? { demoPassword: options.demoPassword } : {}),
      needBootstrap: !hadBootstrap,
    });
    // The bundle exists from the first start (the placeholder until a tenant has a CA) and is current
    // even if the CLI, which publishes nothing, made a tenant CA while the stack was stopped.
    await services.truststore!.publish();
    if (seed.bootstrap) writePrivate(files.bootstrap, JSON.stringify({ ...seed.bootstrap, baseUrl: gateway.url }, null, 2));
    const bootstrap = JSON.parse(readFileSync(files.bootstrap, 'utf8')) as { clientId: string; clientSecret: string };
    writePrivate(files.running, JSON.stringify({ pid: process.pid, url: gateway.url, storeSocket: store.socketPath }, null, 2), true);

    const openStore = store;
    const openGateway = gateway;
    const heldLock = lock;
    return {
      url: gateway.url,
      ...(gateway.certUrl ? { certUrl: gateway.certUrl, certListenerPem: tls!.certPem } : {}),
      storeSocket: store.socketPath,
      dataDir,
      config: config!,
      runtime: runtime!,
      seed,
      bootstrap,
      close: async () => {
        await openGateway.close();
        await openStore.close();
        rmSync(files.running, { force: true });
        heldLock.release();
        if (ephemeral) rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await gateway?.close();
    await store?.close();
    lock?.release();
    if (ephemeral) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** Only the variables the stack reads, so the rest of the shell's environment cannot leak in. */
function pick(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.values(ENV)) if (env[name] !== undefined && env[name] !== '') out[name] = env[name]!;
  return out;
}

function writePrivate(path: string, content: string, replace = false): void {
  if (replace) rmSync(path, { force: true });
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}
