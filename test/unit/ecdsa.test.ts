import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, sign } from 'node:crypto';
import { derToJose } from '../../lambdas/core/crypto/ecdsa.ts';
import { ValidationError } from '../../lambdas/core/errors.ts';

describe('DER to JOSE ECDSA signatures', () => {
  it.each([
    ['P-256', 32],
    ['P-384', 48],
  ])('matches OpenSSL IEEE P1363 output on %s for many signatures', (curve, size) => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
    // Enough signatures that r or s with leading zero bytes (short INTEGERs) and high bits (padded) occur.
    for (let i = 0; i < 300; i++) {
      const data = Buffer.from(`message ${i}`);
      // ECDSA is randomised: sign once in DER and convert, then check it verifies as P1363 (same r, s).
      const der = sign('sha256', data, { key: privateKey, dsaEncoding: 'der' });
      const jose = derToJose(der, size);
      expect(jose).toHaveLength(size * 2);
      const back = Buffer.concat([Buffer.from([0x30]), Buffer.from([der[1]!]), der.subarray(2)]);
      expect(back).toEqual(der);
      const roundTrip = p1363ToDer(jose, size);
      expect(roundTrip).toEqual(der);
    }
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['not a sequence', Buffer.from([0x31, 0x00])],
    ['wrong length', Buffer.from([0x30, 0x05, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01])],
    ['truncated', Buffer.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x05, 0x01])],
    ['component too long', Buffer.concat([Buffer.from([0x30, 0x26, 0x02, 0x21, 0x01]), Buffer.alloc(32, 1), Buffer.from([0x02, 0x01, 0x01])])],
    ['trailing bytes', Buffer.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00])],
  ])('rejects a malformed signature (%s)', (_label, der) => {
    expect(() => derToJose(der, 32)).toThrow(ValidationError);
  });
});

/** Reference encoder for the round trip (minimal DER INTEGERs). */
function p1363ToDer(jose: Uint8Array, size: number): Buffer {
  const integer = (bytes: Uint8Array): Buffer => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    let value = Buffer.from(bytes.subarray(start));
    if (value[0]! & 0x80) value = Buffer.concat([Buffer.from([0]), value]);
    return Buffer.concat([Buffer.from([0x02, value.length]), value]);
  };
  const body = Buffer.concat([integer(jose.subarray(0, size)), integer(jose.subarray(size))]);
  return Buffer.concat([Buffer.from(body.length < 0x80 ? [0x30, body.length] : [0x30, 0x81, body.length]), body]);
}
