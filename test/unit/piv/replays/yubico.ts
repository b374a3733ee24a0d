/**
 * Replays of what yubico-piv-tool (lib/ykpiv.c, lib/util.c) sends: connection (SELECT of the 5-byte RID,
 * PIN-tries probe, GET VERSION, GET SERIAL), GET METADATA, 9B mutual authentication with 3DES and AES,
 * GENERATE and signing with the new key, PUT DATA of a certificate, SET MANAGEMENT KEY, PIN/PUK changes,
 * unblock, the PIN-protected management key, and RESET.
 */
import { describe, expect, it } from '@jest/globals';
import type { PivCard } from '../../../../lambdas/core/piv/index.ts';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { buildCertificateObject, parseCertificateObject } from '../../../../lambdas/core/piv/index.ts';
import { decodeAll, decodeOne, tlv, concat } from '../../../../lambdas/core/piv/tlv.ts';
import { ecb, Host, hex, pinBlock, toHex } from '../harness.ts';
import { provision } from '../fixtures.ts';

type MgmtAlgorithm = '3des' | 'aes128' | 'aes192' | 'aes256';
const ALGORITHM_ID: Record<MgmtAlgorithm, number> = { '3des': 0x03, aes128: 0x08, aes192: 0x0a, aes256: 0x0c };

/** ykpiv_connect: SELECT the RID (Le 00 on T=1), probe PIN tries, GET VERSION, GET SERIAL. */
async function connect(host: Host): Promise<{ tries: number; version: string; serial: number }> {
  expect((await host.send('00A4040005A00000030800')).sw).toBe(0x9000);
  const probe = await host.send('0020008000');
  const version = await host.send('00FD000000');
  expect(version.sw).toBe(0x9000);
  const serial = await host.send('00F8000000');
  expect(serial.sw).toBe(0x9000);
  return { tries: probe.sw & 0x0f, version: [...version.data].join('.'), serial: Buffer.from(serial.data).readUInt32BE(0) };
}

/** ykpiv_authenticate2: metadata of 9B for the algorithm, witness, then decrypted witness + own challenge. */
async function authenticate(host: Host, key: Uint8Array): Promise<number> {
  const metadata = await host.send('00F7009B00');
  expect(metadata.sw).toBe(0x9000);
  const algorithmId = decodeAll(metadata.data)!.find((m) => m.tag === 0x01)!.value[0]!;
  const algorithm = (Object.keys(ALGORITHM_ID) as MgmtAlgorithm[]).find((name) => ALGORITHM_ID[name] === algorithmId)!;
  const block = algorithm === '3des' ? 8 : 16;
  const witnessReply = await host.send(Uint8Array.of(0x00, 0x87, algorithmId, 0x9b, 0x04, 0x7c, 0x02, 0x80, 0x00, 0x00));
  expect(witnessReply.sw).toBe(0x9000);
  expect(witnessReply.data.subarray(0, 4)).toEqual(Uint8Array.of(0x7c, block + 2, 0x80, block));
  const witness = ecb(algorithm, key, witnessReply.data.subarray(4), true);
  const challenge = new Uint8Array(block).map((_, i) => i * 7 + 1);
  const body = [0x7c, 2 * block + 4, 0x80, block, ...witness, 0x81, block, ...challenge];
  const answer = await host.send(Uint8Array.from([0x00, 0x87, algorithmId, 0x9b, body.length, ...body, 0x00]));
  if (answer.sw !== 0x9000) return answer.sw;
  expect(toHex(answer.data.subarray(4))).toBe(toHex(ecb(algorithm, key, challenge)));
  return answer.sw;
}

/** The card's current management key, asked through the port (an enrolled card has a random one). */
async function currentKey(host: Host): Promise<Uint8Array> {
  return (await host.card.managementKey()).key;
}

function verifyApdu(pin: string): Uint8Array {
  return Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock(pin), 0x00]);
}

/**
 * Defines the yubico-piv-tool replays on cards made by `freshCard`: PIN 123456 and PUK 12345678 with 3
 * tries each, a digits-only PIN policy, default slot PIN policies; the management key (any algorithm) is
 * asked through the port, as the operator would know it. `wipeable`: the card offers yubico RESET (the
 * in-memory reference card, like a YubiKey) or refuses it (an issued cloud card).
 */
