import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tallied, type Tally } from './tally.ts';

/** The one method of oidc-provider used here (the package ships no type declarations). */
interface ProviderModels {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => ProviderModels;

/** Non-literal specifiers keep the compiler from looking for the (absent) declarations. */
const PROVIDER_MODULE: string = 'oidc-provider';
const MEMORY_ADAPTER_MODULE: string = 'oidc-provider/lib/adapters/memory_adapter.js';
/** oidc-provider's own default (`clockTolerance` 15 s). */
const CLOCK_TOLERANCE = 15;

/**
 * The peer for the token-endpoint benchmark: oidc-provider (panva) configured like cloudcard's `demo`
 * tenant as far as the token endpoint goes. One confidential client (client_secret_basic) with the
 * client_credentials, refresh_token and authorization_code grants; RS256 only; JWT access tokens
 * (RFC 9068, through a default resource server); refresh tokens rotated on every use (cloudcard always
 * rotates; oidc-provider's default rotates only public clients' tokens); its own in-memory adapter.
 * Served on a loopback port by a plain node:http server, which can also time the handler (from the
 * request event to the response's `finish`).
 */
export interface Peer {
  /** oidc-provider's version, from its package.json. */
  readonly version: string;
  readonly url: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUri: string;
  readonly resource: string;
  /** Calls into the storage adapter so far, by `Model.method`, and their time (the default in-memory adapter). */
  adapterTally(): Tally;
  /** Starts recording the server-side time of each request (ms); `stop` returns the samples. */
  record(): { stop(): number[] };
  close(): Promise<void>;
}

export const PEER_RESOURCE = 'urn:bench';

export async function startPeer(): Promise<Peer> {
  const clientId = 'bench-client';
  const clientSecret = randomBytes(32).toString('base64url');
  const redirectUri = 'https://rp.example.test/callback';
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

  let recording: number[] | undefined;
  let callback: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    if (recording) {
      const samples = recording;
      const start = performance.now();
      res.once('finish', () => samples.push(performance.now() - start));
    }
    callback!(req, res);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  // oidc-provider prints development notices with console.info (stdout) and console.warn: keep them out
  // of the benchmark's markdown.
  const { info, warn } = console;
  const quiet =
    (original: (...args: unknown[]) => void) =>
    (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider ')) return;
      original(...args);
    };
  console.info = quiet(info);
  console.warn = quiet(warn);

  const Provider = ((await import(PROVIDER_MODULE)) as { default: ProviderClass }).default;
  // The default in-memory adapter (what oidc-provider builds when none is configured: an LRU of 1000
  // entries shared by every model), behind a proxy that only counts and times the calls.
  type Adapter = Record<string, unknown>;
  const { createMemoryAdapter } = (await import(MEMORY_ADAPTER_MODULE)) as { createMemoryAdapter(clockTolerance: number): (model: string) => Adapter };
  const memory = createMemoryAdapter(CLOCK_TOLERANCE);
  const tally: Tally = { calls: {}, ms: 0 };
  const adapter = (model: string): Adapter => tallied(memory(model), tally, model);
  const provider = new Provider(url, {
    adapter,
    clockTolerance: CLOCK_TOLERANCE,
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['client_credentials', 'refresh_token', 'authorization_code'],
        response_types: ['code'],
        redirect_uris: [redirectUri],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'openid profile offline_access',
        id_token_signed_response_alg: 'RS256',
      },
    ],
    jwks: { keys: [{ ...jwk, kid: 'bench-rs256', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'profile', 'offline_access'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => PEER_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'profile', audience: PEER_RESOURCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
      },
    },
    issueRefreshToken: (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    pkce: { required: () => true },
  });
  callback = provider.callback();

  const { version } = createRequire(import.meta.url)('oidc-provider/package.json') as { version: string };
  return {
    version,
    url,
    issuer: url,
    clientId,
    clientSecret,
    redirectUri,
    resource: PEER_RESOURCE,
    adapterTally: () => ({ calls: { ...tally.calls }, ms: tally.ms }),
    record() {
      const samples: number[] = [];
      recording = samples;
      return {
        stop: () => {
          recording = undefined;
          return samples;
        },
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        console.info = info;
        console.warn = warn;
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
