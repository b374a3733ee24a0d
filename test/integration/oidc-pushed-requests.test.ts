import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { opaqueHash } from '../../lambdas/core/oidc/hashing.ts';
import { PAR_LIFETIME_SECONDS, PAR_URN_PREFIX, PushedRequests } from '../../lambdas/core/oidc/pushed-requests.ts';
import { BACKENDS, openBackend, testClock, type Backend } from '../support/backends.ts';

/** The single-use rule of pushed authorization requests (RFC 9126), where it lives, on both table backends. */
describe.each(BACKENDS)('pushed authorization requests (%s backend)', (name) => {
  const clock = testClock();
  let backend: Backend;
  let pushed: PushedRequests;
  const params = { response_type: 'code', client_id: 'client-one', redirect_uri: 'https://rp.example/cb', scope: 'openid' };

  beforeAll(async () => {
    backend = await openBackend(name, clock);
    pushed = new PushedRequests(backend.state, clock);
  });
  afterAll(async () => backend.close());

  it('hands the parameters out once, to one of 20 racing redemptions', async () => {
    const { requestUri, expiresIn } = await pushed.push('demo', 'client-one', params);
    expect(requestUri.startsWith(PAR_URN_PREFIX)).toBe(true);
    expect(expiresIn).toBe(PAR_LIFETIME_SECONDS);
    const results = await Promise.all(Array.from({ length: 20 }, () => pushed.redeem('demo', 'client-one', requestUri)));
    expect(results.filter((r) => r !== undefined)).toEqual([params]);
  });

  it('gives nothing to another client or tenant, and that uses nothing up', async () => {
    const { requestUri } = await pushed.push('demo', 'client-one', params);
    expect(await pushed.redeem('demo', 'client-two', requestUri)).toBeUndefined();
    expect(await pushed.redeem('other', 'client-one', requestUri)).toBeUndefined();
    expect(await pushed.redeem('demo', 'client-one', requestUri)).toEqual(params);
  });

  it('expires after 60 s, refuses made-up values, and stores the request_uri only as a hash', async () => {
    const { requestUri } = await pushed.push('demo', 'client-one', params);
    const stored = await backend.state.get({ PK: `PAR#${opaqueHash(requestUri)}`, SK: 'PAR' });
    expect(JSON.stringify(stored)).not.toContain(requestUri.slice(PAR_URN_PREFIX.length));
    clock.advance(PAR_LIFETIME_SECONDS + 1);
    expect(await pushed.redeem('demo', 'client-one', requestUri)).toBeUndefined();
    expect(await pushed.redeem('demo', 'client-one', `${PAR_URN_PREFIX}par_made-up`)).toBeUndefined();
    expect(await pushed.redeem('demo', 'client-one', 'https://rp.example/request.jwt')).toBeUndefined();
  });
});
