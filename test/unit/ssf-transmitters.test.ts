import { describe, expect, it } from '@jest/globals';
import { GRANTS, STATE_PARTITIONS } from '../../lib/grants.ts';
import { ssfSignalKey } from '../../lambdas/core/ssf/receiver.ts';
import { ssfTransmittersSchema } from '../../lambdas/core/ssf/transmitters.ts';

/** The Shared Signals transmitter configuration (core/ssf/transmitters.ts) and who may keep what it receives. */
describe('SSF transmitters', () => {
  const keys = { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] };

  it('takes exactly one of jwks_uri and jwks per transmitter, each issuer once', () => {
    expect(ssfTransmittersSchema.safeParse({ transmitters: [{ issuer: 'https://a', jwks_uri: 'https://a/jwks', audience: 'us' }] }).success).toBe(true);
    expect(ssfTransmittersSchema.safeParse({ transmitters: [{ issuer: 'https://a', jwks: keys, audience: 'us' }] }).success).toBe(true);
    expect(ssfTransmittersSchema.safeParse({ transmitters: [{ issuer: 'https://a', audience: 'us' }] }).success).toBe(false);
    expect(ssfTransmittersSchema.safeParse({ transmitters: [{ issuer: 'https://a', jwks: keys, jwks_uri: 'https://a/jwks', audience: 'us' }] }).success).toBe(
      false,
    );
    expect(
      ssfTransmittersSchema.safeParse({
        transmitters: [
          { issuer: 'https://a', jwks: keys, audience: 'us' },
          { issuer: 'https://a', jwks: keys, audience: 'us' },
        ],
      }).success,
    ).toBe(false);
    expect(ssfTransmittersSchema.parse({})).toEqual({ transmitters: [] });
  });

  it('lets the oidc function (the receiver) keep signals, and still no card session', () => {
    const { state } = GRANTS.oidc;
    expect(state.write).toContain(STATE_PARTITIONS.ssfSignal);
    expect(ssfSignalKey('demo', 'DEVICE#d1#compliance').PK.startsWith(STATE_PARTITIONS.ssfSignal.replace('*', ''))).toBe(true);
    expect([...state.read, ...state.write]).not.toContain(STATE_PARTITIONS.cardSession);
  });
});
