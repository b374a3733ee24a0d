import { cpus } from 'node:os';
import { AGENT_BENCH_DEFAULTS, benchAgent } from './agent.ts';
import { AWS_CLIENT_BENCH_DEFAULTS, benchAwsClients } from './aws-client.ts';
import { benchBaselineBundles, benchBaselineTokenLoad, extractBaseline } from './baseline.ts';
import { benchBundles } from './bundles.ts';
import { CONTEXT_NAMES } from '../lambdas/contexts.ts';
import { benchOidc, OIDC_BENCH_DEFAULTS } from './oidc.ts';
import { benchPiv, PIV_BENCH_DEFAULTS } from './piv.ts';
import { benchPki, PKI_BENCH_DEFAULTS } from './pki.ts';
import { benchPivRounds, PIV_ROUNDS_DEFAULTS } from './piv-rounds.ts';
import { benchSaml, SAML_BENCH_DEFAULTS } from './saml.ts';
import { benchScale, SCALE_BENCH_DEFAULTS } from './scale.ts';
import { benchSoak, SOAK_DEFAULTS } from './soak.ts';
import { benchStores } from './store.ts';

/**
 * `npm run bench`: prints every figure as markdown, ready for BENCHMARKS.md. Loopback only; each part
 * runs a fixed number of operations (or, under load, a fixed duration) and stops by itself.
 * BENCH_RUNS / BENCH_OPS scale the first parts; BENCH_OIDC_CALLS / BENCH_LOAD_SECONDS / BENCH_FLOWS the
 * token-endpoint comparison; BENCH_SAML_BUILDS the SAML response builders; BENCH_PIV_CALLS the card APDUs;
 * BENCH_SCALE_USERS the users and cards of the scale part (10,000).
 */
const runs = Number(process.env['BENCH_RUNS'] ?? 15);
const operations = Number(process.env['BENCH_OPS'] ?? 300);

process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
const header = `Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${new Date().toISOString()}`;
process.stdout.write(`# cloudcard benchmarks\n\n${header}\n\n## Lambda bundles (cold-start proxy)\n\n`);
process.stdout.write(`${await benchBundles(runs)}\n\n`);
// Issue 14's targets are ratios to the tree it was filed against: that tree is built and run beside today's.
const baseline = extractBaseline();
process.on('exit', () => baseline.dispose());
process.stdout.write(`### Against the tree issue 14 was filed against (${baseline.ref}), in this run\n\n`);
process.stdout.write(`${await benchBaselineBundles(baseline, runs, CONTEXT_NAMES)}\n\n## Table adapter round trips (loopback)\n\n`);
process.stdout.write(`${await benchStores(operations)}\n`);
process.stdout.write('\n## AWS client evaluation: SDK v3 beside @aws-lite and a thin SigV4 client (GetItem on the emulator, loopback)\n\n');
process.stdout.write(`${await benchAwsClients(AWS_CLIENT_BENCH_DEFAULTS)}\n`);
process.stdout.write('\n## OIDC token endpoint beside oidc-provider (loopback)\n\n');
const oidcFigures = await benchOidc({
  ...OIDC_BENCH_DEFAULTS,
  calls: Number(process.env['BENCH_OIDC_CALLS'] ?? OIDC_BENCH_DEFAULTS.calls),
  loadSeconds: Number(process.env['BENCH_LOAD_SECONDS'] ?? OIDC_BENCH_DEFAULTS.loadSeconds),
  flows: Number(process.env['BENCH_FLOWS'] ?? OIDC_BENCH_DEFAULTS.flows),
});
process.stdout.write(`${oidcFigures}\n`);
process.stdout.write(`\n### Under load against the tree issue 14 was filed against (${baseline.ref}: its own token bench, run right after)\n\n`);
process.stdout.write(`${await benchBaselineTokenLoad(baseline, oidcFigures)}\n`);
process.stdout.write('\n## SAML Response building beside samlify (in process)\n\n');
process.stdout.write(`${await benchSaml({ ...SAML_BENCH_DEFAULTS, builds: Number(process.env['BENCH_SAML_BUILDS'] ?? SAML_BENCH_DEFAULTS.builds) })}\n`);
process.stdout.write('\n## PIV card service: APDUs through the card session (loopback)\n\n');
process.stdout.write(`${await benchPiv({ ...PIV_BENCH_DEFAULTS, calls: Number(process.env['BENCH_PIV_CALLS'] ?? PIV_BENCH_DEFAULTS.calls) })}\n`);
process.stdout.write('\n## Card CA: CRL generation and OCSP (in process, embedded store)\n\n');
process.stdout.write(`${await benchPki({ ...PKI_BENCH_DEFAULTS, revoked: Number(process.env['BENCH_PKI_REVOKED'] ?? PKI_BENCH_DEFAULTS.revoked) })}\n`);
process.stdout.write('\n## Scale: admin listings and the card list at 10,000 (in process, embedded store)\n\n');
process.stdout.write(
  `${await benchScale({ ...SCALE_BENCH_DEFAULTS, largeUsers: Number(process.env['BENCH_SCALE_USERS'] ?? SCALE_BENCH_DEFAULTS.largeUsers), cards: Number(process.env['BENCH_SCALE_USERS'] ?? SCALE_BENCH_DEFAULTS.cards) })}\n`,
);
process.stdout.write('\n## PIV card service: store round trips per APDU and VERIFY (loopback)\n\n');
process.stdout.write(`${await benchPivRounds(PIV_ROUNDS_DEFAULTS)}\n`);
process.stdout.write('\n## Client agent end to end: pkcs11-tool --login --sign through pcscd, vpcd, the agent and the local gateway\n\n');
process.stdout.write(
  process.env['BENCH_AGENT'] === '0'
    ? 'skipped: BENCH_AGENT=0\n'
    : `${await benchAgent({ runs: Number(process.env['BENCH_AGENT_RUNS'] ?? AGENT_BENCH_DEFAULTS.runs) })}\n`,
);
process.stdout.write('\n## Local gateway memory under a mixed-traffic soak (loopback)\n\n');
process.stdout.write(`${await benchSoak({ ...SOAK_DEFAULTS, seconds: Number(process.env['BENCH_SOAK_SECONDS'] ?? SOAK_DEFAULTS.seconds) })}\n`);
