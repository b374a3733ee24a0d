import { describe, expect, it } from '@jest/globals';
import { AccessCheck, decide } from '../../lambdas/core/access/access-check.ts';
import type { Tenant } from '../../lambdas/core/directory/tenant.ts';
import type { User } from '../../lambdas/core/directory/user.ts';
import { newRiskRecord, type RiskRecord } from '../../lambdas/core/risk/context.ts';
import type { SessionCorrelation } from '../../lambdas/core/risk/correlation.ts';

const tenant = (changes: Partial<Tenant> = {}): Tenant => ({ id: 'acme', status: 'active', ...changes }) as Tenant;
const user = (changes: Partial<User> = {}): User => ({ tenant: 'acme', username: 'alice', status: 'active', ...changes }) as User;

/** The one rule every continuation of granted access goes through (core/access/access-check.ts). */
describe('access check', () => {
  it('allows an active user of an active tenant, and hands back the user it read', () => {
    expect(decide({ grantedAt: 100 }, tenant(), user())).toEqual({ outcome: 'allow', user: user() });
  });

  it.each([
    ['tenant-missing', undefined, user()],
    ['tenant-disabled', tenant({ status: 'disabled' }), user()],
    ['user-missing', tenant(), undefined],
    ['user-disabled', tenant(), user({ status: 'disabled' })],
  ] as const)('denies with %s', (reason, t, u) => {
    expect(decide({ grantedAt: 100 }, t, u)).toMatchObject({ outcome: 'deny', reason });
  });

  it('denies what was granted before a revocation, even once the tenant or user is active again', () => {
    expect(decide({ grantedAt: 99 }, tenant({ accessRevokedAt: 100 }), user())).toMatchObject({ outcome: 'deny', reason: 'revoked' });
    expect(decide({ grantedAt: 99 }, tenant(), user({ accessRevokedAt: 100 }))).toMatchObject({ outcome: 'deny', reason: 'revoked' });
    // Granted at or after the revocation (a new sign-in): allowed.
    expect(decide({ grantedAt: 100 }, tenant({ accessRevokedAt: 100 }), user({ accessRevokedAt: 100 })).outcome).toBe('allow');
  });

  it('checks no user for a client acting for itself (client_credentials), only the tenant', () => {
    expect(decide({}, tenant(), null)).toEqual({ outcome: 'allow' });
    expect(decide({}, tenant({ status: 'disabled' }), null)).toMatchObject({ outcome: 'deny', reason: 'tenant-disabled' });
  });

  it("denies a client's own token (introspection: granted when issued) from before the tenant's revocation", () => {
    expect(decide({ grantedAt: 99 }, tenant({ accessRevokedAt: 100 }), null)).toMatchObject({ outcome: 'deny', reason: 'revoked' });
    expect(decide({ grantedAt: 100 }, tenant({ accessRevokedAt: 100 }), null)).toEqual({ outcome: 'allow' });
  });

  it('started early (the card APDU path reads it beside the session and card), reads once and decides as the one-step check does', async () => {
    const reads: string[] = [];
    const check = new AccessCheck(
      { find: async (id: string) => (reads.push(`tenant ${id}`), tenant()) },
      { get: async (_tenant: string, username: string) => (reads.push(`user ${username}`), user({ accessRevokedAt: 100 })) },
    );
    const started = check.start('acme', { user: 'alice' });
    expect(reads).toEqual(['tenant acme', 'user alice']); // the reads are under way before any decision
    const continuation = { kind: 'apdu' as const, tenant: 'acme', subject: { user: 'alice' }, grantedAt: 99 };
    expect(await started.decide(continuation)).toMatchObject({ outcome: 'deny', reason: 'revoked' });
    expect(await check.continueAccess(continuation)).toEqual(await started.decide(continuation));
    expect(await started.decide({ ...continuation, grantedAt: 100 })).toMatchObject({ outcome: 'allow' });
    // A decision for another subject than the reads were for is a programming error, not a denial.
    await expect(started.decide({ ...continuation, subject: { user: 'bob' } })).rejects.toThrow(/another subject/);
    await expect(started.decide({ ...continuation, tenant: 'other' })).rejects.toThrow(/another subject/);
  });

  describe('device correlation and Shared Signals levels at a scored continuation', () => {
    const correlated: SessionCorrelation = {
      state: 'correlated',
      via: 'card-session',
      at: 1,
      network: '127.0.0.5',
      device: 'd1',
      card: 'c1',
      cardSession: 's1',
    };
    const lost: SessionCorrelation = { ...correlated, state: 'lost', lostAt: 2, lostBecause: 'card-session-ended' };

    function checkWith(options: {
      transmitters: boolean;
      stored?: SessionCorrelation;
      now?: SessionCorrelation;
      levels?: { riskLevel?: string; deviceCompliance?: string[] };
    }) {
      const reads: string[] = [];
      let saved: RiskRecord | undefined;
      const withTransmitters = options.transmitters
        ? { ssfTransmitters: { transmitters: [{ issuer: 'https://t.example', audience: 'a', jwks: { keys: [] } }] } }
        : {};
      const check = new AccessCheck(
        { find: async () => tenant(withTransmitters as Partial<Tenant>) },
        { get: async () => user() },
        {
          clock: { now: () => 10_000 },
          records: { load: async () => newRiskRecord({ ip: '127.0.0.5' }, options.stored), save: async (_ref, record) => void (saved = record) },
          correlations: { recheck: async (_t, _u, correlation) => (reads.push(`recheck ${correlation.cardSession}`), options.now ?? correlation) },
          caep: { read: async (_t, _u, devices) => (reads.push(`levels ${devices.join(',')}`), options.levels ?? {}) },
        },
      );
      const continueFrom = (ip: string, keyThumbprint?: string) =>
        check.continueAccess({
          kind: 'sso-reuse-oidc',
          tenant: 'acme',
          subject: { user: 'alice' },
          record: { kind: 'sso', hash: 'h' },
          context: { ip, ...(keyThumbprint ? { keyThumbprint } : {}) },
        });
      return { continueFrom, reads, saved: () => saved };
    }

    it('reads nothing more for an uncorrelated session of a tenant without transmitters', async () => {
      const { continueFrom, reads } = checkWith({ transmitters: false });
      expect(await continueFrom('127.0.0.5')).toMatchObject({ outcome: 'allow', risk: { score: 0, reasons: [] } });
      expect(reads).toEqual([]);
    });

    it('re-checks a held correlation: the credit from its network, none from another', async () => {
      const { continueFrom, reads, saved } = checkWith({ transmitters: false, stored: correlated });
      expect(await continueFrom('127.0.0.5')).toMatchObject({ outcome: 'allow', risk: { reasons: ['device-correlated'] } });
      expect(reads).toEqual(['recheck s1']);
      expect(saved()?.correlation).toEqual(correlated);
      expect(await continueFrom('127.0.0.9')).toMatchObject({ risk: { score: 10, reasons: ['ip-change'] } });
    });

    it('stores a correlation found lost and scores correlation-lost', async () => {
      const { continueFrom, saved } = checkWith({ transmitters: false, stored: correlated, now: lost });
      expect(await continueFrom('127.0.0.5')).toMatchObject({ outcome: 'allow', risk: { score: 30, reasons: ['correlation-lost'] } });
      expect(saved()?.correlation).toEqual(lost);
    });

    it('reads the levels for a tenant with transmitters, for the presented key and the correlated device, and scores them', async () => {
      const high = checkWith({ transmitters: true, stored: correlated, levels: { riskLevel: 'HIGH' } });
      expect(await high.continueFrom('127.0.0.5', 'k1')).toMatchObject({
        outcome: 'step-up',
        risk: { score: 40, reasons: ['risk-level-high', 'device-correlated'] },
      });
      expect(high.reads.sort()).toEqual(['levels k1,d1', 'recheck s1']);
      const nonCompliant = checkWith({ transmitters: true, stored: correlated, levels: { deviceCompliance: ['not-compliant'] } });
      expect(await nonCompliant.continueFrom('127.0.0.5')).toMatchObject({
        outcome: 'deny',
        reason: 'risk',
        risk: { score: 100, reasons: ['device-non-compliant'] },
      });
      expect(nonCompliant.reads.sort()).toEqual(['levels d1', 'recheck s1']);
    });
  });

  it('scores against a risk record the caller already read (the refresh rotation returns it) without reading it again', async () => {
    const loads: string[] = [];
    const saved: RiskRecord[] = [];
    const last = { ip: '127.0.0.1', browser: 'Chrome', os: 'Linux', at: 1_000 };
    const asRead = newRiskRecord(last);
    const records = { load: async () => (loads.push('load'), undefined), save: async (_ref: unknown, record: RiskRecord) => void saved.push(record) };
    const check = new AccessCheck({ find: async () => tenant() }, { get: async () => user() }, { records, clock: { now: () => 2_000 } });
    const continuation = {
      kind: 'refresh' as const,
      tenant: 'acme',
      subject: { user: 'alice' },
      grantedAt: 1,
      record: { kind: 'grant' as const, gid: 'g1' },
      context: { ...last, ip: '127.0.0.9', browser: 'Firefox' },
    };
    // The record as read is the baseline: a new address and browser against it step up, with no load.
    expect(await check.continueAccess({ ...continuation, recordAsRead: { value: asRead } })).toMatchObject({
      outcome: 'step-up',
      risk: { reasons: ['ua-change', 'ip-change'] },
    });
    expect(loads).toEqual([]);
    expect(saved.at(-1)?.issued).toEqual(last);
    // Read as absent (an older family without a record): a fresh record from this context, still no load.
    expect(await check.continueAccess({ ...continuation, recordAsRead: { value: undefined } })).toMatchObject({ outcome: 'allow' });
    expect(loads).toEqual([]);
    // Without it, the check reads the record itself.
    await check.continueAccess(continuation);
    expect(loads).toEqual(['load']);
  });
  it('prefetched (the refresh token names its user), reads tenant, user and recent failures once, before the continuation is known, and decides as without', async () => {
    const reads: string[] = [];
    const check = new AccessCheck(
      { find: async (id: string) => (reads.push(`tenant ${id}`), tenant()) },
      { get: async (_tenant: string, username: string) => (reads.push(`user ${username}`), user()) },
      {
        clock: { now: () => 2_000 },
        failures: { recentFailures: async (_tenant: string, username: string) => (reads.push(`failures ${username}`), 3) },
      },
    );
    const prefetched = check.prefetch('acme', { user: 'alice' }, 'refresh');
    expect(reads).toEqual(['tenant acme', 'user alice', 'failures alice']); // under way before the continuation exists
    const continuation = { kind: 'refresh' as const, tenant: 'acme', subject: { user: 'alice' }, grantedAt: 1, context: { ip: '127.0.0.1', at: 2_000 } };
    const decided = await check.continueAccess(continuation, prefetched);
    expect(reads).toHaveLength(3); // nothing read again
    // The failures read early are scored as the one-step check scores them.
    expect(decided).toEqual(await check.continueAccess(continuation));
    expect(decided.outcome === 'allow' && decided.risk?.reasons).toContain('failed-attempts');
    // An unscored kind reads no failures.
    reads.length = 0;
    check.prefetch('acme', { user: 'alice' }, 'userinfo');
    expect(reads).toEqual(['tenant acme', 'user alice']);
    // Reads prefetched for another continuation are a programming error, not a decision.
    await expect(check.continueAccess({ ...continuation, subject: { user: 'bob' } }, prefetched)).rejects.toThrow(/another continuation/);
    await expect(check.continueAccess({ ...continuation, kind: 'code' }, prefetched)).rejects.toThrow(/another continuation/);
  });

  it('feeds unknown-device from one device lookup, only for a continuation that names a device key', async () => {
    const looked: string[] = [];
    const registered = new Set(['jkt-registered']);
    const devices = { isRegistered: async (_t: string, _u: string, jkt: string) => (looked.push(jkt), registered.has(jkt)) };
    const check = new AccessCheck({ find: async () => tenant() }, { get: async () => user() }, { devices, clock: { now: () => 2_000 } });
    const refresh = (key: string, deviceKey?: string) =>
      check.continueAccess({
        kind: 'refresh',
        tenant: 'acme',
        subject: { user: 'alice' },
        grantedAt: 1,
        context: { ip: '127.0.0.1', keyThumbprint: key },
        ...(deviceKey ? { deviceKey } : {}),
      });
    expect(await refresh('jkt-other', 'jkt-other')).toMatchObject({ outcome: 'allow', risk: { reasons: ['unknown-device'], score: 10 } });
    expect(await refresh('jkt-registered', 'jkt-registered')).toMatchObject({ outcome: 'allow', risk: { reasons: [] } });
    // A DPoP key that is no device key (an ordinary client's): not looked up, no signal.
    expect(await refresh('jkt-client')).toMatchObject({ outcome: 'allow', risk: { reasons: [] } });
    expect(looked).toEqual(['jkt-other', 'jkt-registered']);
  });
});
