import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CardApiClient, generateDeviceKey } from '../agent/sdk.ts';
import { directoryServices } from '../lambdas/runtime.ts';
import { startLocalStack } from '../local/stack.ts';
import { getData, select, sw } from '../test/support/card-flows.ts';
import { DEMO_PASSWORD } from '../test/support/oidc-stack.ts';
import { authorizeWithLogin, basic, pkce, postForm, RP_REDIRECT, type RegisteredClient } from '../test/support/oidc-flows.ts';

/**
 * The local gateway's memory under a loopback soak of mixed traffic: client_credentials tokens, a refresh
 * chain, and APDUs (SELECT + GET DATA CHUID) through a card session, `workers` loops at once, for
 * BENCH_SOAK_SECONDS (600 by default; it stops by itself). RSS and heap are sampled after a forced GC at the
 * start (after warm-up) and every tenth of the run; any non-2xx or refused APDU counts as an error.
 */
export interface SoakOptions {
  readonly seconds: number;
  readonly workers: number;
}

export const SOAK_DEFAULTS: SoakOptions = { seconds: 600, workers: 3 };

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);

interface Sample {
  readonly at: number;
  readonly rss: number;
  readonly heap: number;
  /** Memory outside the V8 heap that JavaScript objects own (Buffers, ArrayBuffers). */
  readonly external: number;
  /** Linux's split of RSS: anonymous memory (heaps, malloc) and file-backed pages (mapped files, such as LevelDB's tables). */
  readonly rssAnon?: number;
  readonly rssFile?: number;
  readonly requests: number;
}

/** RssAnon and RssFile from /proc/self/status (Linux), in bytes; undefined elsewhere. */
function rssSplit(): { rssAnon?: number; rssFile?: number } {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rssAnon: kib('RssAnon'), rssFile: kib('RssFile') };
  } catch {
    return {};
  }
}

export async function benchSoak(options: SoakOptions = SOAK_DEFAULTS): Promise<string> {
  const stack = await startLocalStack({ port: 0, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD, env: { DIRECTORY_CACHE_SECONDS: '30' } });
  try {
    const issuer = `${stack.url}/t/demo`;
    const services = directoryServices(stack.runtime);
    const issued = await services.clients.create(
      'demo',
      {
        client_name: 'soak RP',
        redirect_uris: [RP_REDIRECT],
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        scope: 'openid card offline_access',
      },
      'admin',
    );
    const client: RegisteredClient = { client_id: issued.client.client_id, client_secret: issued.clientSecret! };
    const tokenUrl = `${issuer}/oidc/token`;
    const auth = { Authorization: basic(client) };

    /** One refresh chain and card session per worker (a refresh token is presented exactly once). */
    const startWorker = async (): Promise<{ step: () => Promise<number> }> => {
      const { verifier, challenge } = pkce();
      const callback = await authorizeWithLogin(issuer, {
        client_id: client.client_id,
        scope: 'openid card offline_access',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      const code = callback.searchParams.get('code')!;
      const first = await postForm(tokenUrl, { grant_type: 'authorization_code', code, redirect_uri: RP_REDIRECT, code_verifier: verifier }, auth);
      if (first.status !== 200) throw new Error(`code exchange: ${JSON.stringify(first.body)}`);
      let refresh = String(first.body['refresh_token']);
      let access = String(first.body['access_token']);
      const card = new CardApiClient({ tenantUrl: issuer, accessToken: () => access });
      // A card per loop: a card has one session at a time (the last opener takes it).
      const enrolled = await services.cards!.enrol('demo', { username: 'alice', slots: ['9a'], pin: '24681357', puk: '86427531' });
      const { session } = await card.openSession(enrolled.card.id, await generateDeviceKey());
      let errors = 0;
      const step = async (): Promise<number> => {
        const cc = await postForm(tokenUrl, { grant_type: 'client_credentials' }, auth);
        if (cc.status !== 200) errors++;
        const rotated = await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: refresh }, auth);
        if (rotated.status === 200) {
          refresh = String(rotated.body['refresh_token']);
          access = String(rotated.body['access_token']);
        } else errors++;
        for (const command of [select(), getData(0x5fc102)]) {
          const response = await card.transmit(session, command).catch(() => undefined);
          if (!response || sw(response) !== 0x9000) errors++;
        }
        return errors;
      };
      return { step };
    };
    const workers = [];
    for (let i = 0; i < options.workers; i++) workers.push(await startWorker());
    for (const worker of workers) for (let i = 0; i < 20; i++) await worker.step(); // warm-up

    let requests = 0;
    const samples: Sample[] = [];
    const sample = (at: number): void => {
      gc();
      const usage = process.memoryUsage();
      samples.push({ at, rss: usage.rss, heap: usage.heapUsed, external: usage.external, ...rssSplit(), requests });
    };
    const started = Date.now();
    const endAt = started + options.seconds * 1000;
    sample(0);
    const every = (options.seconds * 1000) / 10;
    const timer = setInterval(() => sample(Math.round((Date.now() - started) / 1000)), every);
    const errorCounts = await Promise.all(
      workers.map(async (worker) => {
        let errors = 0;
        while (Date.now() < endAt) {
          errors = await worker.step();
          requests += 4;
        }
        return errors;
      }),
    );
    clearInterval(timer);
    sample(Math.round((Date.now() - started) / 1000));
    const errors = errorCounts.reduce((a, b) => a + b, 0);
    const first = samples[0]!;
    const last = samples[samples.length - 1]!;
    const optional = (bytes: number | undefined) => (bytes === undefined || Number.isNaN(bytes) ? '—' : mib(bytes));
    const rows = samples.map(
      (s) => `| ${s.at} | ${s.requests} | ${mib(s.rss)} | ${optional(s.rssAnon)} | ${optional(s.rssFile)} | ${mib(s.heap)} | ${mib(s.external)} |`,
    );
    return [
      `Mixed loopback traffic for ${options.seconds} s, ${options.workers} loops at once (each: client_credentials, refresh, SELECT, GET DATA), local gateway with dynalite in the same process; memory after a forced GC.`,
      '',
      '| s | requests so far | RSS MiB | of it anonymous | of it file-backed (mapped files) | heap used MiB | external MiB |',
      '|---|---|---|---|---|---|---|',
      ...rows,
      '',
      `Requests: ${requests} (${(requests / options.seconds).toFixed(0)}/s), errors: ${errors}. RSS ${mib(first.rss)} → ${mib(last.rss)} MiB, heap ${mib(first.heap)} → ${mib(last.heap)} MiB.`,
    ].join('\n');
  } finally {
    await stack.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  const seconds = Number(process.env['BENCH_SOAK_SECONDS'] ?? SOAK_DEFAULTS.seconds);
  process.stdout.write(`${await benchSoak({ ...SOAK_DEFAULTS, seconds })}\n`);
}
