import { describe, expect, it } from '@jest/globals';
import { correlate, correlationSignal, type DeviceSighting } from '../../lambdas/core/devices/correlation.ts';
import { assessRisk } from '../../lambdas/core/risk/engine.ts';
import { SIGNAL_RULES, SIGNAL_WEIGHTS } from '../../lambdas/core/risk/signals.ts';

const device: DeviceSighting = { id: 'd1', username: 'alice', lastIp: '127.0.0.5', cardSessionLive: true };

describe('device correlation (core/devices/correlation.ts)', () => {
  it('same user, same address, card live in the agent: correlated with that device', () => {
    expect(correlate({ username: 'alice', ip: '127.0.0.5' }, [device])).toEqual({ assurance: 'device', deviceId: 'd1', via: 'card-session' });
  });

  it('a certificate login (amr sc) correlates without a device sighting', () => {
    expect(correlate({ username: 'alice', ip: '10.0.0.1', amr: ['sc'] }, [])).toEqual({ assurance: 'device', via: 'certificate' });
  });

  it('another user, another address, no live card, a removed device or no address: no correlation', () => {
    expect(correlate({ username: 'bob', ip: '127.0.0.5' }, [device]).assurance).toBe('none');
    expect(correlate({ username: 'alice', ip: '127.0.0.6' }, [device]).assurance).toBe('none');
    expect(correlate({ username: 'alice', ip: '127.0.0.5' }, [{ ...device, cardSessionLive: false }]).assurance).toBe('none');
    expect(correlate({ username: 'alice', ip: '127.0.0.5' }, [{ ...device, removed: true }]).assurance).toBe('none');
    expect(correlate({ username: 'alice' }, [device]).assurance).toBe('none');
  });

  it('a correlated session whose card session ended or whose device was removed is lost (and stays lost)', () => {
    expect(correlate({ username: 'alice', ip: '127.0.0.5' }, [{ ...device, cardSessionLive: false }], 'device').assurance).toBe('lost');
    expect(correlate({ username: 'alice', ip: '127.0.0.5' }, [], 'device').assurance).toBe('lost');
    expect(correlate({ username: 'alice', ip: '127.0.0.5' }, [], 'lost').assurance).toBe('lost');
    // Correlating again raises it back.
    expect(correlate({ username: 'alice', ip: '127.0.0.5' }, [device], 'lost').assurance).toBe('device');
  });
});

describe('correlation-lost and unknown-device signals (core/risk/signals.ts)', () => {
  const current = { ip: '127.0.0.5', keyThumbprint: 'k1' };

  it('correlation-lost fires only when a correlated session lost its device', () => {
    expect(SIGNAL_RULES['correlation-lost']({ current, correlation: correlationSignal('lost') })).toBe(true);
    expect(SIGNAL_RULES['correlation-lost']({ current, correlation: correlationSignal('device') })).toBe(false);
    expect(SIGNAL_RULES['correlation-lost']({ current, correlation: correlationSignal('none') })).toBe(false);
  });

  it('unknown-device fires for a key that is no registered device (no evidence when devices were not consulted)', () => {
    expect(SIGNAL_RULES['unknown-device']({ current, registeredDevice: false })).toBe(true);
    expect(SIGNAL_RULES['unknown-device']({ current, registeredDevice: true })).toBe(false);
    expect(SIGNAL_RULES['unknown-device']({ current })).toBe(false);
    expect(SIGNAL_RULES['unknown-device']({ current: { ip: '127.0.0.5' }, registeredDevice: false })).toBe(false);
  });

  it('default weights: losing correlation alone allows, with an address change it steps up; an unknown device alone allows', () => {
    expect(SIGNAL_WEIGHTS['correlation-lost']).toBe(30);
    expect(SIGNAL_WEIGHTS['unknown-device']).toBe(10);
    expect(assessRisk({ current, correlation: 'lost' })).toMatchObject({ decision: 'allow', score: 30, reasons: ['correlation-lost'] });
    expect(assessRisk({ current, last: { ip: '127.0.0.9' }, correlation: 'lost' })).toMatchObject({ decision: 'step-up', score: 40, reasons: ['correlation-lost', 'ip-change'] });
    expect(assessRisk({ current, registeredDevice: false })).toMatchObject({ decision: 'allow', score: 10, reasons: ['unknown-device'] });
  });
});
