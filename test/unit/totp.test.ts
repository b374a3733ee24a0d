import { describe, expect, it } from '@jest/globals';
import { Secret, TOTP, URI } from 'otpauth';
import { matchTotpStep, TOTP_PARAMETERS, totpUri, totpWrapContext } from '../../lambdas/core/portal/totp.ts';

/** RFC 6238 appendix B: the SHA1 seed is the ASCII string "12345678901234567890". */
const RFC_SEED = Buffer.from('12345678901234567890', 'ascii');
const RFC_SHA1_VECTORS: readonly [seconds: number, code: string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

const step = (seconds: number): number => Math.floor(seconds / 30);
/** The six-digit code of the RFC seed at a time (ours are six digits; RFC 6238's vectors are eight). */
const code = (ms: number, secret: Uint8Array = RFC_SEED): string =>
  TOTP.generate({ secret: new Secret({ buffer: Uint8Array.from(secret).buffer }), algorithm: 'SHA1', digits: 6, period: 30, timestamp: ms });

describe('TOTP (RFC 6238)', () => {
  it('uses the parameters authenticator apps expect by default', () => {
    expect(TOTP_PARAMETERS).toMatchObject({ algorithm: 'SHA1', digits: 6, period: 30, window: 1, secretBytes: 20 });
    expect(totpWrapContext('acme', 'carol')).toEqual({ tenant: 'acme', card: 'totp', slot: 'carol' });
  });

  it.each(RFC_SHA1_VECTORS)('otpauth gives the RFC 6238 SHA1 vector at T=%d', (seconds, expected) => {
    const secret = new Secret({ buffer: Uint8Array.from(RFC_SEED).buffer });
    expect(TOTP.generate({ secret, algorithm: 'SHA1', digits: 8, period: 30, timestamp: seconds * 1000 })).toBe(expected);
    // Six digits are the low six of the same truncated value.
    expect(code(seconds * 1000)).toBe(expected.slice(2));
  });

  it.each(RFC_SHA1_VECTORS)('accepts the six-digit RFC code at T=%d, in its own time step', (seconds, expected) => {
    expect(matchTotpStep(RFC_SEED, expected.slice(2), seconds * 1000)).toBe(step(seconds));
  });

  it('accepts the previous and the next step (±1 window), not two away', () => {
    const now = 1_700_000_000_000;
    const current = step(now / 1000);
    expect(matchTotpStep(RFC_SEED, code(now - 30_000), now)).toBe(current - 1);
    expect(matchTotpStep(RFC_SEED, code(now + 30_000), now)).toBe(current + 1);
    expect(matchTotpStep(RFC_SEED, code(now - 60_000), now)).toBeUndefined();
    expect(matchTotpStep(RFC_SEED, code(now + 60_000), now)).toBeUndefined();
  });

  it('refuses a replay of the last accepted step, and any earlier step', () => {
    const now = 1_700_000_000_000;
    const current = step(now / 1000);
    expect(matchTotpStep(RFC_SEED, code(now), now, current - 1)).toBe(current);
    expect(matchTotpStep(RFC_SEED, code(now), now, current)).toBeUndefined();
    expect(matchTotpStep(RFC_SEED, code(now - 30_000), now, current - 1)).toBeUndefined();
    expect(matchTotpStep(RFC_SEED, code(now + 30_000), now, current)).toBe(current + 1);
    expect(matchTotpStep(RFC_SEED, code(now + 30_000), now, current + 1)).toBeUndefined();
  });

  it('refuses a wrong code, another secret, and malformed input', () => {
    const now = 1_700_000_000_000;
    const right = code(now);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    expect(matchTotpStep(RFC_SEED, wrong, now)).toBeUndefined();
    expect(matchTotpStep(Buffer.alloc(20, 7), right, now)).toBeUndefined();
    for (const bad of ['', '12345', '1234567', 'abcdef', `${right}0`, ' '.repeat(40), `${right.slice(0, 3)}-${right.slice(3)}`]) {
      expect(matchTotpStep(RFC_SEED, bad, now)).toBeUndefined();
    }
  });

  it('takes a code with spaces, as people type it', () => {
    const now = 1_700_000_000_000;
    const right = code(now);
    expect(matchTotpStep(RFC_SEED, ` ${right.slice(0, 3)} ${right.slice(3)} `, now)).toBe(step(now / 1000));
  });

  it('builds a provisioning URI authenticator apps parse back to the same secret and parameters', () => {
    const uri = totpUri(RFC_SEED, 'Acme Corp', 'carol@acme.example');
    expect(uri).toMatch(/^otpauth:\/\/totp\/Acme%20Corp:carol%40acme\.example\?/);
    const parsed = URI.parse(uri) as TOTP;
    expect(parsed).toBeInstanceOf(TOTP);
    expect(parsed).toMatchObject({ issuer: 'Acme Corp', label: 'carol@acme.example', algorithm: 'SHA1', digits: 6, period: 30 });
    expect(Buffer.from(parsed.secret.bytes)).toEqual(RFC_SEED);
  });

  it('reads the secret from a Buffer that is a view into a larger pool', () => {
    const pool = Buffer.alloc(100, 0xee);
    RFC_SEED.copy(pool, 40);
    const view = pool.subarray(40, 60);
    expect(matchTotpStep(view, '287082', 59_000)).toBe(1);
  });
});
