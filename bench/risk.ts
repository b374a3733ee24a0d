/**
 * Token protection's cost at the refresh grant (issue 13): the built-in risk engine's own time (a pure
 * function), and the store requests one scored refresh makes, recorded at the oidc function's stores;
 * then, once the tenant lists a Shared Signals transmitter (its CAEP levels are read), the refresh of a
 * family issued in a session correlated with a device and an SSO reuse (`/oidc/authorize`, prompt=none)
 * of that session (the card's sessions are re-checked). Run: `node bench/risk.ts` (the local stack on dynalite, in process).
 */
import { performance } from 'node:perf_hooks';
import { assessRisk } from '../lambdas/core/risk/engine.ts';
import { riskPolicySchema } from '../lambdas/core/risk/policy.ts';
import { startLocalStack } from '../local/stack.ts';
import { recordingStore, type RecordedRequest } from '../test/support/recording-store.ts';
import { HttpBrowser } from '../test/support/http-browser.ts';
import { authorizeWithLogin, basic, pkce, postForm, registerClient, RP_REDIRECT } from '../test/support/oidc-flows.ts';
import { directoryServices } from '../lambdas/runtime.ts';
import { CardApiClient, generateDeviceKey } from '../agent/sdk.ts';
import { cardAccessToken } from '../test/support/card-flows.ts';
import { summarize, table } from './stats.ts';

const PASSWORD = 'correct horse battery staple';
// The handlers' EMF metric lines would drown the tables (read when the stack builds its handlers, below).
process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';

function engineTime(): string[] {
  const policy = riskPolicySchema.parse({ usualHours: { from: 7, to: 20 }, overrides: [{ audience: 'rp', bands: { stepUp: 20, deny: 60 } }] });
  const last = { ip: '127.0.0.1', browser: 'Chrome', os: 'Linux', location: { country: 'FR', latitude: 48.85, longitude: 2.35 }, at: 0, keyThumbprint: 'k1' };
  const current = {
    ...last,
    ip: '127.0.0.2',
    browser: 'Firefox',
    location: { country: 'AU', latitude: -33.87, longitude: 151.21 },
    at: 60_000,
    keyThumbprint: 'k2',
  };
  const request = { current, last, knownKeys: ['k1'], boundKey: 'k1', recentFailures: 1, audience: 'rp' };
  for (let i = 0; i < 20_000; i++) assessRisk(request, policy);
  const rounds: number[] = [];
  for (let round = 0; round < 20; round++) {
    const start = performance.now();
    for (let i = 0; i < 10_000; i++) assessRisk(request, policy);
    rounds.push(((performance.now() - start) / 10_000) * 1000);
  }
  const s = summarize(rounds);
  return ['assessRisk, every signal evaluated, 7 firing (20 rounds of 10 000 calls)', `${s.p50.toFixed(2)} µs`, `${s.p95.toFixed(2)} µs`];
}

