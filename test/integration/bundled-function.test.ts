import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { build } from 'esbuild';
import { createDynamoClient } from '../../lambdas/adapters/dynamodb/client.ts';
import { DIRECTORY_TABLE, STATE_TABLE } from '../../lambdas/adapters/dynamodb/schema.ts';
import { LAMBDA_ESBUILD } from '../../lib/function.ts';
import { ensureTable } from '../../local/tables.ts';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION, freePort } from '../support/emulator.ts';

/**
 * The oidc function as deployed: bundled with the stack's esbuild options (whose aliases replace parts
 * of the AWS SDK: lib/function.ts BUNDLE_ALIASES) and run in a fresh Node process against the AWS
 * emulator. A table read through the bundled SDK answers 404 for an unknown tenant; a dead endpoint
 * still ends as the SDK budget's 503 problem.
 */
describe('bundled oidc function against the AWS emulator', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-bundle-'));
  const bundle = join(dir, 'index.mjs');
  const suffix = randomBytes(4).toString('hex');
  const tables = { DIRECTORY_TABLE: `cc-bundle-directory-${suffix}`, STATE_TABLE: `cc-bundle-state-${suffix}` };

  beforeAll(async () => {
    await build({
      ...LAMBDA_ESBUILD,
      mainFields: [...LAMBDA_ESBUILD.mainFields],
      entryPoints: [join(import.meta.dirname, '..', '..', 'lambdas', 'handlers', 'oidc.ts')],
      outfile: bundle,
      logLevel: 'error',
    });
    const client = createDynamoClient({ endpoint: process.env['CLOUDCARD_TEST_EMULATOR']!, region: EMULATOR_REGION, credentials: EMULATOR_CREDENTIALS });
    await ensureTable(client, tables.DIRECTORY_TABLE, DIRECTORY_TABLE);
    await ensureTable(client, tables.STATE_TABLE, STATE_TABLE);
    client.destroy();
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function invoke(endpoint: string, path: string): { statusCode: number; body: string } {
    const event = {
      resource: '/{proxy+}',
      path,
      httpMethod: 'GET',
      headers: { host: 'idp.example' },
      multiValueHeaders: {},
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: { proxy: path.slice(1) },
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
      requestContext: {
        requestId: 'r1',
        stage: 'test',
        httpMethod: 'GET',
        path,
        resourcePath: '/{proxy+}',
        resourceId: 'x',
        accountId: '000000000000',
        apiId: 'x',
        protocol: 'HTTP/1.1',
        requestTimeEpoch: Date.now(),
        authorizer: null,
        identity: { sourceIp: '127.0.0.1', userAgent: null, clientCert: null },
      },
    };
    const context = { awsRequestId: 'r1', functionName: 'cloudcard-oidc', getRemainingTimeInMillis: () => 10_000 };
    const script = `const { handler } = await import(${JSON.stringify(bundle)}); const r = await handler(${JSON.stringify(event)}, ${JSON.stringify(context).slice(0, -1)}, getRemainingTimeInMillis: () => 10000 }); process.stdout.write(JSON.stringify({ statusCode: r.statusCode, body: r.body }));`;
    const env = {
      PATH: process.env['PATH'],
      STAGE: 'test',
      ...tables,
      KEY_PROVIDER: 'kms',
      CARD_KEK_KEY_ID: 'arn:aws:kms:us-east-1:000000000000:key/kek',
      SIGNING_KEY_ID: 'arn:aws:kms:us-east-1:000000000000:key/signing',
      AWS_REGION: EMULATOR_REGION,
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    };
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`the bundle failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as { statusCode: number; body: string };
  }

  it('reads the table through the bundled SDK: an unknown tenant is a 404 problem', () => {
    const response = invoke(process.env['CLOUDCARD_TEST_EMULATOR']!, '/t/nobody/.well-known/openid-configuration');
    expect(response.statusCode).toBe(404);
  });

  it('answers 503 when the table cannot be reached', async () => {
    const response = invoke(`http://127.0.0.1:${await freePort()}`, '/t/nobody/.well-known/openid-configuration');
    expect(response.statusCode).toBe(503);
  });
});
