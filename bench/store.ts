import { GetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDynamoClient } from '../lambdas/adapters/dynamodb/client.ts';
import { DynamoItemStore } from '../lambdas/adapters/dynamodb/item-store.ts';
import { DIRECTORY_TABLE } from '../lambdas/adapters/dynamodb/schema.ts';
import { startEmbeddedStore } from '../local/embedded-store.ts';
import { ensureTable } from '../local/tables.ts';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION, startMoto } from '../test/support/emulator.ts';
import { ms, summarize, table } from './stats.ts';

async function time(operations: number, run: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 20; i++) await run(-1 - i); // warm-up: connections, JIT
  const samples: number[] = [];
  for (let i = 0; i < operations; i++) {
    const start = performance.now();
    await run(i);
    samples.push(performance.now() - start);
  }
  return samples;
}

/**
 * Round-trip latency of the table adapter against the embedded store (dynalite) and the AWS emulator
 * (moto server, on loopback), one request at a time. "raw SDK get" is the same GetItem through the
 * bare DocumentClient: the adapter's own overhead is the difference.
 */
export async function benchStores(operations: number): Promise<string> {
  const rows: string[][] = [];
  const dynalite = await startEmbeddedStore();
  const moto = await startMoto();
  try {
    const targets = [
      { name: 'dynalite (embedded, Unix socket)', client: () => dynalite.client() },
      { name: 'moto server', client: () => createDynamoClient({ endpoint: moto.endpoint, region: EMULATOR_REGION, credentials: EMULATOR_CREDENTIALS }) },
    ];
    for (const target of targets) {
      const client = target.client();
      await ensureTable(client, 'bench-directory', DIRECTORY_TABLE);
      const store = new DynamoItemStore({ client, tableName: 'bench-directory', role: 'directory' });
      const documents = DynamoDBDocumentClient.from(client);
      await store.put({ PK: 'T#bench', SK: 'COUNTER', version: 0 });
      let version = 0;
      const cases: [string, (i: number) => Promise<unknown>][] = [
        ['put', (i) => store.put({ PK: 'T#bench', SK: `USER#${i}`, user: { name: `user ${i}`, email: `u${i}@example.com` } })],
        ['get', (i) => store.get({ PK: 'T#bench', SK: `USER#${Math.max(0, i)}` })],
        [
          'raw SDK get',
          (i) => documents.send(new GetCommand({ TableName: 'bench-directory', Key: { PK: 'T#bench', SK: `USER#${Math.max(0, i)}` }, ConsistentRead: true })),
        ],
        ['conditional update', () => store.update({ PK: 'T#bench', SK: 'COUNTER' }, { version: version + 1 }, { equals: { version } }).then(() => version++)],
      ];
      for (const [name, run] of cases) {
        const s = summarize(await time(operations, run));
        rows.push([target.name, name, ms(s.p50), ms(s.p95), ms(s.mean)]);
      }
      client.destroy();
    }
  } finally {
    await dynalite.close();
    moto.process.kill('SIGTERM');
  }
  return table(['store', 'operation', `p50 ms (n=${operations})`, 'p95 ms', 'mean ms'], rows);
}
