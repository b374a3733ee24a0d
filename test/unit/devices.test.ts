import { describe, expect, it } from '@jest/globals';
import { registrationReportOf } from '../../lambdas/core/access/devices.ts';
import { ValidationError } from '../../lambdas/core/errors.ts';

const AUD = 'https://idp.example/t/demo/card/v1/devices';
const NOW = 1_800_000_000;

describe('device registration report', () => {
  it('keeps the reported facts of a fresh registration addressed here', () => {
    expect(
      registrationReportOf({ aud: AUD, iat: NOW - 30, os: 'linux 6.1', agentVersion: '1.0.0', cardSessionLive: true, hostnameHash: 'a'.repeat(43) }, AUD, NOW),
    ).toEqual({
      os: 'linux 6.1',
      agentVersion: '1.0.0',
      cardSessionLive: true,
      hostnameHash: 'a'.repeat(43),
    });
  });

  it.each([
    ['another audience', { aud: 'https://idp.example/t/other/card/v1/devices', iat: NOW }, /aud/],
    ['a stale iat', { aud: AUD, iat: NOW - 121 }, /iat/],
    ['a future iat', { aud: AUD, iat: NOW + 121 }, /iat/],
    ['an unknown member (the clear hostname)', { aud: AUD, iat: NOW, hostname: 'alice-laptop' }, /unknown member hostname/],
    ['a hostname hash that is no SHA-256', { aud: AUD, iat: NOW, hostnameHash: 'alice-laptop' }, /hostnameHash/],
    ['a non-boolean card state', { aud: AUD, iat: NOW, cardSessionLive: 'yes' }, /cardSessionLive/],
    ['an over-long version', { aud: AUD, iat: NOW, agentVersion: 'x'.repeat(129) }, /agentVersion/],
  ])('refuses %s', (_name, payload, message) => {
    expect(() => registrationReportOf(payload, AUD, NOW)).toThrow(ValidationError);
    expect(() => registrationReportOf(payload, AUD, NOW)).toThrow(message);
  });
});