export function yubicoReplays(label: string, freshCard: () => Promise<PivCard>, options: { readonly wipeable: boolean }): void {
  const provisionedCard = async () => {
    const card = await freshCard();
    return { card, ...(await provision(card)) };
  };
  describe(`yubico-piv-tool sequences (${label})`, () => {
    it('connects: SELECT of the RID, tries probe 63C3, version 5.7.1 and the serial from the port', async () => {
      const card = await freshCard();
      const host = new Host(card);
      expect(await connect(host)).toEqual({ tries: 3, version: card.version.join('.'), serial: card.serial });
      expect(card.version.join('.')).toMatch(/^5\.7\./);
    });

    it('authenticates with the management key (witness + challenge, algorithm from GET METADATA), and refuses a wrong key', async () => {
      const host = new Host(await freshCard());
      await connect(host);
      expect((await host.command(0x00, 0x47, 0x00, 0x9a, hex('AC03800111'))).sw).toBe(0x6982);
      expect(await authenticate(host, await currentKey(host))).toBe(0x9000);
      expect(host.state.adminAuthenticated).toBe(true);

      const other = new Host(await freshCard());
      await connect(other);
      expect(await authenticate(other, new Uint8Array((await currentKey(other)).length).fill(0x11))).toBe(0x6982);
      expect(other.state.adminAuthenticated).toBe(false);
    });

    it.each(['aes128', 'aes192', 'aes256'] as const)('sets an %s management key (00 FF FF FF) and authenticates with it', async (algorithm) => {
      const host = new Host(await freshCard());
      await connect(host);
      await authenticate(host, await currentKey(host));
      const size = { aes128: 16, aes192: 24, aes256: 32 }[algorithm];
      const key = new Uint8Array(size).map((_, i) => (i * 13 + 5) & 0xff);
      const set = await host.send(Uint8Array.from([0x00, 0xff, 0xff, 0xff, size + 3, ALGORITHM_ID[algorithm], 0x9b, size, ...key, 0x00]));
      expect(set.sw).toBe(0x9000);
      const fresh = new Host(host.card);
      await connect(fresh);
      expect(await authenticate(fresh, new Uint8Array(size).fill(0x42))).toBe(0x6982);
      expect(await authenticate(fresh, key)).toBe(0x9000);
    });

    it('also accepts the single challenge-response of SP 800-73-4 (81 request, 82 answer)', async () => {
      const host = new Host(await freshCard());
      const { algorithm, key } = await host.card.managementKey();
      const id = ALGORITHM_ID[algorithm];
      const request = await host.send(Uint8Array.of(0x00, 0x87, id, 0x9b, 0x04, 0x7c, 0x02, 0x81, 0x00, 0x00));
      expect(request.sw).toBe(0x9000);
      const challenge = request.data.subarray(4);
      expect(challenge).toHaveLength(algorithm === '3des' ? 8 : 16);
      const response = ecb(algorithm, key, challenge);
      const answer = await host.send(
        Uint8Array.from([0x00, 0x87, id, 0x9b, response.length + 4, 0x7c, response.length + 2, 0x82, response.length, ...response]),
      );
      expect(answer.sw).toBe(0x9000);
      expect(host.state.adminAuthenticated).toBe(true);
    });

    it.each([
      ['ECC P-256', 0x11, 'sha256', 32],
      ['ECC P-384', 0x14, 'sha384', 48],
    ] as const)('generates %s in 9A (7F49 86 point), then signs with it after VERIFY', async (_label, algorithmId, hash, size) => {
      const host = new Host(await freshCard());
      await connect(host);
      await authenticate(host, await currentKey(host));
      // ykpiv_util_generate_key with a PIN policy (AA) and touch policy (AB) of "never" for touch.
      const generated = await host.command(0x00, 0x47, 0x00, 0x9a, Uint8Array.from([0xac, 0x09, 0x80, 0x01, algorithmId, 0xaa, 0x01, 0x02, 0xab, 0x01, 0x01]));
      expect(generated.sw).toBe(0x9000);
      const template = decodeOne(generated.data)!;
      expect(template.tag).toBe(0x7f49);
      const point = decodeOne(template.value)!;
      expect(point.tag).toBe(0x86);
      expect(point.value).toHaveLength(1 + 2 * size);
      const publicKey = createPublicKey({
        key: {
          kty: 'EC',
          crv: size === 32 ? 'P-256' : 'P-384',
          x: Buffer.from(point.value.subarray(1, 1 + size)).toString('base64url'),
          y: Buffer.from(point.value.subarray(1 + size)).toString('base64url'),
        },
        format: 'jwk',
      });
      // The metadata reports the policy and the same public key.
      const metadata = await host.send('00F7009A00');
      const items = decodeAll(metadata.data)!;
      expect(toHex(items.find((m) => m.tag === 0x02)!.value)).toBe('0201');
      expect(toHex(items.find((m) => m.tag === 0x03)!.value)).toBe('01');
      expect(toHex(items.find((m) => m.tag === 0x04)!.value)).toBe(toHex(template.value));

      expect((await host.send(verifyApdu('123456'))).sw).toBe(0x9000);
      const message = Buffer.from('yubico sign');
      const digest = createHash(hash).update(message).digest();
      const body = concat(Uint8Array.of(0x7c, digest.length + 4, 0x82, 0x00, 0x81, digest.length), digest);
      const signed = await host.command(0x00, 0x87, algorithmId, 0x9a, body);
      expect(signed.sw).toBe(0x9000);
      const signature = decodeOne(decodeOne(signed.data)!.value)!.value;
      expect(verify(hash, message, publicKey, signature)).toBe(true);
    });

    it.each([
      ['RSA 2048', 'rsa2048', 0x07, 256],
      ['RSA 3072', 'rsa3072', 0x05, 384],
      ['RSA 4096', 'rsa4096', 0x16, 512],
    ] as const)(
      'generates %s (7F49 81 modulus, 82 exponent) and signs over chained APDUs',
      async (_label, _name, algorithmId, size) => {
        const host = new Host(await freshCard());
        await connect(host);
        await authenticate(host, await currentKey(host));
        const generated = await host.command(0x00, 0x47, 0x00, 0x9d, Uint8Array.of(0xac, 0x03, 0x80, 0x01, algorithmId));
        expect(generated.sw).toBe(0x9000);
        const members = decodeAll(decodeOne(generated.data)!.value)!;
        const modulus = members.find((m) => m.tag === 0x81)!.value;
        const exponent = members.find((m) => m.tag === 0x82)!.value;
        expect(modulus).toHaveLength(size);
        expect(toHex(exponent)).toBe('010001');
        const publicKey = createPublicKey({
          key: { kty: 'RSA', n: Buffer.from(modulus).toString('base64url'), e: Buffer.from(exponent).toString('base64url') },
          format: 'jwk',
        });

        expect((await host.send(verifyApdu('123456'))).sw).toBe(0x9000);
        const message = Buffer.from(`rsa ${size}`);
        const digestInfo = Buffer.concat([hex('3031300d060960864801650304020105000420'), createHash('sha256').update(message).digest()]);
        const block = Buffer.concat([Buffer.of(0, 1), Buffer.alloc(size - digestInfo.length - 3, 0xff), Buffer.of(0), digestInfo]);
        const body = concat(tlv(0x7c, Uint8Array.of(0x82, 0x00), tlv(0x81, block)));
        const signed = await host.command(0x00, 0x87, algorithmId, 0x9d, body);
        expect(signed.sw).toBe(0x9000);
        const signature = decodeOne(decodeOne(signed.data)!.value)!.value;
        expect(verify('sha256', message, publicKey, signature)).toBe(true);
      },
      60_000,
    );

    it('writes a certificate with chained PUT DATA and reads it back', async () => {
      const { card, certificates } = await provisionedCard();
      const host = new Host(card);
      await connect(host);
      const object = buildCertificateObject(new Uint8Array(certificates['9c'].raw));
      const put = concat(hex('5C035FC10A'), tlv(0x53, object));
      expect((await host.command(0x00, 0xdb, 0x3f, 0xff, put)).sw).toBe(0x6982);
      await authenticate(host, await currentKey(host));
      expect((await host.command(0x00, 0xdb, 0x3f, 0xff, put)).sw).toBe(0x9000);
      const read = await host.command(0x00, 0xcb, 0x3f, 0xff, hex('5C035FC10A'));
      expect(read.sw).toBe(0x9000);
      expect(toHex(parseCertificateObject(decodeOne(read.data)!.value)!)).toBe(toHex(new Uint8Array(certificates['9c'].raw)));
      // An empty 53 deletes the object.
      expect((await host.command(0x00, 0xdb, 0x3f, 0xff, hex('5C035FC10A5300'))).sw).toBe(0x9000);
      expect((await host.command(0x00, 0xcb, 0x3f, 0xff, hex('5C035FC10A'))).sw).toBe(0x6a82);
    });

    it('reads what `-a status` shows: metadata of PIN, PUK, 9B and the slots', async () => {
      const { card } = await provisionedCard();
      const host = new Host(card);
      await connect(host);
      const mustChange = (await card.pinStatus('pin')).mustChange ? '01' : '00';
      expect(toHex((await host.send('00F7008000')).data)).toBe(`0101FF0501${mustChange}06020303`);
      expect(toHex((await host.send('00F7008100')).data)).toBe('0101FF050100060203 03'.replace(/ /g, ''));
      // The factory 3DES key is flagged default (05 01 01) so the tool can warn about it.
      const { algorithm, key } = await card.managementKey();
      const isFactory = algorithm === '3des' && toHex(key) === '010203040506070801020304050607080102030405060708';
      const id = ALGORITHM_ID[algorithm].toString(16).padStart(2, '0').toUpperCase();
      expect(toHex((await host.send('00F7009B00')).data)).toBe(`0101${id}0202000105010${isFactory ? 1 : 0}`);
      const slot = await host.send('00F7009C00');
      const items = decodeAll(slot.data)!;
      expect(items.map((m) => m.tag)).toEqual([0x01, 0x02, 0x03, 0x04]);
      expect(toHex(items[0]!.value)).toBe('11');
      expect(toHex(items[1]!.value)).toBe('0301'); // PIN always, touch never
      expect(toHex(items[2]!.value)).toBe('01'); // generated on the card
      expect(await host.send('00F7008200')).toEqual({ data: new Uint8Array(0), sw: 0x6a88 });
    });

    it('changes the PIN and the PUK (00 24), unblocks the PIN with the PUK (00 2C)', async () => {
      const host = new Host(await freshCard());
      await connect(host);
      const change = (reference: number, current: string, next: string): Uint8Array =>
        Uint8Array.from([0x00, 0x24, 0x00, reference, 0x10, ...pinBlock(current), ...pinBlock(next), 0x00]);
      expect((await host.send(change(0x80, '123456', '24681357'))).sw).toBe(0x9000);
      expect((await host.send(verifyApdu('123456'))).sw).toBe(0x63c2);
      expect((await host.send(verifyApdu('24681357'))).sw).toBe(0x9000);
      // The tenant policy (digits only here) refuses a new value: 6A80, nothing changed, no try spent.
      expect((await host.send(change(0x80, '24681357', 'abcdefgh'))).sw).toBe(0x6a80);
      expect((await host.send(change(0x81, '12345678', '87654321'))).sw).toBe(0x9000);
      for (const expected of [0x63c2, 0x63c1, 0x63c0]) expect((await host.send(verifyApdu('000000'))).sw).toBe(expected);
      expect((await host.send(verifyApdu('24681357'))).sw).toBe(0x6983);
      expect((await host.send('0020008000')).sw).toBe(0x6983);
      const unblock = (puk: string, pin: string): Uint8Array => Uint8Array.from([0x00, 0x2c, 0x00, 0x80, 0x10, ...pinBlock(puk), ...pinBlock(pin), 0x00]);
      expect((await host.send(unblock('12345678', '11223344'))).sw).toBe(0x63c2);
      expect((await host.send(unblock('87654321', '11223344'))).sw).toBe(0x9000);
      expect((await host.send('0020008000')).sw).toBe(0x63c3);
      expect((await host.send(verifyApdu('11223344'))).sw).toBe(0x9000);
    });

    it('uses a PIN-protected management key: admin data readable, printed information only after VERIFY', async () => {
      const host = new Host(await freshCard());
      await connect(host);
      await authenticate(host, await currentKey(host));
      const key = new Uint8Array(24).map((_, i) => (i * 29 + 3) & 0xff);
      expect((await host.send(Uint8Array.from([0x00, 0xff, 0xff, 0xff, 27, 0x03, 0x9b, 24, ...key]))).sw).toBe(0x9000);
      // yubico: admin data 80{81 01 02} (mgmt key PIN-protected), printed information 88{89 key}.
      expect((await host.command(0x00, 0xdb, 0x3f, 0xff, hex('5C035FFF00530580038101 02'))).sw).toBe(0x9000);
      expect((await host.command(0x00, 0xdb, 0x3f, 0xff, concat(hex('5C035FC109'), tlv(0x53, tlv(0x88, tlv(0x89, key)))))).sw).toBe(0x9000);

      const next = new Host(host.card);
      await connect(next);
      expect((await next.send('00CB3FFF055C035FFF0000')).sw).toBe(0x9000);
      expect((await next.send('00CB3FFF055C035FC10900')).sw).toBe(0x6982);
      expect((await next.send(verifyApdu('123456'))).sw).toBe(0x9000);
      const printed = await next.send('00CB3FFF055C035FC10900');
      expect(printed.sw).toBe(0x9000);
      const stored = decodeOne(decodeOne(decodeOne(printed.data)!.value)!.value)!.value;
      expect(await authenticate(next, stored)).toBe(0x9000);
    });

    /** Blocks the PIN (three wrong VERIFY) and the PUK (three wrong RESET RETRY COUNTER), as `-a reset` requires. */
    const blockPinAndPuk = async (host: Host): Promise<void> => {
      expect((await host.send('00FB000000')).sw).toBe(0x6985);
      for (let i = 0; i < 3; i++) await host.send(verifyApdu('000000'));
      expect((await host.send('00FB000000')).sw).toBe(0x6985); // PUK still usable
      for (let i = 0; i < 3; i++) await host.send(Uint8Array.from([0x00, 0x2c, 0x00, 0x80, 0x10, ...pinBlock('00000000'), ...pinBlock('123456')]));
      expect((await host.send(Uint8Array.from([0x00, 0x2c, 0x00, 0x80, 0x10, ...pinBlock('12345678'), ...pinBlock('123456')]))).sw).toBe(0x6983);
    };

    if (options.wipeable) {
      it('resets (00 FB) only when PIN and PUK are both blocked, back to factory PIN, PUK and key', async () => {
        const { card } = await provisionedCard();
        expect(card.reset).toBeDefined();
        const host = new Host(card);
        await connect(host);
        await blockPinAndPuk(host);
        expect((await host.send('00FB000000')).sw).toBe(0x9000);
        expect((await host.send('0020008000')).sw).toBe(0x63c3);
        expect((await host.send(verifyApdu('123456'))).sw).toBe(0x9000);
        expect((await host.send('00CB3FFF055C035FC10500')).sw).toBe(0x6a82);
        expect((await host.send('00F7009A00')).sw).toBe(0x6a88);
        expect(await authenticate(host, await currentKey(host))).toBe(0x9000);
      });
    } else {
      it('refuses RESET (00 FB) with 6985 even when PIN and PUK are both blocked: keys, objects and the 9B key stay', async () => {
        const { card } = await provisionedCard();
        expect(card.reset).toBeUndefined();
        const host = new Host(card);
        await connect(host);
        const slotBefore = toHex((await host.send('00F7009D00')).data);
        const keyBefore = toHex(await currentKey(host));
        await blockPinAndPuk(host);
        expect((await host.send('00FB000000')).sw).toBe(0x6985);
        expect(toHex((await host.send('00F7009D00')).data)).toBe(slotBefore);
        expect((await host.command(0x00, 0xcb, 0x3f, 0xff, hex('5C035FC105'))).sw).toBe(0x9000);
        expect(toHex(await currentKey(host))).toBe(keyBefore);
        expect((await host.send('0020008000')).sw).toBe(0x6983); // still blocked: no factory PIN came back
        expect((await host.send(verifyApdu('123456'))).sw).toBe(0x6983);
      });
    }

    it('reads the PIN tries as ykpiv_get_pin_retries does on 5.4.3+: VERIFY FF, re-SELECT, status query', async () => {
      const host = new Host(await freshCard());
      await connect(host);
      expect((await host.send(verifyApdu('123456'))).sw).toBe(0x9000);
      expect((await host.send('0020008000')).sw).toBe(0x9000); // verified: no count is given
      expect((await host.send('0020FF8000')).sw).toBe(0x9000);
      const { tries } = await connect(host);
      expect(tries).toBe(3);
      expect((await host.send(verifyApdu('000000'))).sw).toBe(0x63c2);
      expect((await connect(host)).tries).toBe(2);
    });
  });
}
