import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { LAMBDA_ESBUILD } from '../lib/function.ts';
import { FUNCTION_ENV } from './bundles.ts';
import { ms, summarize, table } from './stats.ts';

const ROOT = join(import.meta.dirname, '..');

/**
 * The tree issue 14 ("half the cold start", "≥ 2× today's req/s") was filed against: main at the end of
 * round 2. Its targets are ratios to this tree, so `npm run bench` builds and runs it beside today's.
 */
export const ISSUE_14_BASELINE = '93cb398';

/** A commit's tree extracted from git history into a temporary directory, using today's node_modules. */
export interface BaselineTree {
  readonly ref: string;
  readonly dir: string;
  dispose(): void;
}

export function extractBaseline(ref: string = ISSUE_14_BASELINE): BaselineTree {
  const dir = mkdtempSync(join(tmpdir(), 'cloudcard-baseline-'));
  const archive = execFileSync('git', ['archive', '--format=tar', ref], { cwd: ROOT, maxBuffer: 512 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  // Same dependency versions as today's tree: the comparison is of our code and how it is bundled.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return { ref, dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The time of `await import(bundle)` in a fresh Node process with a function environment. */
function initMs(bundle: string): number {
  const script = `const t=performance.now();await import(${JSON.stringify(bundle)});process.stdout.write(String(performance.now()-t));`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env['PATH'], ...FUNCTION_ENV }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${bundle} failed to initialise: ${result.stderr.slice(-500)}`);
  return Number(result.stdout);
}

/**
 * Each function of the baseline tree and of today's, bundled (the baseline with the stack's options of its
 * day: no aliases), then initialised alternately, baseline then today, `runs` times: both see the same
 * machine load, so the ratio holds even when the absolute times do not.
 */
export async function benchBaselineBundles(baseline: BaselineTree, runs: number, contexts: readonly string[]): Promise<string> {
  const rows: string[][] = [];
  // Functions added since (pki) have nothing to compare with.
  for (const context of contexts.filter((name) => existsSync(join(baseline.dir, 'lambdas', 'handlers', `${name}.ts`)))) {
    const built: Record<'before' | 'after', string> = { before: '', after: '' };
    for (const [side, root] of [
      ['before', baseline.dir],
      ['after', ROOT],
    ] as const) {
      const outfile = join(baseline.dir, 'bench-out', side, context, 'index.mjs');
      await build({
        ...LAMBDA_ESBUILD,
        ...(side === 'before' ? { alias: {} } : {}),
        mainFields: [...LAMBDA_ESBUILD.mainFields],
        entryPoints: [join(root, 'lambdas', 'handlers', `${context}.ts`)],
        outfile,
        logLevel: 'error',
      });
      built[side] = outfile;
    }
    const samples = { before: [] as number[], after: [] as number[] };
    for (let i = 0; i < runs; i++) {
      samples.before.push(initMs(built.before));
      samples.after.push(initMs(built.after));
    }
    const before = summarize(samples.before).p50;
    const after = summarize(samples.after).p50;
    const kib = (file: string) => `${(readFileSync(file).length / 1024).toFixed(0)} KiB`;
    rows.push([context, kib(built.before), kib(built.after), ms(before), ms(after), `${(after / before).toFixed(2)}x`]);
  }
  return table(
    ['function', `bundle at ${baseline.ref}`, 'bundle now', `init p50 ms at ${baseline.ref} (n=${runs})`, 'init p50 ms now', 'init ratio now / then'],
    rows,
  );
}

/** The cloudcard rows of a token-endpoint bench's "Under load" table: grant → req/s. */
export function loadFigures(output: string): Map<string, number> {
  const figures = new Map<string, number>();
  for (const match of output.matchAll(/^\| (client_credentials|refresh_token \(chains\)) \| cloudcard \(local gateway\) \| (\d+) \|/gm)) {
    figures.set(match[1]!, Number(match[2]));
  }
  return figures;
}

/**
 * The baseline tree's own token-endpoint bench (`node bench/oidc.ts`, its defaults: 10 connections, 10 s
 * per grant), run in a child process right after today's: its req/s under load beside today's.
 */
export async function benchBaselineTokenLoad(baseline: BaselineTree, todayOutput: string): Promise<string> {
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [join(baseline.dir, 'bench', 'oidc.ts')], {
      cwd: baseline.dir,
      env: { ...process.env, POWERTOOLS_METRICS_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`the baseline's token bench exited with ${code}`))));
  });
  const then = loadFigures(output);
  const now = loadFigures(todayOutput);
  const rows = [...then].map(([grant, before]) => {
    const after = now.get(grant);
    return [grant, String(before), after === undefined ? 'n/a' : String(after), after === undefined ? 'n/a' : `${(after / before).toFixed(2)}x`];
  });
  return table(['grant', `req/s at ${baseline.ref}`, 'req/s now (section above)', 'ratio now / then'], rows);
}
