import { describe, expect, it } from '@jest/globals';
import { renewalOf } from '../../lambdas/core/cards/sessions.ts';
import { tenantCreateSchema } from '../../lambdas/core/directory/tenant.ts';

const policy = { lifetimeSeconds: 60, pinIdleSeconds: 120, pinMaxSeconds: 300 };

describe('card session renewal rule', () => {
  it('extends by one lifetime from now', () => {
    expect(renewalOf(policy, 1000, 1040, 1050)).toEqual({ expiresAt: 1110 });
  });
  it('never past the absolute maximum', () => {
    expect(renewalOf(policy, 1000, 1270, 1280)).toEqual({ expiresAt: 1300 });
    expect(renewalOf(policy, 1000, 1299, 1300)).toEqual({ end: 'maximum' });
  });
  it('ends after the idle timeout since the last APDU', () => {
    expect(renewalOf(policy, 1000, 1000, 1119)).toEqual({ expiresAt: 1179 });
    expect(renewalOf(policy, 1000, 1000, 1120)).toEqual({ end: 'idle' });
  });
});

describe('tenant card PIN policy', () => {
  it('defaults to a 1 h idle timeout and a 12 h maximum', () => {
    const parsed = tenantCreateSchema.parse({ id: 'acme' });
    expect(parsed.sessionLifetimes).toMatchObject({ cardPinIdleSeconds: 3_600, cardPinMaxSeconds: 43_200 });
  });
  it('refuses an idle timeout above the maximum, and values out of range', () => {
    expect(tenantCreateSchema.safeParse({ id: 'acme', sessionLifetimes: { cardPinIdleSeconds: 600, cardPinMaxSeconds: 300 } }).success).toBe(false);
    expect(tenantCreateSchema.safeParse({ id: 'acme', sessionLifetimes: { cardPinMaxSeconds: 10 } }).success).toBe(false);
    expect(tenantCreateSchema.safeParse({ id: 'acme', sessionLifetimes: { cardPinIdleSeconds: 120, cardPinMaxSeconds: 300 } }).success).toBe(true);
  });
});
