/**
 * The loopback load generator of the token-endpoint benchmark, run as a child process (forked by
 * bench/oidc.ts) so it never shares an event loop with the server under test. It receives one job over
 * IPC, runs autocannon once, sends the summary back and exits.
 *
 * With `refreshChains`, the run is a set of refresh-token chains: a queue holds each family's current
 * token; a request takes one (`setupRequest`) and its response puts back the rotated token it carries
 * (`onResponse`, which autocannon calls before it builds that connection's next request). So every
 * token is presented exactly once, each connection keeps refreshing, and the number of live families
 * stays at the number of seeds (connections plus a few spare, in case a chain breaks).
 */
export interface LoadJob {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly connections: number;
  /** Seconds. */
  readonly duration: number;
  /** A fixed body for every request... */
  readonly body?: string;
  /** ...or `grant_type=refresh_token&refresh_token={current token}`, chained from these seeds. */
  readonly refreshChains?: readonly string[];
}

export interface LoadResult {
  readonly requests: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** Seconds. */
  readonly duration: number;
  /** 2xx responses per second over the whole run. */
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

interface AutocannonResult {
  requests: { total: number };
  latency: { p50: number; p99: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;

/** A non-literal specifier: autocannon ships no type declarations. */
const AUTOCANNON_MODULE: string = 'autocannon';

async function run(job: LoadJob): Promise<LoadResult> {
  const autocannon = ((await import(AUTOCANNON_MODULE)) as { default: Autocannon }).default;
  const current = job.refreshChains ? [...job.refreshChains] : undefined;
  const result = await autocannon({
    url: job.url,
    method: 'POST',
    headers: job.headers,
    connections: job.connections,
    pipelining: 1,
    timeout: 10,
    duration: job.duration,
    ...(current
      ? {
          requests: [
            {
              setupRequest: (request: Record<string, unknown>) => ({
                ...request,
                // With every chain broken, a bogus token: a 400, counted as non-2xx.
                body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(current.shift() ?? 'rt_no_live_chain')}`,
              }),
              onResponse: (status: number, body: string) => {
                if (status !== 200) return;
                const rotated = (JSON.parse(body) as { refresh_token?: string }).refresh_token;
                if (rotated) current.push(rotated);
              },
            },
          ],
        }
      : { body: job.body }),
  });
  return {
    requests: result.requests.total,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    duration: result.duration,
    rps: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

if (process.send) {
  process.once('message', (job: LoadJob) => {
    run(job).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (error: unknown) => process.send!({ error: String(error) }, () => process.exit(1)),
    );
  });
}
