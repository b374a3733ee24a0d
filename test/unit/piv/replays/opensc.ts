/**
 * Replays of the APDU sequences OpenSC's PIV driver (card-piv.c) sends: card detection with an unknown
 * ATR, object reads, PIN status and VERIFY, and private-key operations with chaining and GET RESPONSE.
 * Every signature is verified by node:crypto against the slot's certificate read back from the card.
 */
import { describe, expect, it } from '@jest/globals';
import type { PivCard } from '../../../../lambdas/core/piv/index.ts';
import { createHash, createPublicKey, diffieHellman, generateKeyPairSync, verify, X509Certificate } from 'node:crypto';
import { decodeAll, decodeOne } from '../../../../lambdas/core/piv/tlv.ts';
import { parseCertificateObject, parseChuid, PIV_ATR } from '../../../../lambdas/core/piv/index.ts';
import { Host, hex, pinBlock, toHex } from '../harness.ts';
import { provision } from '../fixtures.ts';

/** EMSA-PKCS1-v1_5 block for SHA-256, as OpenSC pads it on the host before a raw RSA operation. */
function pkcs1Block(message: Buffer, modulusBytes: number): Uint8Array {
  const digestInfo = Buffer.concat([hex('3031300d060960864801650304020105000420'), createHash('sha256').update(message).digest()]);
  const padding = Buffer.alloc(modulusBytes - digestInfo.length - 3, 0xff);
  return Buffer.concat([Buffer.of(0x00, 0x01), padding, Buffer.of(0x00), digestInfo]);
}

/** 7C { 82 00, 81|85 data } with BER lengths, OpenSC's piv_general_io template. */
function dynamicTemplate(tag: number, data: Uint8Array): Uint8Array {
  const len = (n: number): number[] => (n < 0x80 ? [n] : n <= 0xff ? [0x81, n] : [0x82, n >> 8, n & 0xff]);
  const inner = [0x82, 0x00, tag, ...len(data.length), ...data];
  return Uint8Array.from([0x7c, ...len(inner.length), ...inner]);
}

/** The value of 82 inside a 7C response. */
function responseValue(data: Uint8Array): Uint8Array {
  const outer = decodeOne(data);
  expect(outer?.tag).toBe(0x7c);
  const inner = decodeOne(outer!.value);
  expect(inner?.tag).toBe(0x82);
  return inner!.value;
}

async function readCertificate(host: Host, tag: string): Promise<X509Certificate> {
  const reply = await host.command(0x00, 0xcb, 0x3f, 0xff, hex(`5C03${tag}`));
  expect(reply.sw).toBe(0x9000);
  const object = decodeOne(reply.data);
  expect(object?.tag).toBe(0x53);
  return new X509Certificate(parseCertificateObject(object!.value)!);
}

/**
 * Defines the OpenSC replays on cards made by `freshCard`: a card with PIN 123456 (3 tries) and PUK
 * 12345678, default slot PIN policies (9A/9D once, 9C always, 9E never); its management key is asked
 * through the port to provision it.
 */
