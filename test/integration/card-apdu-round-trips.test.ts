import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { CompactSign } from 'jose';
import { generateDeviceKey, type DeviceKey } from '../../agent/sdk.ts';
import { systemRandom } from '../../lambdas/adapters/system.ts';
import { AccessCheck } from '../../lambdas/core/access/access-check.ts';
import { CardAuthority } from '../../lambdas/core/cards/authority.ts';
import { cardKeys, type CardItem } from '../../lambdas/core/cards/card-item.ts';
import { Cards } from '../../lambdas/core/cards/cards.ts';
import { PIN_HASH_LABEL, PinHasher } from '../../lambdas/core/cards/pin-hash.ts';
import { SessionSeal } from '../../lambdas/core/cards/session-seal.ts';
import { CardSessionError, CardSessions, parseSessionToken, sessionToken } from '../../lambdas/core/cards/sessions.ts';
import { WrappedSlotKeys } from '../../lambdas/core/cards/slot-keys.ts';
import { hashSecret } from '../../lambdas/core/crypto/password.ts';
import { Tenants, type Tenant } from '../../lambdas/core/directory/tenant.ts';
import { Users } from '../../lambdas/core/directory/user.ts';
import type { MacKey } from '../../lambdas/ports.ts';
import { BACKENDS, openBackend, testClock, type Backend } from '../support/backends.ts';
import { getData, sw, verifyPin } from '../support/card-flows.ts';
import { RoundTrips } from '../support/round-trips.ts';

const PIN = '24681357';

/**
 * What one APDU costs the stores and KMS, on both backends: the session, the card, the tenant and the user
 * are read in one round trip, and a VERIFY is one KMS MAC call (no scrypt); a PIN hash of the first
 * (scrypt) scheme still verifies and is upgraded in the counter's restoring write.
 */