/** The oidc function's store requests for: a scored refresh; a correlated family's refresh with a transmitter listed; a correlated SSO reuse. */
async function recorded(): Promise<{ refresh: RecordedRequest[]; withSignals: RecordedRequest[]; correlatedReuse: RecordedRequest[] }> {
  let log: RecordedRequest[] | undefined;
  const sink = { push: (r: RecordedRequest) => log?.push(r) ?? 0 } as unknown as RecordedRequest[];
  const stack = await startLocalStack({
    port: 0,
    logLevel: 'SILENT',
    demoPassword: PASSWORD,
    contextRuntime: (context, runtime) =>
      context !== 'oidc'
        ? runtime
        : {
            ...runtime,
            state: recordingStore(runtime.state, context, 'state', sink),
            directory: recordingStore(runtime.directory, context, 'directory', sink),
          },
  });
  const measure = async (step: () => Promise<void>): Promise<RecordedRequest[]> => {
    const mine: RecordedRequest[] = [];
    log = mine;
    try {
      await step();
    } finally {
      log = undefined;
    }
    return mine;
  };
  try {
    const services = directoryServices(stack.runtime);
    await services.tenants.update('demo', { oidc: { registration: 'open' } });
    const rp = await registerClient(`${stack.url}/t/demo`);
    const token = `${stack.url}/t/demo/oidc/token`;
    /** A browser sign-in for the RP: the browser, the PKCE challenge, and a refresher of its family (warmed once). */
    const signIn = async () => {
      const { verifier, challenge } = pkce();
      const browser = new HttpBrowser();
      const callback = await authorizeWithLogin(
        `${stack.url}/t/demo`,
        { client_id: rp.client_id, code_challenge: challenge, code_challenge_method: 'S256' },
        browser,
        PASSWORD,
      );
      const issued = await postForm(
        token,
        { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: RP_REDIRECT, code_verifier: verifier },
        { Authorization: basic(rp) },
      );
      let refreshToken = String(issued.body['refresh_token']);
      const refresh = async () => {
        const answer = await postForm(token, { grant_type: 'refresh_token', refresh_token: refreshToken }, { Authorization: basic(rp) });
        if (answer.status !== 200) throw new Error(`refresh failed: ${JSON.stringify(answer.body)}`);
        refreshToken = String(answer.body['refresh_token']);
      };
      await refresh();
      return { browser, challenge, refresh };
    };
    const uncorrelated = await signIn();
    const plain = await measure(uncorrelated.refresh);

    // The user's machine: a live card session of a registered device, opened from the browser's address;
    // the tenant lists a transmitter. A sign-in now is correlated, and its family inherits the correlation.
    const card = (await services.cards!.enrol('demo', { username: 'alice', slots: ['9c'], slotAlgorithms: { '9c': 'p256' }, pin: '24681357', puk: '86427531' }))
      .card.id;
    const access = await cardAccessToken(stack);
    const agent = new CardApiClient({ tenantUrl: `${stack.url}/t/demo`, accessToken: () => access });
    const device = await generateDeviceKey();
    await agent.openSession(card, device);
    await agent.registerDevice(device, { cardSessionLive: true });
    const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] };
    await services.tenants.setSsfTransmitters('demo', { transmitters: [{ issuer: 'https://signals.example', jwks, audience: 'bench' }] });
    const correlated = await signIn();
    const withSignals = await measure(correlated.refresh);
    const silent = `${stack.url}/t/demo/oidc/authorize?${new URLSearchParams({ response_type: 'code', client_id: rp.client_id, redirect_uri: RP_REDIRECT, scope: 'openid', prompt: 'none', code_challenge: correlated.challenge, code_challenge_method: 'S256' })}`;
    await correlated.browser.follow(silent, RP_REDIRECT);
    const correlatedReuse = await measure(async () => {
      const reused = await correlated.browser.follow(silent, RP_REDIRECT);
      if (!new URL(reused.url).searchParams.get('code')) throw new Error(`SSO reuse failed: ${reused.url}`);
    });
    return { refresh: plain, withSignals, correlatedReuse };
  } finally {
    await stack.close();
  }
}

const { refresh, withSignals, correlatedReuse } = await recorded();
const kind = (r: RecordedRequest) => `${r.table} ${r.action.replace('dynamodb:', '')} ${r.index ? `${r.index} ` : ''}${r.partition.replace(/#.*/, '#…')}`;
const counts = (requests: RecordedRequest[]) => {
  const counted = new Map<string, number>();
  for (const r of requests) counted.set(kind(r), (counted.get(kind(r)) ?? 0) + 1);
  return counted;
};
const scenarios = [counts(refresh), counts(withSignals), counts(correlatedReuse)];
const kinds = [...new Set(scenarios.flatMap((c) => [...c.keys()]))].sort();
process.stdout.write(`${table(['built-in engine', 'p50 per call', 'p95 per call'], [engineTime()])}\n\n`);
process.stdout.write(
  `${table(
    [
      'store request (oidc function)',
      'scored refresh',
      'refresh of a correlated family, tenant with a transmitter',
      'SSO reuse of a correlated session, tenant with a transmitter',
    ],
    kinds.map((k) => [k, ...scenarios.map((c) => String(c.get(k) ?? 0))]),
  )}\n`,
);
