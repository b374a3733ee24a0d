import { fork } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import type { Context } from 'aws-lambda';
import { createContextHandler } from '../lambdas/apps.ts';
import { hashSecret, verifySecret } from '../lambdas/core/crypto/password.ts';
import { oidcSettingsOf } from '../lambdas/core/directory/tenant.ts';
import type { ProxyHandler } from '../lambdas/http/app.ts';
import { oidcContext } from '../lambdas/http/contexts/oidc.ts';
import type { ProxyEvent } from '../lambdas/http/types.ts';
import { createObservability } from '../lambdas/observability.ts';
import { directoryServices, type Runtime } from '../lambdas/runtime.ts';
import { embeddedStoreClient } from '../local/embedded-store.ts';
import { startLocalStack, type LocalStack } from '../local/stack.ts';
import { MemoryItemStore, MemoryStateStore, scanTable } from './memory-store.ts';
import { HttpBrowser, formOf } from '../test/support/http-browser.ts';
import type { LoadJob, LoadResult } from './oidc-load.ts';
import { startPeer, type Peer } from './oidc-provider-peer.ts';
import { ms, table } from './stats.ts';
import { Rounds, tallied, type Tally } from './tally.ts';

/**
 * The token endpoint of cloudcard beside oidc-provider (panva), same run, same machine, loopback only:
 *
 * 1. sequential latency (one request at a time, after a warm-up): cloudcard's oidc handler called in
 *    process with API Gateway proxy events and cloudcard through the local gateway over HTTP, in turn;
 *    then the peer over HTTP (timed by the client, and by its server from the request event to
 *    the response's finish);
 * 2. throughput under load through each HTTP server: autocannon in a child process, 10 connections, a
 *    fixed duration; refresh_token as chains (each response's rotated token is the next request's);
 * 3. the full authorization-code flow (authorize, login, consent, callback, token) wall time.
 *
 * Every part runs a fixed count or a fixed duration and stops by itself.
 */
export interface OidcBenchOptions {
  /** Sequential calls measured per grant and per path, after `warmup` unmeasured ones. */
  readonly calls: number;
  readonly warmup: number;
  /** autocannon run length (seconds) and connections. */
  readonly loadSeconds: number;
  readonly connections: number;
  /** Code flows timed per provider. */
  readonly flows: number;
}

export const OIDC_BENCH_DEFAULTS: OidcBenchOptions = { calls: 500, warmup: 50, loadSeconds: 10, connections: 10, flows: 50 };

const REDIRECT = 'https://rp.example.test/callback';
/** Both providers: the same user scopes for the code flow and the refresh chains (ID token + refresh). */
const USER_SCOPE = 'openid profile offline_access';
/** client_credentials on both: one non-OIDC scope. */
const CC_BODY = 'grant_type=client_credentials&scope=profile';
/** Spare refresh chains under load, beyond one per connection, should one break. */
const SPARE_CHAINS = 4;

interface Reply {
  readonly status: number;
  readonly body: string;
}
interface TokenReply {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  error?: string;
  error_description?: string;
}

/** Percentiles as `bench/stats.ts` takes them (nearest rank, floor). */
function percentiles(samples: readonly number[]): { n: number; p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99) };
}

const ratio = (ours: number, theirs: number): string => `${(ours / theirs).toFixed(2)}x`;
const basicAuth = (id: string, secret: string): string => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const jwtHeader = (jwt: string): { alg?: string; typ?: string } =>
  JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as { alg?: string; typ?: string };
const loopback = (url: string): string => url.replace('://localhost:', '://127.0.0.1:');

/** One keep-alive connection: the sequential HTTP client for both providers. */
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function post(url: string, headers: Record<string, string>, body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      loopback(url),
      { method: 'POST', agent, headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.setTimeout(10_000, () => request.destroy(new Error(`no answer from ${url} in 10 s`)));
    request.end(body);
  });
}

function tokens(reply: Reply, what: string): TokenReply {
  const parsed = JSON.parse(reply.body) as TokenReply;
  if (reply.status !== 200) throw new Error(`${what}: HTTP ${reply.status} ${parsed.error ?? ''} ${parsed.error_description ?? ''}`);
  return parsed;
}

