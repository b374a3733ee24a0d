import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createContextHandler } from '../../lambdas/apps.ts';
import { oidcContext } from '../../lambdas/http/contexts/oidc.ts';
import { createObservability } from '../../lambdas/observability.ts';
import { directoryServices, type Runtime } from '../../lambdas/runtime.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { testClock } from '../support/backends.ts';
import { lambdaContext, proxyEvent } from '../support/events.ts';
import { DEMO_PASSWORD } from '../support/oidc-stack.ts';
import { recordingStore, type RecordedRequest } from '../support/recording-store.ts';
import { Rounds } from '../support/store-rounds.ts';
import { directoryKeys } from '../../lambdas/core/directory/keys.ts';

/**
 * The token endpoint's store work (issue 14 item 2), counted on the oidc handler over the real embedded
 * store, and the bound of its tenant/client cache: a change made elsewhere shows within the TTL.
 */
describe('token path', () => {
  const clock = testClock();
  const TTL = 30;
  let stack: LocalStack;
  let client: { id: string; secret: string };
  const log: RecordedRequest[] = [];
  let handler: ReturnType<typeof createContextHandler>;

  const token = async (body: Record<string, string>, secret = client.secret) => {
    const event = proxyEvent('POST', '/t/demo/oidc/token', {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`${client.id}:${secret}`).toString('base64')}` },
      body: new URLSearchParams(body).toString(),
    });
    const result = await handler(event, lambdaContext);
    return { status: result.statusCode, body: JSON.parse(result.body) as Record<string, string> };
  };
  const rounds = new Rounds();
  const counted = async <T>(run: () => Promise<T>): Promise<{ result: T; calls: string[]; byRound: string[][] }> => {
    log.length = 0;
    rounds.reset();
    const result = await run();
    const name = (r: RecordedRequest) => `${r.table} ${r.action.replace('dynamodb:', '')} ${r.partition.split('#')[0]}`;
    const byRound: string[][] = [];
    for (const r of log) (byRound[r.round! - 1] ??= []).push(name(r));
    return { result, calls: log.map(name), byRound: byRound.map((calls) => calls.sort()) };
  };
  /** The same token as issued before the subject hint (`rt_{gid}.{secret}`): still valid, on the slower path. */
  const withoutHint = (token: string): string => token.split('.').slice(0, 2).join('.');
  const withHint = (token: string, username: string): string => `${withoutHint(token)}.${Buffer.from(username).toString('base64url')}`;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD, clock, env: { DIRECTORY_CACHE_SECONDS: String(TTL) } });
    // The password grant is per tenant (off by default): this suite uses it to get refresh tokens cheaply.
    await directoryServices(stack.runtime).tenants.update('demo', { oidc: { passwordGrant: true } });
    const made = await directoryServices(stack.runtime).clients.create(
      'demo',
      {
        client_name: 'token path',
        redirect_uris: ['https://rp.example.test/callback'],
        grant_types: ['client_credentials', 'refresh_token', 'password'],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'openid profile offline_access',
      },
      'admin',
    );
    client = { id: made.client.client_id, secret: made.clientSecret! };
    const runtime: Runtime = {
      ...stack.runtime,
      directory: recordingStore(stack.runtime.directory, 'oidc', 'directory', log, rounds),
      state: recordingStore(stack.runtime.state, 'oidc', 'state', log, rounds),
    };
    handler = createContextHandler('oidc', runtime, oidcContext, createObservability('oidc', { logLevel: 'SILENT' }));
  });
  afterAll(async () => stack.close());

  it('answers client_credentials warm with one store call: the grant put, no read', async () => {
    expect((await token({ grant_type: 'client_credentials', scope: 'profile' })).status).toBe(200);
    const { result, calls } = await counted(() => token({ grant_type: 'client_credentials', scope: 'profile' }));
    expect(result.status).toBe(200);
    expect(calls).toEqual(['state PutItem GRANT']);
  });

  it('rotates a refresh token warm in two store round trips: the rotation beside the fresh reads of the user and its sign-in counters, then the risk record', async () => {
    const first = await token({ grant_type: 'password', username: 'alice', password: DEMO_PASSWORD, scope: 'openid offline_access' });
    expect(first.status).toBe(200);
    const warm = await token({ grant_type: 'refresh_token', refresh_token: first.body['refresh_token']! });
    const { result, byRound } = await counted(() => token({ grant_type: 'refresh_token', refresh_token: warm.body['refresh_token']! }));
    expect(result.status).toBe(200);
    // The token names its user, so the access check's fresh reads (the user, its two sign-in counters; the
    // tenant comes from the cache) run beside the rotation's one conditional update, which returns the
    // family's risk record with the family; then the risk record's update (issue 13's cost, BENCHMARKS.md).
    expect(byRound).toEqual([
      ['directory GetItem T', 'state GetItem LOGINFAIL', 'state GetItem LOGINFAIL', 'state UpdateItem GRANT'],
      ['state UpdateItem GRANT'],
    ]);
  });

  it('refreshes a token issued before the subject hint on the three-round path, into a hinted token', async () => {
    const first = await token({ grant_type: 'password', username: 'alice', password: DEMO_PASSWORD, scope: 'openid offline_access' });
    const { result, byRound } = await counted(() => token({ grant_type: 'refresh_token', refresh_token: withoutHint(first.body['refresh_token']!) }));
    expect(result.status).toBe(200);
    expect(byRound).toEqual([
      ['state UpdateItem GRANT'],
      ['directory GetItem T', 'state GetItem LOGINFAIL', 'state GetItem LOGINFAIL'],
      ['state UpdateItem GRANT'],
    ]);
    expect(result.body['refresh_token']).toBe(withHint(result.body['refresh_token']!, 'alice'));
    expect((await token({ grant_type: 'refresh_token', refresh_token: result.body['refresh_token']! })).status).toBe(200);
  });

  it("checks the family's own user whatever user the token names: a hint naming someone else only costs a second read", async () => {
    const users = directoryServices(stack.runtime).users;
    await users.add('demo', { username: 'dave', email: 'dave@demo.example', password: DEMO_PASSWORD });
    const alice = await token({ grant_type: 'password', username: 'alice', password: DEMO_PASSWORD, scope: 'openid offline_access' });
    const dave = await token({ grant_type: 'password', username: 'dave', password: DEMO_PASSWORD, scope: 'openid offline_access' });
    // Disabled with its proactive revocation cut short: the family is live, only the access check refuses.
    const found = await users.get('demo', 'dave');
    await stack.runtime.directory.update(directoryKeys.user('demo', 'dave'), { user: { ...found, status: 'disabled' } }, { present: true });
    // dave's family, named as alice's (active): the rotation finds dave's family, so dave is read and refused.
    const forged = await counted(() => token({ grant_type: 'refresh_token', refresh_token: withHint(dave.body['refresh_token']!, 'alice') }));
    expect(forged.result).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(forged.byRound).toHaveLength(2);
    expect(forged.byRound[1]).toEqual(['directory GetItem T', 'state GetItem LOGINFAIL', 'state GetItem LOGINFAIL']);
    // alice's family, named as dave's (disabled): alice is read again and allowed.
    const named = await counted(() => token({ grant_type: 'refresh_token', refresh_token: withHint(alice.body['refresh_token']!, 'dave') }));
    expect(named.result.status).toBe(200);
    expect(named.byRound).toHaveLength(3);
  });

  it('refuses at once a refresh of a user disabled elsewhere: the access check reads the user fresh', async () => {
    const users = directoryServices(stack.runtime).users;
    await users.add('demo', { username: 'carol', email: 'carol@demo.example', password: DEMO_PASSWORD });
    const issued = await token({ grant_type: 'password', username: 'carol', password: DEMO_PASSWORD, scope: 'openid offline_access' });
    expect(issued.status).toBe(200);
    await users.disable('demo', 'carol');
    const refused = await token({ grant_type: 'refresh_token', refresh_token: issued.body['refresh_token']! });
    expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('serves a client deleted by another container for at most the cache TTL', async () => {
    const made = await directoryServices(stack.runtime).clients.create(
      'demo',
      { client_name: 'short-lived', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'profile' },
      'admin',
    );
    const other = { id: made.client.client_id, secret: made.clientSecret! };
    const saved = client;
    client = other;
    try {
      expect((await token({ grant_type: 'client_credentials' })).status).toBe(200);
      // Another container (here: the directory services of the admin side) deletes the client.
      await directoryServices(stack.runtime).clients.remove('demo', other.id);
      clock.advance(TTL - 1);
      expect((await token({ grant_type: 'client_credentials' })).status).toBe(200);
      clock.advance(2);
      expect(await token({ grant_type: 'client_credentials' })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    } finally {
      client = saved;
    }
  });

  it("refreshes for a tenant disabled elsewhere, its revocation cut short, for at most the cache TTL (the access check's tenant is the cached one)", async () => {
    const issued = await token({ grant_type: 'password', username: 'alice', password: DEMO_PASSWORD, scope: 'openid offline_access' });
    const warm = await token({ grant_type: 'refresh_token', refresh_token: issued.body['refresh_token']! });
    expect(warm.status).toBe(200);
    // Disabled by another container whose proactive revocation of the tenant's grants never ran.
    const found = await directoryServices(stack.runtime).tenants.find('demo');
    await stack.runtime.directory.update(directoryKeys.tenant('demo'), { tenant: { ...found, status: 'disabled' } }, { present: true });
    try {
      const within = await token({ grant_type: 'refresh_token', refresh_token: warm.body['refresh_token']! });
      expect(within.status).toBe(200);
      clock.advance(TTL + 1);
      expect((await token({ grant_type: 'refresh_token', refresh_token: within.body['refresh_token']! })).status).toBe(404);
    } finally {
      await stack.runtime.directory.update(directoryKeys.tenant('demo'), { tenant: found }, { present: true });
      clock.advance(TTL + 1);
    }
  });

  it('serves a tenant disabled by another container for at most the cache TTL', async () => {
    expect((await token({ grant_type: 'client_credentials' })).status).toBe(200);
    await directoryServices(stack.runtime).tenants.update('demo', { status: 'disabled' });
    try {
      expect((await token({ grant_type: 'client_credentials' })).status).toBe(200);
      clock.advance(TTL + 1);
      expect((await token({ grant_type: 'client_credentials' })).status).toBe(404);
    } finally {
      await directoryServices(stack.runtime).tenants.update('demo', { status: 'active' });
    }
  });
});
