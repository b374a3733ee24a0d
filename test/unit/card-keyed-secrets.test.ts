import { describe, expect, it } from '@jest/globals';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { LocalMacKey, localPinKey, localSessionKey } from '../../lambdas/adapters/local/mac-key.ts';
import { hashSecret } from '../../lambdas/core/crypto/password.ts';
import { PIN_HASH_LABEL, PinHasher } from '../../lambdas/core/cards/pin-hash.ts';
import { canonicalJson, SessionSeal, type SealedFields } from '../../lambdas/core/cards/session-seal.ts';
import { newSessionState } from '../../lambdas/core/piv/session.ts';

const fileKey = randomBytes(32);

describe('card-session state seal', () => {
  const seal = new SessionSeal(localSessionKey(fileKey));
  const fields: SealedFields = {
    itemKey: 'CARDSESS#abc',
    sessionId: 's1',
    tenant: 'acme',
    card: 'c1',
    seq: 4,
    piv: { ...newSessionState(), pinVerified: true },
  };

  it('verifies the seal it made, whatever the key order of the stored state', async () => {
    const mac = await seal.seal(fields);
    const reordered = JSON.parse(JSON.stringify({ adminAuthenticated: false, pinJustVerified: false, pinVerified: true, version: 1 }));
    expect(await seal.verify({ ...fields, piv: reordered }, mac)).toBe(true);
  });

  it.each([
    ['PIN verified forged into a fresh state', { piv: newSessionState() }],
    ['another sequence number (a replayed older state)', { seq: 3 }],
    ['another session item', { itemKey: 'CARDSESS#other' }],
    ['another session id', { sessionId: 's2' }],
    ['another card', { card: 'c2' }],
    ['another tenant', { tenant: 'other' }],
  ])('refuses a seal moved to %s', async (_name, change) => {
    const mac = await seal.seal(fields);
    expect(await seal.verify({ ...fields, ...change }, mac)).toBe(false);
  });

  it('refuses a missing, malformed or other-key seal', async () => {
    expect(await seal.verify(fields, undefined)).toBe(false);
    expect(await seal.verify(fields, 'not a mac')).toBe(false);
    expect(await seal.verify(fields, await new SessionSeal(localSessionKey(randomBytes(32))).seal(fields))).toBe(false);
    // The PIN key derived from the same key file is another key.
    expect(await seal.verify(fields, await new SessionSeal(localPinKey(fileKey)).seal(fields))).toBe(false);
  });

  it('serializes canonically: sorted keys at every level, undefined members dropped', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
  });
});

describe('keyed PIN and PUK hashes', () => {
  const pins = new PinHasher(localPinKey(fileKey));
  const owner = { tenant: 'acme', card: 'c1', reference: 'pin' as const };
  /** A hash of the first keyed scheme, as cards enrolled before the KMS-MAC scheme hold: scrypt of a subkey HMAC. */
  const firstScheme = async (value: string, key = localPinKey(fileKey)): Promise<string> => {
    const subkey = await key.deriveSubkey(PIN_HASH_LABEL);
    const keyed = createHmac('sha256', subkey)
      .update(JSON.stringify(['card-pin', owner.tenant, owner.card, owner.reference, value]))
      .digest('base64url');
    return `hmac-sha256+${await hashSecret(keyed)}`;
  };

  it('is the key’s own HMAC (one MAC call to make, one to check, no scrypt) and verifies the right PIN only', async () => {
    const calls: string[] = [];
    const key = localPinKey(fileKey);
    const counted = new PinHasher({
      deriveSubkey: (label) => (calls.push('deriveSubkey'), key.deriveSubkey(label)),
      mac: (message) => (calls.push('mac'), key.mac(message)),
      verifyMac: (message, mac) => (calls.push('verifyMac'), key.verifyMac(message, mac)),
    });
    const stored = await counted.hash(owner, '123456');
    expect(stored).toMatch(/^mac-v2\$[A-Za-z0-9_-]{43}$/);
    expect(await counted.check(owner, '123456', stored)).toEqual({ matches: true });
    expect(await counted.check(owner, '123457', stored)).toEqual({ matches: false });
    expect(calls).toEqual(['mac', 'verifyMac', 'verifyMac']);
  });

  it('cannot be reproduced from the PIN without the key: an offline guess against the stored value fails', async () => {
    const stored = await pins.hash(owner, '123456');
    // What an attacker with the directory but not the key can compute: an unkeyed digest of the message.
    const unkeyed = createHash('sha256')
      .update(JSON.stringify(['card-pin', 'acme', 'c1', 'pin', '123456']))
      .digest('base64url');
    expect(stored).not.toContain(unkeyed);
    // The same hash under another key does not verify.
    expect(await new PinHasher(new LocalMacKey(randomBytes(32), 'card-pin')).verify(owner, '123456', stored)).toBe(false);
  });

  it('binds the hash to its card and reference: copied to another card, or used as the PUK, it fails', async () => {
    const stored = await pins.hash(owner, '123456');
    expect(await pins.verify({ ...owner, card: 'c2' }, '123456', stored)).toBe(false);
    expect(await pins.verify({ ...owner, tenant: 'other' }, '123456', stored)).toBe(false);
    expect(await pins.verify({ ...owner, reference: 'puk' }, '123456', stored)).toBe(false);
    expect(await pins.verify(owner, '123456', 'mac-v2$short')).toBe(false);
  });

  it('still verifies a hash of the first (scrypt) scheme, and hands back today’s hash to store in its place', async () => {
    const old = await firstScheme('123456');
    expect(await pins.check(owner, '123457', old)).toEqual({ matches: false });
    const checked = await pins.check(owner, '123456', old);
    expect(checked.matches).toBe(true);
    const rehashed = (checked as { rehashed: string }).rehashed;
    expect(rehashed).toMatch(/^mac-v2\$/);
    expect(await pins.check(owner, '123456', rehashed)).toEqual({ matches: true });
    // Under another key the old hash does not verify either.
    expect((await pins.check(owner, '123456', await firstScheme('123456', localPinKey(randomBytes(32))))).matches).toBe(false);
  });

  it('never accepts an unkeyed hash from before (cards enrolled earlier are re-enrolled)', async () => {
    expect(await pins.verify(owner, '123456', await hashSecret('123456'))).toBe(false);
    expect(await pins.verify(owner, '123456', undefined)).toBe(false);
  });
});