describe.each(BACKENDS)('card APDU round trips on the %s backend', (name) => {
  const clock = testClock();
  const trips = new RoundTrips();
  let backend: Backend;
  let cards: Cards;
  let sessions: CardSessions;
  let tenant: Tenant;
  let device: DeviceKey;
  let pinKey: MacKey;

  beforeAll(async () => {
    backend = await openBackend(name, clock);
    const directory = trips.watch(backend.directory, 'directory');
    const state = trips.watch(backend.state, 'state');
    pinKey = trips.watch(backend.cardPinKey, 'pinKey');
    const tenants = new Tenants(directory, clock);
    const users = new Users(directory, tenants, clock);
    cards = new Cards({
      directory,
      custody: backend.custody,
      slotKeys: { wrapped: new WrappedSlotKeys(backend.custody) },
      authority: new CardAuthority(backend.directory, backend.residentKeys, clock),
      pins: new PinHasher(pinKey),
      tenants,
      users,
      clock,
      random: systemRandom,
    });
    sessions = new CardSessions(state, cards, clock, systemRandom, new AccessCheck(tenants, users), new SessionSeal(backend.cardSessionKey));
    await tenants.create({ id: 'acme' });
    await users.add('acme', { username: 'alice', email: 'alice@example.com' });
    await users.add('acme', { username: 'bob', email: 'bob@example.com' });
    tenant = await tenants.get('acme');
    device = await generateDeviceKey();
  });
  afterAll(async () => backend?.close());

  const enrol = async (username = 'alice'): Promise<string> =>
    (await cards.enrol('acme', { username, slots: ['9a'], algorithm: 'p256', pin: PIN, puk: '86427531' })).card.id;
  const open = async (cardId: string, username = 'alice'): Promise<string> => {
    const { nonce } = await sessions.challenge(tenant, username, cardId, device.publicJwk);
    const proof = await new CompactSign(new TextEncoder().encode(JSON.stringify({ nonce, card: cardId })))
      .setProtectedHeader({ alg: device.alg, typ: 'cloudcard-session+jwt', jwk: device.publicJwk })
      .sign(device.privateKey);
    return (await sessions.open(tenant, username, cardId, proof)).secret;
  };
  const apdu = async (token: string, command: Uint8Array): Promise<{ sw: number; rounds: string[][] }> => {
    trips.reset();
    const { response } = await sessions.apdu('acme', token, command);
    return { sw: sw(response), rounds: trips.rounds() };
  };
  const refusal = (token: string, command: Uint8Array): Promise<unknown> =>
    sessions.apdu('acme', token, command).then(
      () => undefined,
      (error: unknown) => error,
    );

  it('reads the session, the card, the tenant and the user in one round trip; a read-only APDU makes no other', async () => {
    const token = await open(await enrol());
    const { sw: status, rounds } = await apdu(token, getData(0x5fc102));
    expect(status).toBe(0x9000);
    expect(rounds).toHaveLength(1);
    expect([...rounds[0]!].sort()).toEqual(['directory.get', 'directory.get', 'directory.get', 'state.get']);
  });

  it('checks a right or wrong PIN with one KMS MAC call after that one read round trip, and no other KMS call', async () => {
    const token = await open(await enrol());
    for (const [pin, wanted] of [
      [PIN, 0x9000],
      ['00000000', 0x63c2],
      [PIN, 0x9000],
    ] as const) {
      const { sw: status, rounds } = await apdu(token, verifyPin(pin));
      expect(status).toBe(wanted);
      expect(rounds[0]!.filter((call) => call.endsWith('.get'))).toHaveLength(4);
      expect(rounds.flat().filter((call) => call.startsWith('pinKey.'))).toEqual(['pinKey.verifyMac']);
    }
  });

  it('upgrades a PIN hash of the first (scrypt) scheme on the next right PIN, in the write that restores the counter', async () => {
    const cardId = await enrol();
    const subkey = await backend.cardPinKey.deriveSubkey(PIN_HASH_LABEL);
    const keyed = createHmac('sha256', subkey)
      .update(JSON.stringify(['card-pin', 'acme', cardId, 'pin', PIN]))
      .digest('base64url');
    await backend.directory.update(cardKeys.card('acme', cardId), { pinHash: `hmac-sha256+${await hashSecret(keyed)}` }, { present: true });
    const token = await open(cardId);
    expect((await apdu(token, verifyPin('00000000'))).sw).toBe(0x63c2);
    expect((await backend.directory.get<CardItem>(cardKeys.card('acme', cardId)))!.pinHash).toMatch(/^hmac-sha256\+scrypt\$/);
    expect((await apdu(token, verifyPin(PIN))).sw).toBe(0x9000);
    const card = (await backend.directory.get<CardItem>(cardKeys.card('acme', cardId)))!;
    expect(card.pinHash).toMatch(/^mac-v2\$/);
    expect(card.pinRemaining).toBe(card.pinMaxTries);
    // From then on one VerifyMac per check.
    const { sw: status, rounds } = await apdu(token, verifyPin(PIN));
    expect(status).toBe(0x9000);
    expect(rounds.flat().filter((call) => call.startsWith('pinKey.'))).toEqual(['pinKey.verifyMac']);
  });

  it('refuses a token whose hint names another card or user, and a bare secret, as an unknown session', async () => {
    const aliceCard = await enrol();
    const bobCard = await enrol('bob');
    const token = await open(aliceCard);
    const { secret } = parseSessionToken(token)!;
    for (const forged of [sessionToken(secret, bobCard, 'alice'), sessionToken(secret, aliceCard, 'bob'), sessionToken(secret, bobCard, 'bob'), secret]) {
      const error = await refusal(forged, getData(0x5fc102));
      expect(error).toBeInstanceOf(CardSessionError);
      expect((error as CardSessionError).reason).toBe('expired');
    }
    expect((await apdu(token, getData(0x5fc102))).sw).toBe(0x9000);
  });

  it('still tells a superseded session and a deleted card apart (both read in that one round trip)', async () => {
    const cardId = await enrol();
    const first = await open(cardId);
    await open(cardId);
    expect(((await refusal(first, getData(0x5fc102))) as CardSessionError).reason).toBe('superseded');
    const gone = await enrol();
    const token = await open(gone);
    await backend.directory.delete(cardKeys.card('acme', gone));
    expect(((await refusal(token, getData(0x5fc102))) as CardSessionError).reason).toBe('card-deleted');
  });
});
