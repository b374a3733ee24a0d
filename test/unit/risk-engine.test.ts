import { describe, expect, it } from '@jest/globals';
import { newRiskRecord, recordDecision, DECISION_HISTORY, type AccessContext } from '../../lambdas/core/risk/context.ts';
import { assessRisk } from '../../lambdas/core/risk/engine.ts';
import { combine } from '../../lambdas/core/risk/external.ts';
import { DEFAULT_RISK_POLICY, riskPolicySchema } from '../../lambdas/core/risk/policy.ts';
import { haversineKm, SIGNAL_RULES, SIGNAL_WEIGHTS, type SignalInput } from '../../lambdas/core/risk/signals.ts';
import { parseInput } from '../../lambdas/core/validation.ts';
import { ValidationError } from '../../lambdas/core/errors.ts';
import { locationOf } from '../../lambdas/http/location.ts';
import { uaFamilies } from '../../lambdas/http/user-agent.ts';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const PARIS = { country: 'FR', latitude: 48.8566, longitude: 2.3522 };
const SYDNEY = { country: 'AU', latitude: -33.8688, longitude: 151.2093 };
const LYON = { country: 'FR', latitude: 45.764, longitude: 4.8357 };
const base: AccessContext = { ip: '127.0.0.1', browser: 'Chrome', os: 'Linux', location: PARIS, at: T0, keyThumbprint: 'k1' };
const fires = (name: keyof typeof SIGNAL_RULES, input: SignalInput) => SIGNAL_RULES[name](input);

describe('risk signals (core/risk/signals.ts)', () => {
  it('key-mismatch: a presented key other than the bound one, or none at all', () => {
    expect(fires('key-mismatch', { current: base, boundKey: 'k1' })).toBe(false);
    expect(fires('key-mismatch', { current: { ...base, keyThumbprint: 'k2' }, boundKey: 'k1' })).toBe(true);
    expect(fires('key-mismatch', { current: { ip: '1.2.3.4' }, boundKey: 'k1' })).toBe(true);
    expect(fires('key-mismatch', { current: { ...base, keyThumbprint: 'k2' } })).toBe(false);
  });

  it('new-device: a key not among the known ones (no evidence when none is known)', () => {
    expect(fires('new-device', { current: base, knownKeys: ['k1'] })).toBe(false);
    expect(fires('new-device', { current: { ...base, keyThumbprint: 'k9' }, knownKeys: ['k1'] })).toBe(true);
    expect(fires('new-device', { current: { ...base, keyThumbprint: 'k9' }, knownKeys: [] })).toBe(false);
  });

  it('ip-change, country-change, ua-change: both sides known and different', () => {
    expect(fires('ip-change', { current: { ...base, ip: '127.0.0.2' }, last: base })).toBe(true);
    expect(fires('ip-change', { current: { ...base, ip: undefined }, last: base })).toBe(false);
    expect(fires('country-change', { current: { ...base, location: SYDNEY }, last: base })).toBe(true);
    expect(fires('country-change', { current: { ...base, location: { country: 'fr' } }, last: base })).toBe(false);
    expect(fires('country-change', { current: { ...base, location: undefined }, last: base })).toBe(false);
    expect(fires('ua-change', { current: { ...base, browser: 'Firefox' }, last: base })).toBe(true);
    expect(fires('ua-change', { current: { ...base, os: 'Windows' }, last: base })).toBe(true);
    expect(fires('ua-change', { current: base, last: base })).toBe(false);
  });

  it('impossible-travel: faster than 900 km/h over more than 100 km', () => {
    const km = haversineKm(PARIS.latitude, PARIS.longitude, SYDNEY.latitude, SYDNEY.longitude);
    expect(km).toBeGreaterThan(16_900);
    expect(km).toBeLessThan(17_000);
    const hour = 3_600_000;
    expect(fires('impossible-travel', { current: { ...base, location: SYDNEY, at: T0 + hour }, last: base })).toBe(true);
    // Paris → Sydney in 20 hours is a flight.
    expect(fires('impossible-travel', { current: { ...base, location: SYDNEY, at: T0 + 20 * hour }, last: base })).toBe(false);
    // Paris → Lyon (~390 km) in one minute is not possible; in an hour, it is (~390 km/h).
    expect(fires('impossible-travel', { current: { ...base, location: LYON, at: T0 + 60_000 }, last: base })).toBe(true);
    expect(fires('impossible-travel', { current: { ...base, location: LYON, at: T0 + hour }, last: base })).toBe(false);
    // City-level noise, missing coordinates or times: nothing.
    expect(fires('impossible-travel', { current: { ...base, location: { country: 'FR', latitude: 48.9, longitude: 2.4 }, at: T0 + 1 }, last: base })).toBe(
      false,
    );
    expect(fires('impossible-travel', { current: { ...base, location: { country: 'AU' }, at: T0 + 1 }, last: base })).toBe(false);
    expect(fires('impossible-travel', { current: { ...base, location: SYDNEY, at: undefined }, last: base })).toBe(false);
    // A tenant's own speed limit.
    expect(fires('impossible-travel', { current: { ...base, location: LYON, at: T0 + hour }, last: base, maxTravelKmh: 300 })).toBe(true);
  });

  it('unusual-hour: outside the tenant hours in its offset, wrapping midnight', () => {
    const at = (h: number) => ({ ...base, at: Date.UTC(2026, 0, 5, h, 30) });
    const office = { from: 7, to: 20, utcOffsetMinutes: 0 };
    expect(fires('unusual-hour', { current: at(12), usualHours: office })).toBe(false);
    expect(fires('unusual-hour', { current: at(3), usualHours: office })).toBe(true);
    expect(fires('unusual-hour', { current: at(3), usualHours: { ...office, utcOffsetMinutes: 600 } })).toBe(false); // 13:30 at UTC+10
    const night = { from: 22, to: 6, utcOffsetMinutes: 0 };
    expect(fires('unusual-hour', { current: at(23), usualHours: night })).toBe(false);
    expect(fires('unusual-hour', { current: at(12), usualHours: night })).toBe(true);
    expect(fires('unusual-hour', { current: at(3) })).toBe(false);
  });

  it('failed-attempts and subject-disabled', () => {
    expect(fires('failed-attempts', { current: base, recentFailures: 2 })).toBe(true);
    expect(fires('failed-attempts', { current: base, recentFailures: 0 })).toBe(false);
    expect(fires('subject-disabled', { current: base, subjectDisabled: true })).toBe(true);
    expect(fires('subject-disabled', { current: base })).toBe(false);
  });
});

