import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { CONTEXT_NAMES } from '../lambdas/contexts.ts';
import { LAMBDA_ESBUILD } from '../lib/function.ts';
import { ms, summarize, table } from './stats.ts';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench', 'out');

/** A valid function environment: init builds clients but makes no network call. */
export const FUNCTION_ENV = {
  STAGE: 'bench',
  DIRECTORY_TABLE: 'bench-directory',
  STATE_TABLE: 'bench-state',
  KEY_PROVIDER: 'kms',
  CARD_KEK_KEY_ID: 'arn:aws:kms:us-east-1:000000000000:key/kek',
  SIGNING_KEY_ID: 'arn:aws:kms:us-east-1:000000000000:key/signing',
  CARD_SESSION_KEY_ID: 'arn:aws:kms:us-east-1:000000000000:key/session',
  CARD_PIN_KEY_ID: 'arn:aws:kms:us-east-1:000000000000:key/pin',
  AWS_REGION: 'us-east-1',
  // Lambda's credentials come from its environment (the bundle reads them at init, explicitly).
  AWS_ACCESS_KEY_ID: 'AKIDBENCH',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_SESSION_TOKEN: 'bench',
  POWERTOOLS_METRICS_DISABLED: 'true',
};

/**
 * Bundles every handler with the options the stack's NodejsFunction uses (ESM, node22, minified, source
 * map beside it), then measures each bundle's size and its module initialisation time in a fresh
 * Node 22 process: the part of a cold start that the code controls.
 */
export async function benchBundles(runs: number): Promise<string> {
  const rows: string[][] = [];
  for (const context of CONTEXT_NAMES) {
    const outfile = join(OUT, context, 'index.mjs');
    mkdirSync(join(OUT, context), { recursive: true });
    await build({
      // The stack's options in one place (lib/function.ts), so the bench measures what is deployed.
      ...LAMBDA_ESBUILD,
      mainFields: [...LAMBDA_ESBUILD.mainFields],
      entryPoints: [join(ROOT, 'lambdas', 'handlers', `${context}.ts`)],
      outfile,
      sourcemap: 'external',
      sourcesContent: false,
      logLevel: 'error',
    });
    const code = readFileSync(outfile);
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const script = `const t=performance.now();await import(${JSON.stringify(outfile)});process.stdout.write(String(performance.now()-t));`;
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { PATH: process.env['PATH'], ...FUNCTION_ENV },
        encoding: 'utf8',
      });
      if (result.status !== 0) throw new Error(`${context} bundle failed to initialise: ${result.stderr}`);
      samples.push(Number(result.stdout));
    }
    const s = summarize(samples);
    rows.push([
      context,
      `${(code.length / 1024).toFixed(0)} KiB`,
      `${(gzipSync(code).length / 1024).toFixed(0)} KiB`,
      `${(statSync(`${outfile}.map`).size / 1024).toFixed(0)} KiB`,
      ms(s.p50),
      ms(s.p95),
    ]);
  }
  return table(['function', 'bundle', 'gzipped', 'source map', `init p50 ms (n=${runs})`, 'init p95 ms'], rows);
}
