/**
 * Token protection's cost at the refresh grant (issue 13): the built-in risk engine's own time (a pure
 * function), and the store requests one scored refresh makes, recorded at the oidc function's stores.
 * Run: `node bench/risk.ts` (the local stack on dynalite, in process).
 */
import { performance } from 'node:perf_hooks';
import { assessRisk } from '../lambdas/core/risk/engine.ts';
import { riskPolicySchema } from '../lambdas/core/risk/policy.ts';
import { startLocalStack } from '../local/stack.ts';
import { recordingStore, type RecordedRequest } from '../test/support/recording-store.ts';
import { HttpBrowser } from '../test/support/http-browser.ts';
import { authorizeWithLogin, basic, pkce, postForm, registerClient, RP_REDIRECT } from '../test/support/oidc-flows.ts';
import { directoryServices } from '../lambdas/runtime.ts';
import { summarize, table } from './stats.ts';

const PASSWORD = 'correct horse battery staple';
// The handlers' EMF metric lines would drown the tables (read when the stack builds its handlers, below).
process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';

function engineTime(): string[] {
  const policy = riskPolicySchema.parse({ usualHours: { from: 7, to: 20 }, overrides: [{ audience: 'rp', bands: { stepUp: 20, deny: 60 } }] });
  const last = { ip: '127.0.0.1', browser: 'Chrome', os: 'Linux', location: { country: 'FR', latitude: 48.85, longitude: 2.35 }, at: 0, keyThumbprint: 'k1' };
  const current = { ...last, ip: '127.0.0.2', browser: 'Firefox', location: { country: 'AU', latitude: -33.87, longitude: 151.21 }, at: 60_000, keyThumbprint: 'k2' };
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

async function refreshRequests(): Promise<RecordedRequest[]> {
  const log: RecordedRequest[] = [];
  let recording = false;
  const stack = await startLocalStack({
    port: 0,
    logLevel: 'SILENT',
    demoPassword: PASSWORD,
    contextRuntime: (context, runtime) =>
      context !== 'oidc'
        ? runtime
        : {
            ...runtime,
            state: recordingStore(runtime.state, context, 'state', { push: (r: RecordedRequest) => (recording ? log.push(r) : 0) } as unknown as RecordedRequest[]),
            directory: recordingStore(runtime.directory, context, 'directory', { push: (r: RecordedRequest) => (recording ? log.push(r) : 0) } as unknown as RecordedRequest[]),
          },
  });
  try {
    await directoryServices(stack.runtime).tenants.update('demo', { oidc: { registration: 'open' } });
    const rp = await registerClient(`${stack.url}/t/demo`);
    const { verifier, challenge } = pkce();
    const callback = await authorizeWithLogin(`${stack.url}/t/demo`, { client_id: rp.client_id, code_challenge: challenge, code_challenge_method: 'S256' }, new HttpBrowser(), PASSWORD);
    const token = `${stack.url}/t/demo/oidc/token`;
    const issued = await postForm(token, { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: RP_REDIRECT, code_verifier: verifier }, { Authorization: basic(rp) });
    const warm = await postForm(token, { grant_type: 'refresh_token', refresh_token: String(issued.body['refresh_token']) }, { Authorization: basic(rp) });
    recording = true;
    const measured = await postForm(token, { grant_type: 'refresh_token', refresh_token: String(warm.body['refresh_token']) }, { Authorization: basic(rp) });
    recording = false;
    if (measured.status !== 200) throw new Error(`refresh failed: ${JSON.stringify(measured.body)}`);
    return log;
  } finally {
    await stack.close();
  }
}

const requests = await refreshRequests();
const kind = (r: RecordedRequest) => `${r.table} ${r.action.replace('dynamodb:', '')} ${r.index ? `${r.index} ` : ''}${r.partition.replace(/#.*/, '#…')}`;
const counted = new Map<string, number>();
for (const r of requests) counted.set(kind(r), (counted.get(kind(r)) ?? 0) + 1);
process.stdout.write(`${table(['built-in engine', 'p50 per call', 'p95 per call'], [engineTime()])}\n\n`);
process.stdout.write(`${table(['store request of one scored refresh (oidc function)', 'count'], [...counted.entries()].map(([k, n]) => [k, String(n)]))}\n`);
