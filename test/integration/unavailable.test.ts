import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createContextHandler } from '../../lambdas/apps.ts';
import { adminContext } from '../../lambdas/http/contexts/admin.ts';
import { createDynamoClient } from '../../lambdas/adapters/dynamodb/client.ts';
import { DynamoItemStore } from '../../lambdas/adapters/dynamodb/item-store.ts';
import { createKmsClient } from '../../lambdas/adapters/kms/client.ts';
import { KmsSigner } from '../../lambdas/adapters/kms/signer.ts';
import { loadConfig } from '../../lambdas/config.ts';
import { UnavailableError } from '../../lambdas/core/errors.ts';
import { createObservability } from '../../lambdas/observability.ts';
import type { DirectoryStore } from '../../lambdas/ports.ts';
import type { Runtime } from '../../lambdas/runtime.ts';
import { bindStore, openBackend, testClock, type Backend } from '../support/backends.ts';
import { freePort } from '../support/emulator.ts';
import { lambdaContext, proxyEvent } from '../support/events.ts';
import { AdminClients } from '../../lambdas/core/directory/admin-client.ts';
import { systemRandom } from '../../lambdas/adapters/system.ts';
import { NO_OUTBOUND } from '../../lambdas/core/outbound/none.ts';

/** A store or KMS failure mid-request: 503 problem JSON and nothing half-written. */
describe('dependency failures (AWS adapters on the emulator)', () => {
  const clock = testClock();
  let backend: Backend;
  let runtime: Runtime;
  let auth: string;
  const config = loadConfig({
    STAGE: 'test',
    DIRECTORY_TABLE: 'unused',
    STATE_TABLE: 'unused',
    KEY_PROVIDER: 'kms',
    CARD_KEK_KEY_ID: 'x',
    SIGNING_KEY_ID: 'y',
  });

  beforeAll(async () => {
    backend = await openBackend('emulator', clock);
    runtime = {
      config,
      directory: backend.directory,
      state: backend.state,
      custody: backend.custody,
      signer: await backend.signer('RS256'),
      clock,
      random: systemRandom,
      outbound: NO_OUTBOUND,
    };
    const admin = await new AdminClients(backend.directory, clock, systemRandom).create();
    auth = `Basic ${Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64')}`;
    const handler = createContextHandler('admin', runtime, adminContext, createObservability('admin', { logLevel: 'SILENT' }));
    await handler(
      proxyEvent('POST', '/t/acme/admin/v1/tenant', { headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: '{}' }),
      lambdaContext,
    );
  });
  afterAll(async () => backend.close());

  it('answers /health 503 naming the failed check when KMS is unreachable', async () => {
    const deadKms = createKmsClient({
      endpoint: `http://127.0.0.1:${await freePort()}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    const handler = createContextHandler(
      'admin',
      { ...runtime, signer: new KmsSigner(deadKms, 'nope') },
      adminContext,
      createObservability('admin', { logLevel: 'SILENT' }),
    );
    const response = await handler(proxyEvent('GET', '/health'), lambdaContext);
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Content-Type']).toBe('application/problem+json');
    expect(JSON.parse(response.body)).toMatchObject({ status: 503, checks: { directory: 'pass', state: 'pass', cardKek: 'pass', signingKey: 'fail' } });
    deadKms.destroy();
  });

  it('answers 503 when the directory fails during a write, and leaves nothing behind', async () => {
    // The table answers reads but the write hits an outage (the table's endpoint goes away).
    const deadClient = createDynamoClient({
      endpoint: `http://127.0.0.1:${await freePort()}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    const dead = new DynamoItemStore({ client: deadClient, tableName: 'x', role: 'directory' });
    const flaky: DirectoryStore = { ...bindStore(backend.directory), put: (item, guard) => dead.put(item, guard) };
    const handler = createContextHandler('admin', { ...runtime, directory: flaky }, adminContext, createObservability('admin', { logLevel: 'SILENT' }));
    const response = await handler(
      proxyEvent('POST', '/t/acme/admin/v1/users', {
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: 'dave' }),
      }),
      lambdaContext,
    );
    expect(response.statusCode).toBe(503);
    const problem = JSON.parse(response.body) as Record<string, unknown>;
    expect(problem).toMatchObject({ status: 503, title: 'Service unavailable' });
    expect(JSON.stringify(problem)).not.toMatch(/ECONNREFUSED|stack|at /);
    expect(response.headers?.['Retry-After']).toBe('1');
    expect(await backend.directory.get({ PK: 'T#acme', SK: 'USER#dave' })).toBeUndefined();
    await expect(dead.get({ PK: 'a', SK: 'b' })).rejects.toBeInstanceOf(UnavailableError);
    deadClient.destroy();
  });
});
