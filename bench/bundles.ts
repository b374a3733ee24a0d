import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { CONTEXT_NAMES } from '../lambdas/contexts.ts';
import { ESM_REQUIRE_BANNER } from '../lib/function.ts';
import { ms, summarize, table } from './stats.ts';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench', 'out');

/** A valid function environment: init builds clients but makes no network call. */
const FUNCTION_ENV = {
  STAGE: 'bench',
  DIRECTORY_TABLE: 'bench-directory',
  STATE_TABLE: 'bench-state',
  KEY_PROVIDER: 'kms',
  CARD_KEK_KEY_ID: 'arn:aws:kms:us-east-1:000000000000:key/kek',
  SIGNING_KEY_ID: 'arn:aws:kms:us-east-1:000000000000:key/signing',
  AWS_REGION: 'us-east-1',
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
      entryPoints: [join(ROOT, 'lambdas', 'handlers', `${context}.ts`)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      minify: true,
      sourcemap: 'external',
      sourcesContent: false,
      mainFields: ['module', 'main'],
      banner: { js: ESM_REQUIRE_BANNER },
      logLevel: 'error',
    });
    const code = readFileSync(outfile);
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const script = `const t=performance.now();await import(${JSON.stringify(outfile)});process.stdout.write(String(performance.now()-t));`;
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env['PATH'], ...FUNCTION_ENV }, encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`${context} bundle failed to initialise: ${result.stderr}`);
      samples.push(Number(result.stdout));
    }
    const s = summarize(samples);
    rows.push([context, `${(code.length / 1024).toFixed(0)} KiB`, `${(gzipSync(code).length / 1024).toFixed(0)} KiB`, `${(statSync(`${outfile}.map`).size / 1024).toFixed(0)} KiB`, ms(s.p50), ms(s.p95)]);
  }
  return table(['function', 'bundle', 'gzipped', 'source map', `init p50 ms (n=${runs})`, 'init p95 ms'], rows);
}