describe('risk engine (core/risk/engine.ts)', () => {
  it('allows the same context', () => {
    expect(assessRisk({ current: base, last: base, knownKeys: ['k1'], boundKey: 'k1' })).toEqual({ decision: 'allow', score: 0, reasons: [] });
  });

  it('with the default bands: key mismatch denies, a country change steps up, impossible travel denies, address + browser change steps up', () => {
    expect(assessRisk({ current: { ...base, keyThumbprint: 'k2' }, boundKey: 'k1' })).toMatchObject({
      decision: 'deny',
      score: 100,
      reasons: ['key-mismatch'],
    });
    expect(assessRisk({ current: { ...base, location: { country: 'DE' } }, last: base })).toMatchObject({
      decision: 'step-up',
      score: 40,
      reasons: ['country-change'],
    });
    expect(assessRisk({ current: { ...base, location: SYDNEY, at: T0 + 60_000 }, last: base })).toMatchObject({
      decision: 'deny',
      score: 120,
      reasons: ['impossible-travel', 'country-change'],
    });
    expect(assessRisk({ current: { ...base, ip: '127.0.0.9', browser: 'Firefox' }, last: base })).toMatchObject({
      decision: 'step-up',
      score: 40,
      reasons: ['ua-change', 'ip-change'],
    });
    expect(assessRisk({ current: { ...base, ip: '127.0.0.9' }, last: base })).toMatchObject({ decision: 'allow', score: SIGNAL_WEIGHTS['ip-change'] });
  });

  it('applies the tenant weights and the relying party override', () => {
    const policy = riskPolicySchema.parse({
      weights: { 'key-mismatch': 0 },
      overrides: [{ audience: 'saml:https://payroll.example', bands: { stepUp: 5, deny: 30 } }],
    });
    expect(assessRisk({ current: { ...base, keyThumbprint: 'k2' }, boundKey: 'k1' }, policy)).toEqual({ decision: 'allow', score: 0, reasons: [] });
    const moved = { current: { ...base, ip: '127.0.0.9' }, last: base };
    expect(assessRisk(moved, policy).decision).toBe('allow');
    expect(assessRisk({ ...moved, audience: 'saml:https://payroll.example' }, policy).decision).toBe('step-up');
  });
});

describe('external risk answer (core/risk/external.ts)', () => {
  const bands = { stepUp: 40, deny: 80 };
  const builtIn = { decision: 'allow' as const, score: 10, reasons: ['ip-change'] };

  it('adds its score, keeps its reasons apart, and may make the decision stricter but never looser', () => {
    expect(combine(builtIn, { score: 35, reasons: ['tor'] }, bands)).toEqual({ decision: 'step-up', score: 45, reasons: ['ip-change', 'external:tor'] });
    expect(combine(builtIn, { score: 0, decision: 'deny', reasons: [] }, bands)).toMatchObject({ decision: 'deny', score: 10 });
    expect(combine({ decision: 'deny', score: 100, reasons: ['key-mismatch'] }, { score: 0, decision: 'allow', reasons: [] }, bands)).toMatchObject({
      decision: 'deny',
    });
  });
});