/** `warmup` unmeasured rounds, then `calls` measured ones; a round calls each path once, in turn. */
async function rounds(options: OidcBenchOptions, paths: Record<string, () => Promise<void>>): Promise<Record<string, number[]>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(paths).map((name) => [name, []]));
  for (let round = 0; round < options.warmup + options.calls; round++) {
    for (const [name, step] of Object.entries(paths)) {
      const start = performance.now();
      await step();
      if (round >= options.warmup) samples[name]!.push(performance.now() - start);
    }
  }
  return samples;
}

/** A refresh chain: each call presents the token the previous response rotated to. */
function chain(seed: string, refresh: (token: string) => Promise<TokenReply>): () => Promise<void> {
  let current = seed;
  return async () => {
    const reply = await refresh(current);
    if (!reply.refresh_token || reply.refresh_token === current) throw new Error('refresh did not rotate');
    current = reply.refresh_token;
  };
}

/**
 * Runs one load job in a child process (never on the event loop of the server under test). `serverCpu`:
 * the CPU this process (the server under load, with its embedded store) used per second of the run; near
 * 100 % means req/s is bound by the one thread's work per request, not by waiting.
 */
function load(job: LoadJob): Promise<LoadResult & { serverCpu: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./oidc-load.ts', import.meta.url), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), (job.duration + 60) * 1000);
    const cpuBefore = process.cpuUsage();
    let answered = false;
    child.once('message', (message: { result?: LoadResult; error?: string }) => {
      answered = true;
      const cpu = process.cpuUsage(cpuBefore);
      if (message.result) resolve({ ...message.result, serverCpu: (cpu.user + cpu.system) / 1e6 / message.result.duration });
      else reject(new Error(`load generator: ${message.error}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!answered) reject(new Error(`load generator exited with ${code} and no result`));
    });
    child.send(job);
  });
}

/** An HttpBrowser that counts its requests. */
class CountingBrowser extends HttpBrowser {
  requests = 0;
  override request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    this.requests++;
    return super.request(url, init);
  }
}

interface FlowResult {
  readonly ms: number;
  readonly requests: number;
  readonly refreshToken: string;
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier, 'ascii').digest('base64url') };
}

/** One provider as the code flow drives it: endpoints, client, and what its login and consent forms take. */
interface Side {
  readonly authorize: string;
  readonly clientId: string;
  readonly token: string;
  readonly authorization: string;
  readonly login: Record<string, string>;
  readonly consent: Record<string, string>;
}

/** Either provider's flow: authorize, its login form, its consent form, the redirect back, the code. */
async function codeFlow(side: Side): Promise<FlowResult> {
  const { verifier, challenge } = pkce();
  const state = randomBytes(16).toString('base64url');
  const url = new URL(side.authorize);
  const params = {
    client_id: side.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: USER_SCOPE,
    state,
    nonce: randomUUID(),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    prompt: 'consent',
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);

  const start = performance.now();
  const browser = new CountingBrowser();
  let { response, url: at } = await browser.follow(url.toString(), REDIRECT);
  const login = formOf(await response.text());
  ({ response, url: at } = await browser.follow(login.action, REDIRECT, { form: { ...login.fields, ...side.login } }));
  if (!at.startsWith(REDIRECT)) {
    const consent = formOf(await response.text());
    ({ response, url: at } = await browser.follow(consent.action, REDIRECT, { form: { ...consent.fields, ...side.consent } }));
  }
  const callback = new URL(at);
  const code = callback.searchParams.get('code');
  if (!at.startsWith(REDIRECT) || !code || callback.searchParams.get('state') !== state) throw new Error(`code flow did not come back with a code: ${at}`);
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }).toString();
  const reply = tokens(
    await post(side.token, { Authorization: side.authorization, 'Content-Type': 'application/x-www-form-urlencoded' }, body),
    'code exchange',
  );
  const elapsed = performance.now() - start;
  if (!reply.refresh_token || !reply.id_token) throw new Error('code exchange returned no refresh or ID token');
  return { ms: elapsed, requests: browser.requests + 1, refreshToken: reply.refresh_token };
}

function lambdaContext(requestId: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'cloudcard-oidc',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:cloudcard-oidc',
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: '/local/cloudcard-oidc',
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** The REST API proxy event of a token request, as local/gateway.ts `toProxyEvent` builds it. */
function tokenEvent(host: string, path: string, authorization: string, body: string): ProxyEvent {
  const headers: Record<string, string> = {
    Host: host,
    'Content-Type': 'application/x-www-form-urlencoded',
    Authorization: authorization,
    'Content-Length': String(Buffer.byteLength(body)),
    'User-Agent': 'cloudcard-bench',
  };
  const requestId = randomUUID();
  return {
    resource: '/{proxy+}',
    path,
    httpMethod: 'POST',
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { proxy: path.slice(1) },
    stageVariables: null,
    body,
    isBase64Encoded: false,
    requestContext: {
      requestId,
      stage: 'local',
      httpMethod: 'POST',
      path,
      resourcePath: '/{proxy+}',
      resourceId: 'local',
      accountId: '000000000000',
      apiId: 'local',
      protocol: 'HTTP/1.1',
      requestTimeEpoch: Date.now(),
      authorizer: null,
      identity: { sourceIp: '127.0.0.1', userAgent: 'cloudcard-bench' },
    } as unknown as ProxyEvent['requestContext'],
  };
}

/**
 * `n` requests, one at a time: the store calls per request (mean, by method) and, per request, the time
 * spent waiting on the store and the whole request's time. The calls of one request are sequential on
 * both providers, so their summed duration is the store's share of the request.
 */
async function storeShare(n: number, tally: () => Tally, step: () => Promise<unknown>): Promise<{ calls: string; store: number[]; whole: number[] }> {
  const first = tally();
  const before = { calls: { ...first.calls }, ms: first.ms };
  const store: number[] = [];
  const whole: number[] = [];
  const trips: number[] = [];
  for (let i = 0; i < n; i++) {
    const ms0 = tally().ms;
    first.rounds?.reset();
    const start = performance.now();
    await step();
    whole.push(performance.now() - start);
    store.push(tally().ms - ms0);
    if (first.rounds) trips.push(first.rounds.count);
  }
  const after = tally();
  const calls = Object.entries(after.calls)
    .map(([key, count]) => [key, (count - (before.calls[key] ?? 0)) / n] as const)
    .filter(([, mean]) => mean > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, mean]) => `${key} ${Number.isInteger(mean) ? mean : mean.toFixed(2)}`)
    .join(', ');
  // Round trips where counted: the median request's (the handler's stores share one counter).
  const median = trips.length ? percentiles(trips).p50 : undefined;
  const roundTrips = median === undefined ? '' : ` (${median} round trip${median === 1 ? '' : 's'})`;
  return { calls: `${calls || 'none'}${roundTrips}`, store, whole };
}

/** A store port whose every call answers `ms` later (a timer: waiting, no CPU), as if over a network. */
function delayed<T extends object>(store: T, ms: number): T {
  const wait = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  return new Proxy(store, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        try {
          return await (value as (...a: unknown[]) => unknown).apply(object, args);
        } finally {
          await wait();
        }
      };
    },
  });
}

/** DynamoDB's round trip from a Lambda function, modelled (the issue's 2-5 ms per call on AWS). */
const MODELLED_STORE_MS = 3;

/**
 * The oidc handler over the store ports in memory, loaded with a copy of the local stack's two tables;
 * with `waitMs`, each store call also waits that long (round trips cost time, not CPU, as on AWS).
 */
async function inMemory(stack: LocalStack, waitMs = 0): Promise<ProxyHandler> {
  const client = embeddedStoreClient(stack.storeSocket);
  try {
    const directory = new MemoryItemStore('directory');
    directory.load(await scanTable(client, stack.config.directoryTable));
    const state = new MemoryStateStore(stack.runtime.clock);
    state.load(await scanTable(client, stack.config.stateTable));
    return createContextHandler(
      'oidc',
      (waitMs > 0
        ? { ...stack.runtime, directory: delayed(directory, waitMs), state: delayed(state, waitMs) }
        : { ...stack.runtime, directory, state }) satisfies Runtime,
      oidcContext,
      createObservability('oidc', { logLevel: 'SILENT' }),
    );
  } finally {
    client.destroy();
  }
}

export async function benchOidc(options: OidcBenchOptions = OIDC_BENCH_DEFAULTS): Promise<string> {
  const demoPassword = randomBytes(18).toString('base64url');
  // The oidc function's tenant/client cache as deployed (the local stack's default is off).
  const stack: LocalStack = await startLocalStack({ port: 0, logLevel: 'SILENT', demoPassword, env: { DIRECTORY_CACHE_SECONDS: '30' } });
  let peer: Peer | undefined;
  // A deadline well past the expected run time: closing the servers then fails whatever still waits.
  const budgetMs = (10 * options.loadSeconds + 120) * 1000 + options.flows * 2 * 1000 + options.calls * 4 * 100;
  let deadline: NodeJS.Timeout | undefined;
  try {
    peer = await startPeer();
    return await Promise.race([
      run(stack, peer, demoPassword, options),
      new Promise<never>((_, reject) => {
        deadline = setTimeout(() => reject(new Error(`the OIDC benchmark did not finish in ${budgetMs / 1000} s`)), budgetMs);
      }),
    ]);
  } finally {
    clearTimeout(deadline);
    await peer?.close();
    await stack.close();
    agent.destroy();
  }
}

async function run(stack: LocalStack, peer: Peer, demoPassword: string, options: OidcBenchOptions): Promise<string> {
  const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const issuer = `${stack.url}/t/demo`;
  const tokenPath = '/t/demo/oidc/token';
  const ccTokenUrl = `${stack.url}${tokenPath}`;

  // ---- cloudcard: a confidential client the operator adds (the password grant is never given to
  // registered clients), client_secret_basic.
  const made = await directoryServices(stack.runtime).clients.create(
    'demo',
    {
      client_name: 'bench',
      redirect_uris: [REDIRECT],
      grant_types: ['client_credentials', 'refresh_token', 'authorization_code', 'password'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: USER_SCOPE,
    },
    'admin',
  );
  const client = { client_id: made.client.client_id, client_secret: made.clientSecret! };
  const ccAuth = basicAuth(client.client_id, client.client_secret);
  const peerAuth = basicAuth(peer.clientId, peer.clientSecret);
  const peerToken = `${peer.url}/token`;

  const ccSide: Side = {
    authorize: `${issuer}/oidc/authorize`,
    clientId: client.client_id,
    token: ccTokenUrl,
    authorization: ccAuth,
    login: { username: 'alice', password: demoPassword },
    consent: { decision: 'allow' },
  };
  const peerSide: Side = {
    authorize: `${peer.url}/auth`,
    clientId: peer.clientId,
    token: peerToken,
    authorization: peerAuth,
    login: { login: 'alice', password: 'any' },
    consent: {},
  };
  const seeds = async (side: Side, count: number): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push((await codeFlow(side)).refreshToken);
    return out;
  };

  // ---- the same work on both sides: check what each issues (algorithm, token type) once.
  const ccSample = tokens(await post(ccTokenUrl, { ...form, Authorization: ccAuth }, CC_BODY), 'cloudcard client_credentials');
  const peerSample = tokens(await post(peerToken, { ...form, Authorization: peerAuth }, CC_BODY), 'oidc-provider client_credentials');
  const issued = `cloudcard ${jwtHeader(ccSample.access_token).alg}/${jwtHeader(ccSample.access_token).typ}, oidc-provider ${jwtHeader(peerSample.access_token).alg}/${jwtHeader(peerSample.access_token).typ}`;
  const demo = await directoryServices(stack.runtime).tenants.find('demo');
  const settings = oidcSettingsOf(demo!);

  // ---- 3. full code flow (first: it also warms both servers' page paths).
  const flowSamples = { cc: [] as number[], peer: [] as number[] };
  const flowRequests = { cc: 0, peer: 0 };
  for (const [key, side] of [
    ['cc', ccSide],
    ['peer', peerSide],
  ] as const) {
    for (let i = 0; i < 3; i++) await codeFlow(side);
    for (let i = 0; i < options.flows; i++) {
      const flow = await codeFlow(side);
      flowSamples[key].push(flow.ms);
      flowRequests[key] = flow.requests;
    }
  }
  // What cloudcard's login spends in the password hash alone (scrypt N=2^15, r=8, p=2), for reading the flow.
  const hash = await hashSecret(demoPassword);
  const scryptSamples: number[] = [];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    await verifySecret(demoPassword, hash);
    scryptSamples.push(performance.now() - start);
  }

  // ---- 1a. cloudcard's oidc handler in process, built as local/stack.ts builds it.
  const handler: ProxyHandler = createContextHandler('oidc', stack.runtime, oidcContext, createObservability('oidc', { logLevel: 'SILENT' }));
  const host = new URL(stack.url).host;
  const direct = async (h: ProxyHandler, body: string): Promise<TokenReply> => {
    const event = tokenEvent(host, tokenPath, ccAuth, body);
    const result = await h(event, lambdaContext(event.requestContext.requestId));
    return tokens({ status: result.statusCode, body: result.body }, 'cloudcard handler');
  };
  const refreshBody = (token: string): string => `grant_type=refresh_token&refresh_token=${encodeURIComponent(token)}`;
  const ccHttp = (body: string, what: string) => async () => tokens(await post(ccTokenUrl, { ...form, Authorization: ccAuth }, body), what);
  const peerHttp = (body: string, what: string) => async () => tokens(await post(peerToken, { ...form, Authorization: peerAuth }, body), what);
  // 1a-1b, per grant in rounds: each round makes one call on each cloudcard path (the handler in process,
  // the local gateway over HTTP), so a drift in the machine's state (the store's background compaction
  // after the code flows, JIT, GC) falls on both alike. 1c, the peer, in its own block after a pause:
  // interleaved, it would pay for cloudcard's garbage collection and store work. Its server times its
  // requests meanwhile.
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1_000));
  const [handlerSeed, gatewaySeed, memorySeed, modelSeed] = await seeds(ccSide, 4);
  const [peerSeed] = await seeds(peerSide, 1);
  // 1a'. the same handler over the store ports in memory (bench/memory-store.ts), loaded with a copy of
  // the tables as they now stand (tenant, keys, client, the seeded refresh family): the handler's own
  // cost, beside oidc-provider on its in-memory adapter.
  const memoryHandler = await inMemory(stack);
  const modelHandler = await inMemory(stack, MODELLED_STORE_MS);
  await settle();
  const ccRounds = await rounds(options, {
    handler: async () => void (await direct(handler, CC_BODY)),
    memory: async () => void (await direct(memoryHandler, CC_BODY)),
    modelled: async () => void (await direct(modelHandler, CC_BODY)),
    gateway: async () => void (await ccHttp(CC_BODY, 'cloudcard')()),
  });
  const rtRounds = await rounds(options, {
    handler: chain(handlerSeed!, (t) => direct(handler, refreshBody(t))),
    memory: chain(memorySeed!, (t) => direct(memoryHandler, refreshBody(t))),
    modelled: chain(modelSeed!, (t) => direct(modelHandler, refreshBody(t))),
    gateway: chain(gatewaySeed!, (t) => ccHttp(refreshBody(t), 'cloudcard refresh')()),
  });
  await settle();
  let recorder = peer.record();
  const peerCc = (await rounds(options, { peer: async () => void (await peerHttp(CC_BODY, 'oidc-provider')()) }))['peer']!;
  const peerServerCc = recorder.stop().slice(options.warmup);
  recorder = peer.record();
  const peerRt = (await rounds(options, { peer: chain(peerSeed!, (t) => peerHttp(refreshBody(t), 'oidc-provider refresh')()) }))['peer']!;
  const peerServerRt = recorder.stop().slice(options.warmup);
  const seq = {
    handlerCc: ccRounds['handler']!,
    handlerRt: rtRounds['handler']!,
    memoryCc: ccRounds['memory']!,
    memoryRt: rtRounds['memory']!,
    modelCc: ccRounds['modelled']!,
    modelRt: rtRounds['modelled']!,
    gatewayCc: ccRounds['gateway']!,
    gatewayRt: rtRounds['gateway']!,
    peerCc,
    peerRt,
    peerServerCc,
    peerServerRt,
  };

  // ---- store calls per request: cloudcard's handler over counting stores, the peer over HTTP with its
  // counting adapter; both after a warm-up, so the caches are as warm as in the timed runs.
  const ccTally: Tally = { calls: {}, ms: 0, rounds: new Rounds() };
  const countingHandler = createContextHandler(
    'oidc',
    {
      ...stack.runtime,
      directory: tallied(stack.runtime.directory, ccTally, 'directory'),
      state: tallied(stack.runtime.state, ccTally, 'state'),
    } satisfies Runtime,
    oidcContext,
    createObservability('oidc', { logLevel: 'SILENT' }),
  );
  const COUNTED = 50;
  const ccChain = chain((await seeds(ccSide, 1))[0]!, (t) => direct(countingHandler, refreshBody(t)));
  const peerChain = chain((await seeds(peerSide, 1))[0]!, (t) => peerHttp(refreshBody(t), 'oidc-provider refresh')());
  for (let i = 0; i < 10; i++) {
    await direct(countingHandler, CC_BODY);
    await ccChain();
    await peerHttp(CC_BODY, 'oidc-provider')();
    await peerChain();
  }
  const share = {
    ccCc: await storeShare(
      COUNTED,
      () => ccTally,
      () => direct(countingHandler, CC_BODY),
    ),
    ccRt: await storeShare(COUNTED, () => ccTally, ccChain),
    peerCc: await storeShare(COUNTED, () => peer.adapterTally(), peerHttp(CC_BODY, 'oidc-provider')),
    peerRt: await storeShare(COUNTED, () => peer.adapterTally(), peerChain),
  };

  // ---- 2. load through each HTTP server, from a child process.
  const ccHeaders = { ...form, Authorization: ccAuth };
  const peerHeaders = { ...form, Authorization: peerAuth };
  const job = { connections: options.connections, duration: options.loadSeconds };
  const loadCc = {
    cc: await load({ ...job, url: loopback(ccTokenUrl), headers: ccHeaders, body: CC_BODY }),
    peer: await load({ ...job, url: peerToken, headers: peerHeaders, body: CC_BODY }),
  };
  const chains = options.connections + SPARE_CHAINS;
  const loadRt = {
    cc: await load({ ...job, url: loopback(ccTokenUrl), headers: ccHeaders, refreshChains: await seeds(ccSide, chains) }),
    peer: await load({ ...job, url: peerToken, headers: peerHeaders, refreshChains: await seeds(peerSide, chains) }),
  };

  // ---- tables
  const n = options.calls;
  const p = Object.fromEntries(Object.entries(seq).map(([k, v]) => [k, percentiles(v)])) as Record<keyof typeof seq, ReturnType<typeof percentiles>>;
  const latencyRows: string[][] = [];
  for (const [grant, cc, mem, gw, peerHttp, peerServer, model] of [
    ['client_credentials', p.handlerCc, p.memoryCc, p.gatewayCc, p.peerCc, p.peerServerCc, p.modelCc],
    ['refresh_token (chain)', p.handlerRt, p.memoryRt, p.gatewayRt, p.peerRt, p.peerServerRt, p.modelRt],
  ] as const) {
    latencyRows.push([grant, 'cloudcard: oidc handler, in process', ms(cc.p50), ms(cc.p99)]);
    latencyRows.push([grant, 'oidc-provider: server side (request event to response finish)', ms(peerServer.p50), ms(peerServer.p99)]);
    latencyRows.push([grant, '**ratio** in-process cloudcard / oidc-provider', ratio(cc.p50, peerServer.p50), ratio(cc.p99, peerServer.p99)]);
    latencyRows.push([grant, 'cloudcard: oidc handler on the in-memory store, in process', ms(mem.p50), ms(mem.p99)]);
    latencyRows.push([
      grant,
      '**ratio** in-memory cloudcard / oidc-provider (both in-memory stores)',
      ratio(mem.p50, peerServer.p50),
      ratio(mem.p99, peerServer.p99),
    ]);
    latencyRows.push([
      grant,
      `cloudcard: oidc handler on the in-memory store, each call answered ${MODELLED_STORE_MS} ms later (AWS model)`,
      ms(model.p50),
      ms(model.p99),
    ]);
    latencyRows.push([grant, 'cloudcard: local gateway over HTTP, client side', ms(gw.p50), ms(gw.p99)]);
    latencyRows.push([grant, 'oidc-provider: over HTTP, client side', ms(peerHttp.p50), ms(peerHttp.p99)]);
    latencyRows.push([grant, '**ratio** over HTTP cloudcard / oidc-provider', ratio(gw.p50, peerHttp.p50), ratio(gw.p99, peerHttp.p99)]);
  }
  const loadRows: string[][] = [];
  for (const [grant, pair] of [
    ['client_credentials', loadCc],
    ['refresh_token (chains)', loadRt],
  ] as const) {
    const row = (who: string, r: LoadResult & { serverCpu: number }): string[] => [
      grant,
      who,
      r.rps.toFixed(0),
      ms(r.p50),
      ms(r.p99),
      `${r.ok} / ${r.non2xx + r.errors + r.timeouts}`,
      `${(r.serverCpu * 100).toFixed(0)} %`,
    ];
    loadRows.push(row('cloudcard (local gateway)', pair.cc));
    loadRows.push(row('oidc-provider', pair.peer));
    loadRows.push([
      grant,
      '**ratio** cloudcard / oidc-provider',
      ratio(pair.cc.rps, pair.peer.rps),
      ratio(pair.cc.p50, pair.peer.p50),
      ratio(pair.cc.p99, pair.peer.p99),
      '',
      '',
    ]);
  }
  const flows = { cc: percentiles(flowSamples.cc), peer: percentiles(flowSamples.peer) };
  const scrypt = percentiles(scryptSamples);
  const flowRows = [
    ['cloudcard (local gateway, portal login with the password hash, consent)', String(flowRequests.cc), ms(flows.cc.p50), ms(flows.cc.p99)],
    ['oidc-provider (devInteractions: login accepts any password, consent)', String(flowRequests.peer), ms(flows.peer.p50), ms(flows.peer.p99)],
    [
      'ratio cloudcard / oidc-provider (not like for like: see the password hash)',
      '',
      ratio(flows.cc.p50, flows.peer.p50),
      ratio(flows.cc.p99, flows.peer.p99),
    ],
    ['cloudcard password hash alone (scrypt N=2^15 r=8 p=2, n=20)', '', ms(scrypt.p50), ms(scrypt.p99)],
  ];
  const shareCell = (x: { store: number[]; whole: number[] }): string => `${ms(percentiles(x.store).p50)} of ${ms(percentiles(x.whole).p50)}`;
  const calls = [
    ['client_credentials', share.ccCc.calls, shareCell(share.ccCc), share.peerCc.calls, shareCell(share.peerCc)],
    ['refresh_token', share.ccRt.calls, shareCell(share.ccRt), share.peerRt.calls, shareCell(share.peerRt)],
  ];

  return [
    `Access tokens issued: ${issued}. cloudcard tenant \`demo\` (${settings.signingAlgorithm}, ${settings.signingMode} key), store: dynalite on loopback HTTP in the same process; oidc-provider ${peer.version}, its default in-memory adapter.`,
    '',
    `### Sequential latency (one request at a time, n=${n} per path after ${options.warmup} warm-up; cloudcard's three paths in turn, then the peer)`,
    '',
    table(['grant', 'path', 'p50 ms', 'p99 ms'], latencyRows),
    '',
    `### Under load (autocannon in a child process, ${options.connections} connections, ${options.loadSeconds} s each; its latencies are whole milliseconds)`,
    '',
    table(['grant', 'server', 'req/s', 'p50 ms', 'p99 ms', '2xx / failed', 'server process CPU'], loadRows),
    '',
    `### Full authorization-code flow (authorize → login → consent → callback → token), sequential, n=${options.flows}`,
    '',
    table(['provider', 'HTTP requests', 'p50 ms', 'p99 ms'], flowRows),
    '',
    `### Store calls per token request (n=${COUNTED} after warm-up; time p50: waiting on the store, of the whole request)`,
    '',
    table(
      [
        'grant',
        'cloudcard calls (DynamoDB adapter → dynalite)',
        'cloudcard ms in store, of handler',
        'oidc-provider calls (in-memory adapter)',
        'oidc-provider ms in adapter, of HTTP request',
      ],
      calls,
    ),
  ].join('\n');
}

// `node bench/oidc.ts` runs this part alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  const quick = process.env['BENCH_OIDC_QUICK'] === '1';
  // BENCH_OIDC_CALLS / BENCH_FLOWS / BENCH_LOAD_SECONDS as in `npm run bench` (bench/run.ts).
  const options = {
    ...OIDC_BENCH_DEFAULTS,
    calls: Number(process.env['BENCH_OIDC_CALLS'] ?? OIDC_BENCH_DEFAULTS.calls),
    loadSeconds: Number(process.env['BENCH_LOAD_SECONDS'] ?? OIDC_BENCH_DEFAULTS.loadSeconds),
    flows: Number(process.env['BENCH_FLOWS'] ?? OIDC_BENCH_DEFAULTS.flows),
  };
  process.stdout.write(`${await benchOidc(quick ? { calls: 50, warmup: 10, loadSeconds: 2, connections: 10, flows: 5 } : options)}\n`);
}
