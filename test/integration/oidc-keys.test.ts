import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { oidcSettingsOf } from '../../lambdas/core/directory/tenant.ts';
import { TenantKeys } from '../../lambdas/core/oidc/keys.ts';
import { BACKENDS, countingReads, openBackend, testClock, type Backend } from '../support/backends.ts';

/** Two warm containers sharing one tenant's key ring, while one of them rotates it. */
describe.each(BACKENDS)('tenant signing keys across containers (%s backend)', (name) => {
  const clock = testClock();
  const settings = oidcSettingsOf({ oidc: {} } as never);
  let backend: Backend;
  let counting: ReturnType<typeof countingReads>;

  beforeAll(async () => {
    backend = await openBackend(name, clock);
    counting = countingReads(backend.directory);
  });
  afterAll(async () => backend.close());

  it('keeps signing with a published key until its ring copy expires, then follows the rotation', async () => {
    const a = new TenantKeys({ directory: counting.store, clock, custody: backend.custody });
    const b = new TenantKeys({ directory: backend.directory, clock, custody: backend.custody });
    const first = await a.currentSigner('acme', settings);
    const published = (await a.jwks('acme', settings)).map((k) => k.kid);
    expect(published).toHaveLength(2); // current and next

    const rotated = await b.rotate('acme', settings, 900);
    expect(rotated.current).toBe(published[1]);

    // Container A still signs with the old current key for up to 30 s: it is still published (retired).
    expect((await a.currentSigner('acme', settings)).kid).toBe(first.kid);
    expect((await b.jwks('acme', settings)).map((k) => k.kid)).toEqual(expect.arrayContaining([first.kid, rotated.current, rotated.next]));

    clock.advance(31);
    expect((await a.currentSigner('acme', settings)).kid).toBe(rotated.current);
    clock.advance(-31);
  });

  it('reads each immutable key item once per container', async () => {
    const a = new TenantKeys({ directory: counting.store, clock, custody: backend.custody });
    await a.currentSigner('globex', settings);
    await a.jwks('globex', settings); // also reads the next key once
    counting.reset();
    for (let i = 0; i < 5; i++) await a.currentSigner('globex', settings);
    await a.jwks('globex', settings);
    expect(counting.reads()).toBe(0);
  });
});
