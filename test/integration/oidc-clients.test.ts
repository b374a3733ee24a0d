import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { authenticateClient } from '../../lambdas/core/oidc/client-auth.ts';
import { Clients } from '../../lambdas/core/oidc/client.ts';
import { ClientKeys } from '../../lambdas/core/oidc/client-keys.ts';
import { NO_OUTBOUND } from '../../lambdas/core/outbound/none.ts';
import { ReplayCache } from '../../lambdas/core/oidc/replay.ts';
import { systemRandom } from '../../lambdas/adapters/system.ts';
import { BACKENDS, countingReads, openBackend, testClock, type Backend } from '../support/backends.ts';

/** Client authentication with a secret reads the client item once, and still refuses a wrong secret. */
describe.each(BACKENDS)('client secret authentication (%s backend)', (name) => {
  const clock = testClock();
  let backend: Backend;
  let counting: ReturnType<typeof countingReads>;
  let clients: Clients;
  let replay: ReplayCache;

  beforeAll(async () => {
    backend = await openBackend(name, clock);
    counting = countingReads(backend.directory);
    clients = new Clients(counting.store, clock, systemRandom);
    replay = new ReplayCache(backend.state, clock);
  });
  afterAll(async () => backend.close());

  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

  it('authenticates client_secret_basic with one read of the client', async () => {
    const { client, clientSecret } = await clients.create('acme', { redirect_uris: ['https://rp.example/cb'] }, 'admin');
    counting.reset();
    const result = await authenticateClient(
      { tenant: 'acme', authorization: basic(client.client_id, clientSecret!), form: {}, audiences: [] },
      { clients, replay, clock, keys: new ClientKeys(NO_OUTBOUND, clock) },
    );
    expect(result.client.client_id).toBe(client.client_id);
    expect(counting.reads()).toBe(1);
  });

  it('still refuses a wrong secret, and a secret of another client', async () => {
    const a = await clients.create('acme', { redirect_uris: ['https://rp.example/cb'] }, 'admin');
    const b = await clients.create('acme', { redirect_uris: ['https://rp.example/cb'] }, 'admin');
    await expect(
      authenticateClient(
        { tenant: 'acme', authorization: basic(a.client.client_id, 'cs_wrong'), form: {}, audiences: [] },
        { clients, replay, clock, keys: new ClientKeys(NO_OUTBOUND, clock) },
      ),
    ).rejects.toMatchObject({ error: 'invalid_client' });
    await expect(
      authenticateClient(
        { tenant: 'acme', authorization: basic(a.client.client_id, b.clientSecret!), form: {}, audiences: [] },
        { clients, replay, clock, keys: new ClientKeys(NO_OUTBOUND, clock) },
      ),
    ).rejects.toMatchObject({ error: 'invalid_client' });
    // verifySecret given another client's object must not use that object's hash.
    const foundB = await clients.find('acme', b.client.client_id);
    expect(await clients.verifySecret('acme', a.client.client_id, b.clientSecret!, foundB)).toBe(false);
  });
});
