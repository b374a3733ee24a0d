import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createPublicKey, generateKeyPairSync, diffieHellman, verify, type KeyObject } from 'node:crypto';
import { ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { systemRandom } from '../../lambdas/adapters/system.ts';
import { verifySecret } from '../../lambdas/core/crypto/password.ts';
import type { Item } from '../../lambdas/ports.ts';
import { CardAuthority } from '../../lambdas/core/cards/authority.ts';
import { cardPartition } from '../../lambdas/core/cards/card-item.ts';
import { Cards } from '../../lambdas/core/cards/cards.ts';
import { PinHasher } from '../../lambdas/core/cards/pin-hash.ts';
import { ResidentSlotKeys, WrappedSlotKeys } from '../../lambdas/core/cards/slot-keys.ts';
import { Tenants } from '../../lambdas/core/directory/tenant.ts';
import { Users } from '../../lambdas/core/directory/user.ts';
import { handleApdu } from '../../lambdas/core/piv/application.ts';
import { TAG } from '../../lambdas/core/piv/objects.ts';
import { newSessionState, type PivSessionState } from '../../lambdas/core/piv/session.ts';
import { BACKENDS, openBackend, testClock, type Backend } from '../support/backends.ts';
import { dataOf, generalAuthenticate, pkcs1Block, select, signatureOf, sw, verifyPin } from '../support/card-flows.ts';

/**
 * The stored card under the PIV application, on both backends: the PIN counter under a burst of wrong
 * guesses, KMS-resident custody (with moto's exact gaps), and a raw scan proving nothing secret is stored
 * in clear — neither at enrolment nor in the session state a VERIFY leaves behind.
 */
describe.each(BACKENDS)('stored cards on the %s backend', (name) => {
  const clock = testClock();
  let backend: Backend;
  let cards: Cards;
  let tenants: Tenants;

  beforeAll(async () => {
    backend = await openBackend(name, clock);
    tenants = new Tenants(backend.directory, clock);
    const users = new Users(backend.directory, tenants, clock);
    cards = new Cards({
      directory: backend.directory,
      custody: backend.custody,
      slotKeys: { wrapped: new WrappedSlotKeys(backend.custody), 'kms-resident': new ResidentSlotKeys(backend.residentKeys) },
      authority: new CardAuthority(backend.directory, backend.residentKeys, clock),
      pins: new PinHasher(backend.cardPinKey),
      tenants,
      users,
      clock,
      random: systemRandom,
    });
    await tenants.create({ id: 'acme' });
    await tenants.create({ id: 'resident', custody: 'kms-resident' });
    for (const tenant of ['acme', 'resident']) await users.add(tenant, { username: 'alice', email: 'alice@example.com' });
  });
  afterAll(async () => backend?.close());

  /** One APDU on a fresh read of the card, as the card API does it per request. */
  const run = async (tenant: string, id: string, command: Uint8Array, state: PivSessionState) => {
    const tenantItem = await tenants.get(tenant);
    const card = cards.openView(await cards.item(tenant, id), tenantItem.pinPolicy);
    return handleApdu(command, state, { card, random: systemRandom });
  };
  const selected = async (tenant: string, id: string): Promise<PivSessionState> => (await run(tenant, id, select(), newSessionState())).state;

  it('re-signs the Security Object in the same write when an object it hashes changes, and only then', async () => {
    const { card } = await cards.enrol('acme', { username: 'alice', slots: ['9a', '9c'], pin: '13572468', puk: '11223344' });
    const view = async () => cards.openView(await cards.item('acme', card.id), (await tenants.get('acme')).pinPolicy);
    const before = (await (await view()).readObject(TAG.SECURITY_OBJECT))!;
    const newCertificateObject = Buffer.concat([Buffer.from('7003', 'hex'), Buffer.from('010203', 'hex'), Buffer.from('710100fe00', 'hex')]);
    await (await view()).writeObject(TAG.CERT_9C, newCertificateObject);
    const after = (await (await view()).readObject(TAG.SECURITY_OBJECT))!;
    // The LDSSecurityObject is encapsulated in clear: the new object's SHA-256 is in it, the old one's is not.
    const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();
    expect(Buffer.from(after).includes(digest(newCertificateObject))).toBe(true);
    expect(Buffer.from(before).includes(digest(newCertificateObject))).toBe(false);
    // A yubico object is not hashed: the Security Object stays as it was.
    await (await view()).writeObject(TAG.YUBICO_ADMIN, Buffer.from('80038101ff', 'hex'));
    expect(Buffer.from((await (await view()).readObject(TAG.SECURITY_OBJECT))!).equals(Buffer.from(after))).toBe(true);
  });

  it('20 concurrent wrong VERIFYs spend exactly the 3 tries and leave the card blocked', async () => {
    const { card } = await cards.enrol('acme', { username: 'alice', slots: ['9a'], pin: '13572468', puk: '11223344' });
    const state = await selected('acme', card.id);
    const results = await Promise.all(Array.from({ length: 20 }, () => run('acme', card.id, verifyPin('00000000'), state)));
    const words = results.map((r) => sw(r.response).toString(16)).sort();
    expect(words.filter((w) => w.startsWith('63c')).sort()).toEqual(['63c0', '63c1', '63c2']);
    expect(words.filter((w) => w === '6983')).toHaveLength(17);
    const after = await cards.get('acme', card.id);
    expect(after.pin).toMatchObject({ remaining: 0, blocked: true });
    // Blocked means blocked: even the right PIN is refused, until the PUK resets it.
    expect(sw((await run('acme', card.id, verifyPin('13572468'), state)).response)).toBe(0x6983);
    expect((await cards.unblock('acme', card.id, { pin: '24682468' })).card.pin.remaining).toBe(3);
    expect(sw((await run('acme', card.id, verifyPin('24682468'), state)).response)).toBe(0x9000);
  });

  it('KMS-resident custody: ECDSA and PKCS#1 v1.5 run in the custody; raw RSA decryption is refused', async () => {
    const { card } = await cards.enrol('resident', {
      username: 'alice',
      slots: ['9a', '9c', '9d'],
      slotAlgorithms: { '9a': 'p256', '9c': 'rsa2048', '9d': 'p256' },
      pin: '13572468',
      puk: '11223344',
      residentRsa: 'pkcs1-only',
    });
    const item = await cards.item('resident', card.id);
    expect(item.custody).toBe('kms-resident');
    expect(item['slot_9a']!.key.custody).toBe('kms-resident');
    const publicKey = (slot: string): KeyObject =>
      createPublicKey({ key: Buffer.from(item[`slot_${slot}`]!.publicKey, 'base64'), format: 'der', type: 'spki' });

    let state = (await run('resident', card.id, verifyPin('13572468'), await selected('resident', card.id))).state;
    const message = Buffer.from('resident signature');
    const digest = createHash('sha256').update(message).digest();
    const ecdsa = await run('resident', card.id, generalAuthenticate(0x11, 0x9a, digest), state);
    expect(sw(ecdsa.response)).toBe(0x9000);
    if (backend.kmsDigestBroken) {
      // moto ignores MessageType=DIGEST and hashes the digest again: exactly that, and nothing else, differs.
      expect(verify('sha256', digest, publicKey('9a'), signatureOf(ecdsa.response))).toBe(true);
    } else {
      expect(verify('sha256', message, publicKey('9a'), signatureOf(ecdsa.response))).toBe(true);
    }

    state = (await run('resident', card.id, verifyPin('13572468'), ecdsa.state)).state; // 9C: PIN always
    const rsa = await run('resident', card.id, generalAuthenticate(0x07, 0x9c, pkcs1Block(message, 256)), state);
    expect(sw(rsa.response)).toBe(0x9000);
    const signedOver = backend.kmsDigestBroken ? digest : message;
    expect(verify('sha256', signedOver, publicKey('9c'), signatureOf(rsa.response))).toBe(true);

    // A raw block that is not a PKCS#1 v1.5 signature (RSA decryption, PSS) cannot run in KMS.
    state = (await run('resident', card.id, verifyPin('13572468'), rsa.state)).state;
    const raw = Buffer.alloc(256, 0x5a);
    raw[0] = 0x00;
    expect(sw((await run('resident', card.id, generalAuthenticate(0x07, 0x9c, raw), state)).response)).toBe(0x6a80);

    // KMS fixed 9D's EC key as a key-agreement key: signing with it is refused with a status word.
    expect(sw((await run('resident', card.id, generalAuthenticate(0x11, 0x9d, digest), state)).response)).toBe(0x6a80);

    // ECDH on 9D runs as KMS DeriveSharedSecret, which moto does not implement.
    const peer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = peer.publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    // 7C { 82 00 (response wanted), 85 peer point }
    const body = Buffer.concat([Buffer.from([0x7c, point.length + 4, 0x82, 0x00, 0x85, point.length]), point]);
    const command = Buffer.concat([Buffer.from([0x00, 0x87, 0x11, 0x9d, body.length]), body, Buffer.from([0x00])]);
    if (backend.kmsDigestBroken) {
      await expect(run('resident', card.id, command, state)).rejects.toThrow(/KMS/);
    } else {
      const ecdh = await run('resident', card.id, command, state);
      expect(sw(ecdh.response)).toBe(0x9000);
      const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: publicKey('9d') });
      expect(Buffer.from(dataOf(ecdh.response)).toString('hex')).toContain(expected.toString('hex'));
    }
  });

  it('keeps no PIN, PUK, management key or private key in clear in either table, after enrolment and a session', async () => {
    const pin = '97531864';
    const puk = '86429753';
    const enrolled = await cards.enrol('acme', { username: 'alice', slots: ['9a', '9d'], slotAlgorithms: { '9d': 'p256' }, pin, puk });
    const state = (await run('acme', enrolled.card.id, verifyPin(pin), await selected('acme', enrolled.card.id))).state;
    await backend.state.put({ PK: 'CARDSESS#scan', SK: 'CARDSESS', piv: state, expiresAt: Math.floor(clock.now() / 1000) + 60 });
    const text = [...(await scan(backend, 'directory')), ...(await scan(backend, 'state'))].join('\n');
    expect(text).toContain('slot_9a'); // positive control: the card is in the scan
    for (const secret of [pin, puk, enrolled.managementKey.hex, Buffer.from(enrolled.managementKey.hex, 'hex').toString('base64')])
      expect(text).not.toContain(secret);
    expect(text).not.toMatch(/PRIVATE KEY/);
    // PKCS#8 DER in base64: RSA-2048 keys open with MIIEv…, EC P-256 with MIGHAgEA / MIG2AgEA.
    expect(text).not.toMatch(/MIIE[uv]|MIGHAgEA|MIG2AgEA/);
  });

  it('stores PIN and PUK hashes that an offline guess cannot test: the raw scan holds nothing the PIN alone reproduces', async () => {
    const pin = '246810';
    const puk = '13579135';
    const enrolled = await cards.enrol('acme', { username: 'alice', slots: ['9a'], pin, puk });
    const raw = (await scan(backend, 'directory'))
      .map((line) => JSON.parse(line) as Record<string, { S?: string }>)
      .find((item) => item['id']?.S === enrolled.card.id)!;
    const stored = { pin: raw['pinHash']!.S!, puk: raw['pukHash']!.S! };
    // The stored value is the KMS key's own HMAC: no unkeyed digest of the right guess is it or in it.
    for (const [reference, value] of [
      ['pin', pin],
      ['puk', puk],
    ] as const) {
      const hash = stored[reference];
      expect(hash).toMatch(/^mac-v2\$[A-Za-z0-9_-]{43}$/);
      const message = JSON.stringify(['card-pin', 'acme', enrolled.card.id, reference, value]);
      for (const unkeyed of [createHash('sha256').update(message).digest('base64url'), createHash('sha256').update(value).digest('base64url')])
        expect(hash).not.toContain(unkeyed);
      expect(await verifySecret(value, hash)).toBe(false);
    }
    // The right PIN still verifies through the card (the function holding the key).
    const state = await selected('acme', enrolled.card.id);
    expect(sw((await run('acme', enrolled.card.id, verifyPin(pin), state)).response)).toBe(0x9000);
  });

  it('refuses to sign through a slot pointed at a key of another purpose (the tenant CA key)', async () => {
    if (name !== 'embedded') return; // on KMS the function's IAM purpose condition refuses it; the emulator has no IAM
    const enrolled = await cards.enrol('resident', { username: 'alice', slots: ['9a'], algorithm: 'p256', pin: '11223344', puk: '55667788' });
    const ca = (await backend.directory.get<{ keyId: string } & Item>({ PK: cardPartition('resident'), SK: 'CARDCA' }))!;
    const item = await cards.item('resident', enrolled.card.id);
    await backend.directory.update({ PK: item.PK, SK: item.SK }, { slot_9a: { ...item.slot_9a!, key: { custody: 'kms-resident', keyId: ca.keyId } } });
    const state = (await run('resident', enrolled.card.id, verifyPin('11223344'), await selected('resident', enrolled.card.id))).state;
    await expect(run('resident', enrolled.card.id, generalAuthenticate(0x11, 0x9a, Buffer.alloc(32, 1)), state)).rejects.toThrow(
      /card-ca key, not a card-key key/,
    );
  });
});

async function scan(backend: Backend, table: 'directory' | 'state'): Promise<string[]> {
  const store = backend[table] as unknown as { tableName: string };
  const out: string[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await backend.dynamo.send(new ScanCommand({ TableName: store.tableName, ...(start ? { ExclusiveStartKey: start } : {}) }));
    for (const item of page.Items ?? []) out.push(JSON.stringify(item));
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}
