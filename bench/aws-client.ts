import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { GetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDynamoClient } from '../lambdas/adapters/dynamodb/client.ts';
import { DIRECTORY_TABLE } from '../lambdas/adapters/dynamodb/schema.ts';
import { ensureTable } from '../local/tables.ts';
import { LAMBDA_ESBUILD } from '../lib/function.ts';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION, startMoto } from '../test/support/emulator.ts';
import { ms, summarize, table } from './stats.ts';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench', 'out', 'aws-client');
const TABLE = 'bench-aws-client';
const KEY = { PK: 'T#bench', SK: 'USER#alice' };

/**
 * The question: would a lighter AWS client than SDK v3 pay for itself? Three clients make the same
 * consistent GetItem against the emulator on loopback: SDK v3 (what the functions use: DocumentClient over
 * our configured DynamoDBClient), `@aws-lite/client` with its DynamoDB plugin, and a thin SigV4 JSON client
 * (`fetch` + `@smithy/signature-v4`, already a dependency). Per call: latency and CPU. Cold start: each
 * client alone in a bundle built with the stack's esbuild options, its size and its init time in a fresh
 * process. What each gives up (timeouts, retries, the SDK's retry budget) is in BENCHMARKS.md beside it.
 */
const ENTRIES: Record<string, string> = {
  'SDK v3 (DocumentClient)': `
    import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
    import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: process.env.AWS_REGION, credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY } }));
    export const get = (key) => client.send(new GetCommand({ TableName: 't', Key: key, ConsistentRead: true }));`,
  '@aws-lite/client + dynamodb': `
    import awsLite from '@aws-lite/client';
    import dynamodb from '@aws-lite/dynamodb';
    const aws = await awsLite({ region: process.env.AWS_REGION, accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY, plugins: [dynamodb] });
    export const get = (key) => aws.DynamoDB.GetItem({ TableName: 't', Key: key, ConsistentRead: true });`,
  'thin SigV4 JSON (fetch)': `
    import { thinDynamo } from './bench/aws-thin-client.ts';
    const get_ = thinDynamo({ endpoint: 'https://dynamodb.us-east-1.amazonaws.com', region: process.env.AWS_REGION, credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY } });
    export const get = (key) => get_('GetItem', { TableName: 't', Key: key, ConsistentRead: true });`,
};

async function bundleInit(name: string, contents: string, runs: number): Promise<[string, string, string]> {
  const outfile = join(OUT, `${name.replace(/[^a-z0-9]+/gi, '-')}.mjs`);
  mkdirSync(OUT, { recursive: true });
  await build({
    ...LAMBDA_ESBUILD,
    mainFields: [...LAMBDA_ESBUILD.mainFields],
    stdin: { contents, resolveDir: ROOT, loader: 'ts' },
    outfile,
    logLevel: 'error',
  });
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const script = `const t=performance.now();await import(${JSON.stringify(outfile)});process.stdout.write(String(performance.now()-t));`;
    const env = { PATH: process.env['PATH'], AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'bench' };
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', cwd: OUT });
    if (result.status !== 0) throw new Error(`${name} bundle failed to initialise: ${result.stderr}`);
    samples.push(Number(result.stdout));
  }
  return [`${(readFileSync(outfile).length / 1024).toFixed(0)} KiB`, ms(summarize(samples).p50), ms(summarize(samples).p95)];
}

export async function benchAwsClients(options: { calls: number; runs: number }): Promise<string> {
  const moto = await startMoto();
  const rows: string[][] = [];
  try {
    const sdkClient = createDynamoClient({ endpoint: moto.endpoint, region: EMULATOR_REGION, credentials: EMULATOR_CREDENTIALS });
    await ensureTable(sdkClient, TABLE, DIRECTORY_TABLE);
    const documents = DynamoDBDocumentClient.from(sdkClient);
    await documents.send(new (await import('@aws-sdk/lib-dynamodb')).PutCommand({ TableName: TABLE, Item: { ...KEY, user: { name: 'Alice' } } }));
    const awsLite = (await import('@aws-lite/client')).default;
    const lite = await awsLite({
      region: EMULATOR_REGION,
      endpoint: moto.endpoint,
      ...EMULATOR_CREDENTIALS,
      plugins: [(await import('@aws-lite/dynamodb')).default],
      retries: 3,
    });
    const { thinDynamo } = await import('./aws-thin-client.ts');
    const thin = thinDynamo({ endpoint: moto.endpoint, region: EMULATOR_REGION, credentials: EMULATOR_CREDENTIALS });
    const calls: Record<string, () => Promise<unknown>> = {
      'SDK v3 (DocumentClient)': () => documents.send(new GetCommand({ TableName: TABLE, Key: KEY, ConsistentRead: true })),
      '@aws-lite/client + dynamodb': () =>
        (lite as unknown as { DynamoDB: { GetItem(input: unknown): Promise<unknown> } }).DynamoDB.GetItem({ TableName: TABLE, Key: KEY, ConsistentRead: true }),
      'thin SigV4 JSON (fetch)': () => thin('GetItem', { TableName: TABLE, Key: { PK: { S: KEY.PK }, SK: { S: KEY.SK } }, ConsistentRead: true }),
    };
    for (const [name, call] of Object.entries(calls)) {
      const answer = (await call()) as { Item?: Record<string, unknown> };
      if (!answer.Item) throw new Error(`${name}: no item in ${JSON.stringify(answer).slice(0, 200)}`);
      for (let i = 0; i < 20; i++) await call();
      const samples: number[] = [];
      const cpu = process.cpuUsage();
      for (let i = 0; i < options.calls; i++) {
        const start = performance.now();
        await call();
        samples.push(performance.now() - start);
      }
      const used = process.cpuUsage(cpu);
      const s = summarize(samples);
      const [size, initP50, initP95] = await bundleInit(name, ENTRIES[name]!, options.runs);
      rows.push([name, ms(s.p50), ms(s.p95), ms((used.user + used.system) / 1000 / options.calls), size, initP50, initP95]);
    }
  } finally {
    moto.process.kill();
  }
  return table(['client', 'GetItem p50 ms', 'p95 ms', 'CPU ms/call (bench process)', 'bundle alone', 'init p50 ms', 'init p95 ms'], rows);
}

export const AWS_CLIENT_BENCH_DEFAULTS = { calls: 300, runs: 15 };