describe('risk policy validation (core/risk/policy.ts)', () => {
  const issues = (input: unknown): string[] => {
    try {
      parseInput(riskPolicySchema, input, 'risk policy');
    } catch (error) {
      return (error as ValidationError).issues as string[];
    }
    return [];
  };

  it('defaults: step-up at 40, deny at 80, no overrides, no external service (300 ms and fail-open once named)', () => {
    expect(DEFAULT_RISK_POLICY).toMatchObject({ bands: { stepUp: 40, deny: 80 }, weights: {}, overrides: [], maxTravelKmh: 900 });
    expect(DEFAULT_RISK_POLICY.external).toBeUndefined();
    expect(riskPolicySchema.parse({ external: { url: 'https://risk.example/v1' } }).external).toEqual({
      url: 'https://risk.example/v1',
      timeoutMs: 300,
      failure: 'open',
    });
  });

  it.each([
    [{ bands: { stepUp: 90, deny: 80 } }, 'bands.stepUp'],
    [{ bands: { stepUp: 0, deny: 80 } }, 'bands.stepUp'],
    [{ bands: { stepUp: 10 } }, 'bands.deny'],
    [{ weights: { 'no-such-signal': 5 } }, 'weights'],
    [{ weights: { 'ip-change': -1 } }, 'weights.ip-change'],
    [{ usualHours: { from: 25, to: 3 } }, 'usualHours.from'],
    [{ maxTravelKmh: 5 }, 'maxTravelKmh'],
    [
      {
        overrides: [
          { audience: 'a', bands: { stepUp: 1, deny: 2 } },
          { audience: 'a', bands: { stepUp: 1, deny: 2 } },
        ],
      },
      'overrides',
    ],
    [{ overrides: [{ audience: '', bands: { stepUp: 1, deny: 2 } }] }, 'overrides.0.audience'],
    [{ extra: true }, '(body)'],
    [{ external: { url: 'not a url' } }, 'external.url'],
    [{ external: { url: 'https://risk.example', timeoutMs: 10 } }, 'external.timeoutMs'],
    [{ external: { url: 'https://risk.example', failure: 'maybe' } }, 'external.failure'],
  ])('refuses %j naming %s', (input, field) => {
    expect(issues(input).some((issue) => issue.startsWith(`${field}:`))).toBe(true);
  });
});

describe('risk record (core/risk/context.ts)', () => {
  it('keeps the last allowed context, the keys seen with it and the last 10 decisions', () => {
    let record = newRiskRecord(base);
    expect(record).toMatchObject({ issued: base, last: base, knownKeys: ['k1'], decisions: [] });
    const moved = { ...base, ip: '127.0.0.2', keyThumbprint: 'k2' };
    record = recordDecision(record, { at: T0, kind: 'refresh', decision: 'allow', score: 10, reasons: ['ip-change'], context: moved });
    expect(record.last).toEqual(moved);
    expect(record.knownKeys).toEqual(['k1', 'k2']);
    const refused = { ...base, ip: '127.0.0.3', keyThumbprint: 'k3' };
    record = recordDecision(record, { at: T0, kind: 'refresh', decision: 'deny', score: 100, reasons: ['key-mismatch'], context: refused });
    expect(record.last).toEqual(moved);
    expect(record.knownKeys).toEqual(['k1', 'k2']);
    for (let i = 0; i < 15; i++) record = recordDecision(record, { at: T0 + i, kind: 'refresh', decision: 'allow', score: 0, reasons: [], context: moved });
    expect(record.decisions).toHaveLength(DECISION_HISTORY);
    expect(record.decisions.at(-1)!.at).toBe(T0 + 14);
  });
});

describe('context capture (lambdas/http)', () => {
  it('reads well-formed CloudFront viewer headers and drops malformed ones', () => {
    expect(
      locationOf({
        'cloudfront-viewer-country': 'fr',
        'cloudfront-viewer-city': 'Paris',
        'cloudfront-viewer-latitude': '48.85660',
        'cloudfront-viewer-longitude': '2.35220',
        'cloudfront-viewer-asn': '3215',
      }),
    ).toEqual({
      location: { country: 'FR', city: 'Paris', latitude: 48.8566, longitude: 2.3522, asn: '3215' },
    });
    expect(
      locationOf({
        'cloudfront-viewer-country': 'France',
        'cloudfront-viewer-latitude': '91',
        'cloudfront-viewer-longitude': '2',
        'cloudfront-viewer-asn': 'AS1',
      }),
    ).toEqual({});
    expect(locationOf({})).toEqual({});
  });

  it('parses user agents to browser and OS families', () => {
    expect(uaFamilies('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36')).toEqual({
      browser: 'Chrome',
      os: 'Linux',
    });
    expect(uaFamilies('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0')).toEqual({ browser: 'Firefox', os: 'Windows' });
    expect(uaFamilies('curl/8.5.0')).toEqual({});
  });
});
