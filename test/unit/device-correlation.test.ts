import { describe, expect, it } from '@jest/globals';
import { reportedAssuranceLow, reportedRisk } from '../../lambdas/core/risk/caep.ts';
import {
  cardSessionStatus,
  correlateSignIn,
  correlationSignal,
  networkOf,
  recheckCorrelation,
  sameNetwork,
  type CardSessionSighting,
  type SessionCorrelation,
} from '../../lambdas/core/risk/correlation.ts';
import { newRiskRecord, recordDecision } from '../../lambdas/core/risk/context.ts';
import { assessRisk } from '../../lambdas/core/risk/engine.ts';
import { DEFAULT_RISK_POLICY, riskPolicySchema } from '../../lambdas/core/risk/policy.ts';
import { SIGNAL_RULES, SIGNAL_WEIGHTS } from '../../lambdas/core/risk/signals.ts';

const NOW = 1_800_000_000; // epoch seconds
const live: CardSessionSighting = { id: 's1', card: 'c1', device: 'd1', openedAt: (NOW - 60) * 1000, openedFrom: '127.0.0.5', expiresAt: NOW + 600 };
const signIn = { ip: '127.0.0.5', at: NOW * 1000 };

describe('the same network (core/risk/correlation.ts)', () => {
  it('is the same IPv4 address, or the same IPv6 /64; a mapped IPv4 address is its IPv4 address', () => {
    expect(networkOf('203.0.113.7')).toBe('203.0.113.7');
    expect(networkOf('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(sameNetwork('203.0.113.7', '203.0.113.8')).toBe(false);
    expect(networkOf('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(networkOf('2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(sameNetwork('2001:db8:1:2::1', '2001:db8:1:2:8f3a:1:2:3')).toBe(true);
    expect(sameNetwork('2001:db8:1:2::1', '2001:db8:1:3::1')).toBe(false);
    expect(networkOf('::1')).toBe('0:0:0:0::/64');
    expect(networkOf('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });

  it('is no evidence for a missing or malformed address', () => {
    for (const bad of [undefined, '', 'localhost', '999.1.1.1', '1:2:3', '1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1']) expect(networkOf(bad)).toBeUndefined();
    expect(sameNetwork(undefined, undefined)).toBe(false);
  });
});

describe('card session status and sign-in correlation', () => {
  it('a card session is live until it ends, expires or a later session of the card is opened', () => {
    expect(cardSessionStatus('s1', [live], NOW)).toBe('live');
    expect(cardSessionStatus('s1', [{ ...live, ended: true }], NOW)).toBe('ended');
    expect(cardSessionStatus('s1', [{ ...live, expiresAt: NOW }], NOW)).toBe('ended');
    expect(cardSessionStatus('s1', [], NOW)).toBe('ended');
    expect(cardSessionStatus('s1', [live, { ...live, id: 's2', device: 'd2', openedAt: live.openedAt + 1 }], NOW)).toBe('superseded');
    // An older, ended or expired other session changes nothing.
    expect(
      cardSessionStatus('s1', [live, { ...live, id: 's0', openedAt: live.openedAt - 1 }, { ...live, id: 's3', openedAt: live.openedAt + 5, ended: true }], NOW),
    ).toBe('live');
  });

  it('same user (the caller reads only theirs), same network, live card session of a registered device: correlated with that device', () => {
    expect(correlateSignIn(signIn, [live], ['d1'], NOW)).toEqual({
      state: 'correlated',
      via: 'card-session',
      at: NOW * 1000,
      network: '127.0.0.5',
      device: 'd1',
      card: 'c1',
      cardSession: 's1',
    });
  });

  it('no correlation from another network, an unregistered device, an ended or superseded session, or without an address', () => {
    expect(correlateSignIn({ ...signIn, ip: '127.0.0.6' }, [live], ['d1'], NOW)).toBeUndefined();
    expect(correlateSignIn(signIn, [live], ['d9'], NOW)).toBeUndefined();
    expect(correlateSignIn(signIn, [{ ...live, ended: true }], ['d1'], NOW)).toBeUndefined();
    expect(
      correlateSignIn(signIn, [live, { ...live, id: 's2', device: 'd2', openedFrom: '10.0.0.1', openedAt: live.openedAt + 1 }], ['d1', 'd2'], NOW),
    ).toBeUndefined();
    expect(correlateSignIn({ at: signIn.at }, [live], ['d1'], NOW)).toBeUndefined();
    expect(correlateSignIn(signIn, [{ ...live, openedFrom: undefined } as CardSessionSighting], ['d1'], NOW)).toBeUndefined();
  });

  it('a certificate login (amr sc) correlates without a device when no card session matches', () => {
    expect(correlateSignIn({ ...signIn, ip: '10.0.0.1', amr: ['sc', 'pin'] }, [live], ['d1'], NOW)).toEqual({
      state: 'correlated',
      via: 'certificate',
      at: NOW * 1000,
      network: '10.0.0.1',
    });
    expect(correlateSignIn({ ...signIn, amr: ['sc'] }, [live], ['d1'], NOW)).toMatchObject({ via: 'card-session', device: 'd1' });
  });
});

describe('re-checking a stored correlation', () => {
  const correlated = correlateSignIn(signIn, [live], ['d1'], NOW)!;
  const at = (NOW + 10) * 1000;

  it('holds while its card session is live', () => {
    expect(recheckCorrelation(correlated, [live], at)).toBe(correlated);
  });

  it('is lost when the card session ended or was superseded, and stays lost', () => {
    const ended = recheckCorrelation(correlated, [], at);
    expect(ended).toEqual({ ...correlated, state: 'lost', lostAt: at, lostBecause: 'card-session-ended' });
    const superseded = recheckCorrelation(correlated, [live, { ...live, id: 's2', device: 'd2', openedFrom: '10.0.0.1', openedAt: live.openedAt + 1 }], at);
    expect(superseded).toMatchObject({ state: 'lost', lostBecause: 'card-session-superseded' });
    expect(recheckCorrelation(ended, [live], at)).toBe(ended);
  });

  it('follows the card put back in the same device on the same network (a new card session)', () => {
    const reinserted = { ...live, id: 's2', openedAt: live.openedAt + 30_000 };
    expect(recheckCorrelation(correlated, [reinserted], at)).toEqual({ ...correlated, cardSession: 's2' });
    expect(recheckCorrelation(correlated, [{ ...reinserted, openedFrom: '127.0.0.9' }], at)).toMatchObject({ state: 'lost' });
  });

  it('a certificate correlation has nothing to lose', () => {
    const certificate: SessionCorrelation = { state: 'correlated', via: 'certificate', at: 1, network: '10.0.0.1' };
    expect(recheckCorrelation(certificate, [], at)).toBe(certificate);
  });

  it('is a credit only for requests from its network, and correlation-lost once lost', () => {
    expect(correlationSignal(correlated, '127.0.0.5')).toBe('correlated');
    expect(correlationSignal(correlated, '127.0.0.6')).toBeUndefined();
    expect(correlationSignal(correlated, undefined)).toBeUndefined();
    expect(correlationSignal({ ...correlated, state: 'lost' }, '127.0.0.5')).toBe('lost');
    expect(correlationSignal(undefined, '127.0.0.5')).toBeUndefined();
  });

  it('is kept in the risk record, replaced by what the check found', () => {
    const record = newRiskRecord({ ip: '127.0.0.5' }, correlated);
    const entry = { at, kind: 'sso-reuse-oidc', decision: 'allow' as const, score: 0, reasons: [], context: { ip: '127.0.0.5' } };
    expect(recordDecision(record, entry).correlation).toBe(correlated);
    const lost = recheckCorrelation(correlated, [], at);
    expect(recordDecision(record, entry, lost).correlation).toBe(lost);
    expect(recordDecision(newRiskRecord({}), entry).correlation).toBeUndefined();
  });
});

describe('correlation and Shared Signals levels in the engine (core/risk/signals.ts)', () => {
  const current = { ip: '127.0.0.5', keyThumbprint: 'k1' };

  it('correlation-lost alone allows, with an address change it steps up; device-correlated is a credit', () => {
    expect(SIGNAL_WEIGHTS['correlation-lost']).toBe(30);
    expect(assessRisk({ current, correlation: 'lost' })).toMatchObject({ decision: 'allow', score: 30, reasons: ['correlation-lost'] });
    expect(assessRisk({ current, last: { ip: '127.0.0.9' }, correlation: 'lost' })).toMatchObject({
      decision: 'step-up',
      score: 40,
      reasons: ['correlation-lost', 'ip-change'],
    });
    // A correlated session takes 20 off, listed after the risks; the score never goes below 0.
    expect(assessRisk({ current, last: { ip: '127.0.0.9', browser: 'Firefox' }, correlation: 'correlated' }, DEFAULT_RISK_POLICY)).toMatchObject({
      score: 0,
      reasons: ['ip-change', 'device-correlated'],
    });
    expect(assessRisk({ current: { ...current, browser: 'Chrome' }, last: { ip: '127.0.0.9', browser: 'Firefox' }, correlation: 'correlated' })).toMatchObject({
      decision: 'allow',
      score: 20,
      reasons: ['ua-change', 'ip-change', 'device-correlated'],
    });
    // A tenant may turn the credit off (weight 0), but never make it negative.
    expect(
      assessRisk({ current, last: { ip: '127.0.0.9' }, correlation: 'correlated' }, riskPolicySchema.parse({ weights: { 'device-correlated': 0 } })),
    ).toMatchObject({ score: 10, reasons: ['ip-change'] });
    expect(riskPolicySchema.safeParse({ weights: { 'device-correlated': -20 } }).success).toBe(false);
  });

  it('unknown-device fires for a key that is no registered device (no evidence when devices were not consulted)', () => {
    expect(SIGNAL_RULES['unknown-device']({ current, registeredDevice: false })).toBe(true);
    expect(SIGNAL_RULES['unknown-device']({ current })).toBe(false);
  });

  it('reads CAEP levels leniently', () => {
    expect(['HIGH', ' high ', 'Medium', 'low'].map(reportedRisk)).toEqual(['high', 'high', 'medium', 'low']);
    expect(reportedRisk('severe')).toBeUndefined();
    expect(['nist-aal1', 'AAL1', 'al1', 'loa-1', 'low'].every(reportedAssuranceLow)).toBe(true);
    expect(['nist-aal2', 'aal11', 'nist-aal3', 'high', undefined].some(reportedAssuranceLow)).toBe(false);
  });

  it('a high risk level steps up alone and denies with a 20-point signal; medium and a low assurance level alone allow', () => {
    expect(assessRisk({ current, reported: { riskLevel: 'HIGH' } })).toMatchObject({ decision: 'step-up', score: 60, reasons: ['risk-level-high'] });
    expect(assessRisk({ current, reported: { riskLevel: 'high' }, recentFailures: 1 })).toMatchObject({ decision: 'deny', score: 80 });
    expect(assessRisk({ current, reported: { riskLevel: 'medium' } })).toMatchObject({ decision: 'allow', score: 20, reasons: ['risk-level-medium'] });
    expect(assessRisk({ current, reported: { riskLevel: 'low' } })).toMatchObject({ decision: 'allow', score: 0, reasons: [] });
    expect(assessRisk({ current, reported: { assuranceLevel: 'nist-aal1' } })).toMatchObject({
      decision: 'allow',
      score: 20,
      reasons: ['assurance-level-low'],
    });
    expect(assessRisk({ current, reported: { riskLevel: 'medium', assuranceLevel: 'nist-aal1' } })).toMatchObject({ decision: 'step-up', score: 40 });
  });

  it('a device reported non-compliant denies what it continues; compliant changes nothing', () => {
    expect(assessRisk({ current, reported: { deviceCompliance: ['compliant', 'not-compliant'] } })).toMatchObject({
      decision: 'deny',
      score: 100,
      reasons: ['device-non-compliant'],
    });
    expect(assessRisk({ current, reported: { deviceCompliance: ['compliant'] } })).toMatchObject({ decision: 'allow', score: 0 });
    // A correlated session from its own network gets no credit for a non-compliant device.
    expect(assessRisk({ current, correlation: 'correlated', reported: { deviceCompliance: ['not-compliant'] } })).toMatchObject({
      decision: 'deny',
      score: 100,
      reasons: ['device-non-compliant'],
    });
  });
});
