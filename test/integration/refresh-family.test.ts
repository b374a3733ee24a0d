import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConflictError } from '../../lambdas/core/errors.ts';
import { Grants } from '../../lambdas/core/oidc/grants.ts';
import { RefreshTokens, refreshTokenSubject, type Presenter } from '../../lambdas/core/oidc/refresh-tokens.ts';
import { BACKENDS, openBackend, testClock, type Backend } from '../support/backends.ts';

/** The refresh-token family on its grant item: one conditional update per rotation, ALL_OLD telling why not. */
describe.each(BACKENDS)('refresh-token families on the %s backend', (name) => {
  const clock = testClock();
  let backend: Backend;
  let grants: Grants;
  let families: RefreshTokens;
  let n = 0;
  beforeAll(async () => {
    backend = await openBackend(name, clock);
    grants = new Grants(backend.state, clock);
    families = new RefreshTokens(backend.state);
  });
  afterAll(async () => backend.close());

  const confidential: Presenter = { tenant: 'demo', clientId: 'app', publicClient: false };
  const agent: Presenter = { tenant: 'demo', clientId: 'agent', publicClient: true };

  async function family(presenter: Presenter, jkt?: string): Promise<{ gid: string; token: string }> {
    const gid = `family-${name}-${++n}-0123456789`;
    const opened = families.open(gid, 'alice', { sid: 's', authTime: 1, acr: 'a', amr: ['pwd'], ...(jkt ? { jkt } : {}) });
    await grants.create(
      { gid, tenant: presenter.tenant, clientId: presenter.clientId, sub: 'alice', scope: 'openid offline_access' },
      3600,
      'user',
      opened.attributes,
    );
    return { gid, token: opened.token };
  }

  it('reports the item as it stood when a reportCurrent guard fails, and undefined when there is none', async () => {
    await backend.state.put({ PK: 'X#1', SK: 'X', v: 1, expiresAt: Math.floor(clock.now() / 1000) + 60 });
    const lost = await backend.state.update({ PK: 'X#1', SK: 'X' }, { v: 3 }, { equals: { v: 2 }, reportCurrent: true }).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(ConflictError);
    expect((lost as ConflictError).current).toMatchObject({ PK: 'X#1', v: 1 });
    const missing = await backend.state.update({ PK: 'X#2', SK: 'X' }, { v: 3 }, { equals: { v: 2 }, reportCurrent: true }).catch((e: unknown) => e);
    expect((missing as ConflictError).current).toBeUndefined();
  });

  it('rotates exactly once under 10 concurrent uses; the others are reuse', async () => {
    const { token } = await family(confidential);
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => families.rotate(token, confidential)));
    expect(outcomes.filter((o) => o.outcome === 'rotated')).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'reused')).toHaveLength(9);
  });

  it("names the family's user in the token outside its hash: a token without the name, or with another, rotates the same", async () => {
    const { token } = await family(confidential);
    expect(refreshTokenSubject(token)).toBe('alice');
    const bare = token.split('.').slice(0, 2).join('.');
    expect(refreshTokenSubject(bare)).toBeUndefined();
    const rotated = await families.rotate(`${bare}.${Buffer.from('mallory').toString('base64url')}`, confidential);
    if (rotated.outcome !== 'rotated') throw new Error(rotated.outcome);
    // The family, not the hint, says whose it is; the new token names the family's user.
    expect(rotated.grant.sub).toBe('alice');
    expect(refreshTokenSubject(rotated.token)).toBe('alice');
    expect((await families.rotate(rotated.token.split('.').slice(0, 2).join('.'), confidential)).outcome).toBe('rotated');
    expect(await families.find(rotated.token)).toMatchObject({ status: 'rotated' });
  });

  it('keeps the family scope across rotations and knows current and previous tokens', async () => {
    const { token } = await family(confidential);
    const rotated = await families.rotate(token, confidential);
    if (rotated.outcome !== 'rotated') throw new Error(rotated.outcome);
    expect(rotated.grant.scope).toBe('openid offline_access');
    expect(await families.find(rotated.token)).toMatchObject({ status: 'active', scope: 'openid offline_access' });
    expect(await families.find(token)).toMatchObject({ status: 'rotated' });
  });

  it('changes nothing for another client, another tenant or another DPoP key', async () => {
    const { token } = await family(agent, 'key-1');
    expect(await families.rotate(token, { ...agent, clientId: 'other' })).toEqual({ outcome: 'foreign' });
    expect(await families.rotate(token, { ...agent, tenant: 'acme' })).toEqual({ outcome: 'foreign' });
    expect(await families.rotate(token, { ...agent, jkt: 'key-2' })).toMatchObject({ outcome: 'wrong-key' });
    expect(await families.rotate(token, agent)).toMatchObject({ outcome: 'wrong-key' });
    expect((await families.rotate(token, { ...agent, jkt: 'key-1' })).outcome).toBe('rotated');
  });

  it('rotates an unbound family of a public client presented with a DPoP proof (the binding guess corrected)', async () => {
    const { token } = await family(agent);
    expect((await families.rotate(token, { ...agent, jkt: 'key-1' })).outcome).toBe('rotated');
  });

  it('tells reuse from a forged token naming the family', async () => {
    const pub = await family(agent);
    const forged = `rt_${pub.gid}.${'A'.repeat(43)}`;
    expect(await families.rotate(forged, agent)).toEqual({ outcome: 'unknown' });
    const next = await families.rotate(pub.token, agent);
    expect(next.outcome).toBe('rotated');
    expect((await families.rotate(pub.token, agent)).outcome).toBe('reused');
    // A confidential client proved it holds the family: any token of it that is not current is reuse.
    const conf = await family(confidential);
    expect((await families.rotate(`rt_${conf.gid}.${'A'.repeat(43)}`, confidential)).outcome).toBe('reused');
  });

  it('refuses a revoked family and an unknown token', async () => {
    const { gid, token } = await family(confidential);
    await grants.revoke(gid);
    expect(await families.rotate(token, confidential)).toEqual({ outcome: 'revoked' });
    expect(await families.rotate('rt_nothing', confidential)).toEqual({ outcome: 'unknown' });
    expect(await families.rotate(`rt_missing-family-0123456789.${'A'.repeat(43)}`, confidential)).toEqual({ outcome: 'unknown' });
  });
});
