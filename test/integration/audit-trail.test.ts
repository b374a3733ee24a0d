import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AUDIT_RETENTION_DAYS, AuditTrail } from '../../lambdas/core/directory/audit-trail.ts';
import { BACKENDS, openBackend, testClock, type Backend } from '../support/backends.ts';

/** The audit trail's rules on the real stores: per tenant, newest first, paged, gone after retention. */
describe.each(BACKENDS)('audit trail on %s', (name) => {
  const clock = testClock();
  let backend: Backend;
  let trail: AuditTrail;
  beforeAll(async () => {
    backend = await openBackend(name, clock);
    trail = new AuditTrail(backend.state, clock);
  }, 60_000);
  afterAll(async () => backend?.close());

  const event = (tenant: string, n: number) => ({ tenant, action: 'POST', target: `/users/u${n}/disable`, requestId: `req-${n}`, status: 200, via: 'admin-client' as const, principal: 'ops' });

  it('lists a tenant’s events newest first, only that tenant’s, across pages', async () => {
    for (let n = 0; n < 55; n += 1) {
      await trail.record(event('paged', n));
      clock.advance(1);
    }
    await trail.record(event('other', 99));
    const first = await trail.list('paged');
    expect(first.events).toHaveLength(50);
    expect(first.events[0]).toMatchObject({ requestId: 'req-54', tenant: 'paged', principal: 'ops', via: 'admin-client' });
    const second = await trail.list('paged', first.cursor);
    expect([...first.events, ...second.events].map((e) => e.requestId)).toEqual(Array.from({ length: 55 }, (_, i) => `req-${54 - i}`));
    expect(second.cursor).toBeUndefined();
  });

  it('keeps an event for the retention period only', async () => {
    await trail.record(event('expiring', 1));
    clock.advance(AUDIT_RETENTION_DAYS * 86_400 - 60);
    expect((await trail.list('expiring')).events).toHaveLength(1);
    clock.advance(120);
    expect((await trail.list('expiring')).events).toHaveLength(0);
  });
});
