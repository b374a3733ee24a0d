import { cpus } from 'node:os';
import { benchBundles } from './bundles.ts';
import { benchStores } from './store.ts';

/**
 * `npm run bench`: prints every figure as markdown, ready for BENCHMARKS.md. Loopback only; each part
 * runs a fixed number of operations and stops by itself. BENCH_RUNS / BENCH_OPS scale it.
 */
const runs = Number(process.env['BENCH_RUNS'] ?? 15);
const operations = Number(process.env['BENCH_OPS'] ?? 300);

process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
const header = `Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${new Date().toISOString()}`;
process.stdout.write(`# cloudcard benchmarks\n\n${header}\n\n## Lambda bundles (cold-start proxy)\n\n`);
process.stdout.write(`${await benchBundles(runs)}\n\n## Table adapter round trips (loopback)\n\n`);
process.stdout.write(`${await benchStores(operations)}\n`);
