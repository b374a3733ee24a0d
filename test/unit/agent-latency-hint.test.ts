import { describe, expect, it } from '@jest/globals';
import { hintFor } from '../../agent/latency-hint.ts';

describe('the agent’s quick-ACK hint', () => {
  it('names the exact command for the route as it is, and says nothing once quick-ACK is on', () => {
    expect(hintFor('local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 \n')).toBe(
      'each APDU waits ~40 ms for a delayed ACK on the vpcd link; to remove it (as root): ip route change local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 table local quickack 1',
    );
    expect(hintFor('local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 quickack 1')).toBeUndefined();
    expect(hintFor('')).toBeUndefined();
  });
});