export function openscReplays(label: string, freshCard: () => Promise<PivCard>): void {
  const provisionedCard = async () => {
    const card = await freshCard();
    return { card, ...(await provision(card)) };
  };
  describe(`OpenSC card-piv.c sequences (${label})`, () => {
    it('detects the card: ATR historical bytes, Discovery before and after SELECT of the 9-byte AID', async () => {
      // The ATR's compact-TLV F9 carries the PIV AID, which card-piv.c maps to SC_CARD_TYPE_PIV_II_HIST.
      const historical = PIV_ATR.subarray(4, PIV_ATR.length - 1);
      expect(toHex(historical)).toBe('80F9A00000030800001000');
      expect(PIV_ATR.subarray(1).reduce((x, b) => x ^ b, 0)).toBe(0); // TCK makes the XOR of T0..TCK zero

      const { card } = await provisionedCard();
      const host = new Host(card);
      // piv_find_discovery first: PIV is the default application, so it answers before any SELECT.
      const first = await host.send('00CB3FFF035C017E00');
      expect(first.sw).toBe(0x9000);
      // piv_find_aid: SELECT by the 9-byte AID without version.
      const select = await host.send('00A4040009A0000003080000100000');
      expect(select.sw).toBe(0x9000);
      const apt = decodeOne(select.data)!;
      expect(apt.tag).toBe(0x61);
      const members = decodeAll(apt.value)!;
      expect(toHex(members.find((m) => m.tag === 0x4f)!.value)).toBe('000010000100');
      expect(toHex(members.find((m) => m.tag === 0x79)!.value)).toBe('4F05A000000308');
      const algorithms = decodeAll(members.find((m) => m.tag === 0xac)!.value)!;
      expect(algorithms.filter((m) => m.tag === 0x80).map((m) => m.value[0])).toEqual([0x03, 0x08, 0x0a, 0x0c, 0x07, 0x05, 0x16, 0x11, 0x14]);
      expect(toHex(algorithms.at(-1)!.value)).toBe('00');
      // Discovery is byte-identical every time: OpenSC compares it to decide the applet is still active.
      const again = await host.send('00CB3FFF035C017E00');
      expect(toHex(again.data)).toBe(toHex(first.data));
      expect(toHex(first.data)).toBe('7E124F0BA0000003080000100001005F2F024000');
    });

    it('reads CHUID (GUID, FASC-N), CCC, Key History and the four certificates, fetching long objects with GET RESPONSE', async () => {
      const { card, guid, certificates } = await provisionedCard();
      const host = new Host(card);
      await host.send('00A4040009A0000003080000100000');
      const chuid = await host.send('00CB3FFF055C035FC10200');
      expect(chuid.sw).toBe(0x9000);
      const parsed = parseChuid(decodeOne(chuid.data)!.value)!;
      expect(toHex(parsed.guid)).toBe(toHex(guid));
      expect(parsed.fascn?.agencyCode).toBe('9999');
      expect(parsed.expires).toBe('20311231');
      expect((await host.send('00CB3FFF055C035FC10700')).sw).toBe(0x9000);
      expect((await host.send('00CB3FFF055C035FC10C00')).sw).toBe(0x9000);

      // A certificate object is longer than 256 bytes: the first answer is 61xx and GET RESPONSE follows.
      const raw = await host.send('00CB3FFF055C035FC10500');
      expect(raw.data).toHaveLength(256);
      expect(raw.sw & 0xff00).toBe(0x6100);
      for (const [slot, tag] of [
        ['9a', '5FC105'],
        ['9c', '5FC10A'],
        ['9d', '5FC10B'],
        ['9e', '5FC101'],
      ] as const) {
        const certificate = await readCertificate(host, tag);
        expect(certificate.fingerprint256).toBe(certificates[slot].fingerprint256);
      }
      // Absent objects: 6A82 (no retired keys). The Security Object is there on an enrolled card only.
      expect((await host.send('00CB3FFF055C035FC10D00')).sw).toBe(0x6a82);
    });

    it('asks PIN status with a case-1 VERIFY, verifies, then reads the PIN-protected printed information', async () => {
      const { card } = await provisionedCard();
      const host = new Host(card);
      expect((await host.send('00CB3FFF055C035FC10900')).sw).toBe(0x6982);
      expect((await host.send('00200080')).sw).toBe(0x63c3);
      expect((await host.send(Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('123456')]))).sw).toBe(0x9000);
      expect((await host.send('00200080')).sw).toBe(0x9000);
      const printed = await host.send('00CB3FFF055C035FC10900');
      expect(printed.sw).toBe(0x9000);
      expect(decodeOne(printed.data)?.tag).toBe(0x53);
      // Logout (VERIFY P1=FF) drops it again.
      expect((await host.send('0020FF80')).sw).toBe(0x9000);
      expect((await host.send('00CB3FFF055C035FC10900')).sw).toBe(0x6982);
    });

    it('signs with RSA-2048 in 9A over chained short APDUs and GET RESPONSE', async () => {
      const { card } = await provisionedCard();
      const host = new Host(card);
      await host.send('00A4040009A0000003080000100000');
      const certificate = await readCertificate(host, '5FC105');
      await host.send(Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('123456')]));
      const message = Buffer.from('sign me with 9A');
      const data = dynamicTemplate(0x81, pkcs1Block(message, 256));
      expect(data).toHaveLength(266);
      // OpenSC with SC_APDU_FLAGS_CHAINING: 255 bytes with CLA 10, then the remaining 11 with Le 00.
      const first = await host.send(Uint8Array.from([0x10, 0x87, 0x07, 0x9a, 0xff, ...data.subarray(0, 255)]));
      expect(first).toEqual({ data: new Uint8Array(0), sw: 0x9000 });
      const last = await host.send(Uint8Array.from([0x00, 0x87, 0x07, 0x9a, 0x0b, ...data.subarray(255), 0x00]));
      expect(last.data).toHaveLength(256);
      expect(last.sw).toBe(0x6108); // 7C 82 01 04 82 82 01 00 + 256 = 264 bytes: 8 more
      const rest = await host.send('00C0000008');
      expect(rest.sw).toBe(0x9000);
      const signature = responseValue(Buffer.concat([last.data, rest.data]));
      expect(verify('sha256', message, certificate.publicKey, signature)).toBe(true);
      // Nothing is pending any more.
      expect((await host.send('00C0000000')).sw).toBe(0x6985);
    });

    it('signs with RSA-2048 in one extended APDU and gets the whole response at once', async () => {
      const { card, certificates } = await provisionedCard();
      const host = new Host(card);
      await host.send(Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('123456')]));
      const message = Buffer.from('extended');
      const reply = await host.extended(0x87, 0x07, 0x9a, dynamicTemplate(0x81, pkcs1Block(message, 256)));
      expect(reply.sw).toBe(0x9000);
      expect(reply.data).toHaveLength(264);
      expect(verify('sha256', message, certificates['9a'].publicKey, responseValue(reply.data))).toBe(true);
    });

    it.each([
      ['9C', 0x9c, 0x11, 'sha256', '9c'],
      ['9E', 0x9e, 0x11, 'sha256', '9e'],
    ] as const)('signs a host-computed digest with ECDSA P-256 in %s', async (_label, reference, algorithm, hash, slot) => {
      const { card, certificates } = await provisionedCard();
      const host = new Host(card);
      const message = Buffer.from(`ecdsa ${slot}`);
      const digest = createHash(hash).update(message).digest();
      // 9C has PIN policy "always": VERIFY right before. 9E (card authentication) needs no PIN.
      if (slot === '9c') await host.send(Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('123456')]));
      const data = dynamicTemplate(0x81, digest);
      const reply = await host.send(Uint8Array.from([0x00, 0x87, algorithm, reference, data.length, ...data, 0x00]));
      expect(reply.sw).toBe(0x9000);
      expect(verify(hash, message, certificates[slot].publicKey, responseValue(reply.data))).toBe(true);
    });

    it('signs with ECDSA P-384 in 9D (a 48-byte SHA-384 digest)', async () => {
      const { card, certificates } = await provisionedCard();
      const host = new Host(card);
      await host.send(Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('123456')]));
      const message = Buffer.from('p384');
      const data = dynamicTemplate(0x81, createHash('sha384').update(message).digest());
      const reply = await host.send(Uint8Array.from([0x00, 0x87, 0x14, 0x9d, data.length, ...data, 0x00]));
      expect(reply.sw).toBe(0x9000);
      expect(verify('sha384', message, certificates['9d'].publicKey, responseValue(reply.data))).toBe(true);
    });

    it('derives an ECDH shared secret on 9D (P1 14, tag 85) equal to the host-side computation', async () => {
      const { card, certificates } = await provisionedCard();
      const host = new Host(card);
      await host.send(Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('123456')]));
      const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      const jwk = ephemeral.publicKey.export({ format: 'jwk' });
      const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
      const data = dynamicTemplate(0x85, point);
      const reply = await host.send(Uint8Array.from([0x00, 0x87, 0x14, 0x9d, data.length, ...data, 0x00]));
      expect(reply.sw).toBe(0x9000);
      const expected = diffieHellman({
        privateKey: ephemeral.privateKey,
        publicKey: createPublicKey(certificates['9d'].publicKey.export({ format: 'pem', type: 'spki' })),
      });
      expect(toHex(responseValue(reply.data))).toBe(toHex(expected));
    });

    it('enforces 9C PIN-always: a signature needs the VERIFY right before it, even after logging in once', async () => {
      const { card, certificates } = await provisionedCard();
      const host = new Host(card);
      const digest = createHash('sha256').update('x').digest();
      const data = dynamicTemplate(0x81, digest);
      const sign = Uint8Array.from([0x00, 0x87, 0x11, 0x9c, data.length, ...data, 0x00]);
      const verifyPin = Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('123456')]);
      expect((await host.send(sign)).sw).toBe(0x6982);
      expect((await host.send(verifyPin)).sw).toBe(0x9000);
      expect((await host.send(sign)).sw).toBe(0x9000);
      // Used once: the next signature needs a new VERIFY, although the PIN stays verified for 9A/9D.
      expect((await host.send(sign)).sw).toBe(0x6982);
      expect((await host.send(verifyPin)).sw).toBe(0x9000);
      expect((await host.send('00CB3FFF035C017E00')).sw).toBe(0x9000); // any command in between
      expect((await host.send(sign)).sw).toBe(0x6982);
      expect((await host.send(verifyPin)).sw).toBe(0x9000);
      const signed = await host.send(sign);
      expect(signed.sw).toBe(0x9000);
      expect(verify('sha256', Buffer.from('x'), certificates['9c'].publicKey, responseValue(signed.data))).toBe(true);
    });

    it('gets random bytes the way piv_get_challenge does (9B, P1 00 whatever the key, 7C{81 00}), fresh each time', async () => {
      const host = new Host(await freshCard());
      const block = (await host.card.managementKey()).algorithm === '3des' ? 8 : 16;
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const reply = await host.send('0087009B047C02810000');
        expect(reply.sw).toBe(0x9000);
        expect([...reply.data.subarray(0, 4)]).toEqual([0x7c, block + 2, 0x81, block]);
        seen.add(toHex(reply.data.subarray(4)));
      }
      expect(seen.size).toBe(4);
    });
  });
}
