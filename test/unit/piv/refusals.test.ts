/**
 * Every refusal path of the PIV application with its exact status word, malformed and oversized APDUs,
 * chaining and GET RESPONSE misuse, and the PIN/PUK counters.
 */
import { describe, expect, it } from '@jest/globals';
import { UnavailableError } from '../../../lambdas/core/errors.ts';
import { handleApdu, newSessionState, type OperationResult, type PivSlot, type PrivateKeyOperation, type SlotInfo } from '../../../lambdas/core/piv/index.ts';
import { concat, tlv } from '../../../lambdas/core/piv/tlv.ts';
import { FACTORY_MANAGEMENT_KEY, MemoryPivCard } from '../../support/piv-memory-card.ts';
import { provisionedCard } from './fixtures.ts';
import { ecb, Host, hex, pinBlock, realRandom } from './harness.ts';

const VERIFY_OK = Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('123456')]);

async function authenticated(card = new MemoryPivCard()): Promise<Host> {
  const host = new Host(card);
  const request = await host.send('0087039B047C028100');
  const response = ecb('3des', FACTORY_MANAGEMENT_KEY, request.data.subarray(4));
  expect((await host.send(Uint8Array.from([0x00, 0x87, 0x03, 0x9b, 0x0c, 0x7c, 0x0a, 0x82, 0x08, ...response]))).sw).toBe(0x9000);
  return host;
}

/** Header (4 bytes, hex) and data: the short or extended Lc is computed. */
function cmd(header: string, data: Uint8Array | string): Uint8Array {
  const body = typeof data === 'string' ? hex(data) : data;
  const lc = body.length > 255 ? [0x00, body.length >> 8, body.length & 0xff] : [body.length];
  return concat(hex(header), Uint8Array.from(lc), body);
}

async function sw(host: Host, apdu: string | Uint8Array): Promise<string> {
  return (await host.send(apdu)).sw.toString(16).toUpperCase();
}

describe('transport: malformed APDUs, CLA and INS', () => {
  it.each([
    ['empty', ''],
    ['one byte', '00'],
    ['three bytes', '00A404'],
    ['short Lc longer than the data', '00CB3FFF055C035FC1'],
    ['short Lc shorter than the data (two trailing bytes)', '00CB3FFF035C035FC10200'],
    ['extended marker with one byte', '00CB3FFF0000'],
    ['extended Lc of zero followed by data', '00CB3FFF00000001'],
    ['extended Lc longer than the data', '00CB3FFF0000055C035FC1'],
    ['extended Lc with a one-byte Le', '00CB3FFF0000055C035FC10200'],
  ])('%s -> 6700', async (_label, apdu) => {
    expect(await sw(new Host(), apdu)).toBe('6700');
  });

  it('an APDU larger than any extended Lc allows (70000 bytes) -> 6700', async () => {
    const huge = new Uint8Array(70_000);
    huge.set([0x00, 0xdb, 0x3f, 0xff, 0x00, 0xff, 0xff]);
    expect(await sw(new Host(), huge)).toBe('6700');
  });

  it.each(['80', '0C', '01', 'FF', '90'])('CLA %s -> 6E00', async (cla) => {
    expect(await sw(new Host(), `${cla}CB3FFF035C017E00`)).toBe('6E00');
  });

  it.each([
    ['READ BINARY', '00B0000000'],
    ['GET CHALLENGE', '0084000008'],
    ['SET PIN RETRIES (needs a port method)', '00FA0505'],
    ['ATTEST (no attestation key)', '00F99A0000'],
    ['IMPORT ASYMMETRIC KEY', '00FE079A00'],
  ])('%s -> 6D00', async (_label, apdu) => {
    expect(await sw(new Host(), apdu)).toBe('6D00');
  });
});

describe('command chaining', () => {
  it('a different command in the middle of a chain abandons it with 6883; the next command works', async () => {
    const { card } = await provisionedCard();
    const host = new Host(card);
    await host.send(VERIFY_OK);
    expect(await sw(host, Uint8Array.from([0x10, 0x87, 0x07, 0x9a, 0x05, 1, 2, 3, 4, 5]))).toBe('9000');
    expect(await sw(host, '00CB3FFF035C017E00')).toBe('6883');
    expect(host.state.chain).toBeUndefined();
    expect(await sw(host, '00CB3FFF035C017E00')).toBe('9000');
  });

  it('a fragment with other P1/P2, or GET RESPONSE, in a chain -> 6883', async () => {
    const host = new Host();
    await host.send(Uint8Array.from([0x10, 0xdb, 0x3f, 0xff, 0x02, 0x5c, 0x03]));
    expect(await sw(host, Uint8Array.from([0x00, 0xdb, 0x3f, 0xfe, 0x01, 0x00]))).toBe('6883');
    await host.send(Uint8Array.from([0x10, 0xdb, 0x3f, 0xff, 0x02, 0x5c, 0x03]));
    expect(await sw(host, '00C0000000')).toBe('6883');
  });

  it.each([
    ['VERIFY', 0x20],
    ['CHANGE REFERENCE DATA', 0x24],
    ['RESET RETRY COUNTER', 0x2c],
    ['SET MANAGEMENT KEY', 0xff],
    ['GET RESPONSE', 0xc0],
  ])('%s may not be chained (its secret would sit in the stored session) -> 6884', async (_label, ins) => {
    const host = new Host();
    expect(await sw(host, Uint8Array.from([0x10, ins, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34]))).toBe('6884');
    expect(host.state.chain).toBeUndefined();
  });

  it('a chain beyond 8 KiB -> 6A84 and is dropped', async () => {
    const host = new Host();
    const fragment = Uint8Array.from([0x10, 0xdb, 0x3f, 0xff, 0xff, ...new Uint8Array(255)]);
    for (let i = 0; i < 32; i++) expect(await sw(host, fragment)).toBe('9000');
    expect(await sw(host, fragment)).toBe('6A84');
    expect(host.state.chain).toBeUndefined();
    expect(JSON.stringify(host.state).length).toBeLessThan(200);
  });
});

describe('GET RESPONSE', () => {
  it('without pending data -> 6985; with P1/P2 -> 6A86; with data -> 6700', async () => {
    const host = new Host();
    expect(await sw(host, '00C0000000')).toBe('6985');
    expect(await sw(host, '00C0010000')).toBe('6A86');
    expect(await sw(host, '00C00000020102')).toBe('6700');
  });

  it('hands out the rest in Le-sized pieces; another command drops what is pending', async () => {
    const { card } = await provisionedCard();
    const host = new Host(card);
    const first = await host.send('00CB3FFF055C035FC10500');
    expect(first.sw & 0xff00).toBe(0x6100);
    const piece = await host.send('00C0000010');
    expect(piece.data).toHaveLength(16);
    expect(piece.sw & 0xff00).toBe(0x6100);
    await host.send('00CB3FFF035C017E00');
    expect(await sw(host, '00C0000000')).toBe('6985');
  });

  it('an extended command with a small Le gets Le bytes and 61xx', async () => {
    const { card } = await provisionedCard();
    const host = new Host(card);
    const reply = await host.send('00CB3FFF0000055C035FC1050010');
    expect(reply.data).toHaveLength(16);
    expect(reply.sw & 0xff00).toBe(0x6100);
  });
});

describe('SELECT', () => {
  it.each([
    ['another AID (yubico management)', '00A4040008A000000527471117', '6A82'],
    ['4 bytes, shorter than the RID', '00A4040004A0000003', '6A82'],
    ['the full AID with an extra byte', '00A404000CA000000308000010000100FF', '6A82'],
    ['an empty name', '00A4040000', '6A82'],
    ['a file (MF 3F00)', '00A40000023F00', '6A82'],
    ['next occurrence', '00A4040205A000000308', '6A82'],
    ['P1 07', '00A4070005A000000308', '6A86'],
    ['P2 10', '00A4041005A000000308', '6A86'],
  ])('%s -> %s', async (_label, apdu, expected) => {
    expect(await sw(new Host(), apdu)).toBe(expected);
  });

  it('P2 0C selects without data; re-selecting PIV keeps the PIN verified, a failed SELECT changes nothing', async () => {
    const host = new Host();
    await host.send(VERIFY_OK);
    expect(await host.send('00A4040C05A000000308')).toEqual({ data: new Uint8Array(0), sw: 0x9000 });
    expect(await sw(host, '00A4040008A000000527471117')).toBe('6A82');
    expect(await sw(host, '0020008000')).toBe('9000');
  });
});

describe('GET DATA', () => {
  it.each([
    ['P1/P2 other than 3FFF', '00CB3FFE035C017E00', '6A86'],
    ['no data', '00CB3FFF00', '6700'],
    ['not a tag list', '00CB3FFF0353017E00', '6A80'],
    ['a 4-byte tag', '00CB3FFF065C045FC1020100', '6A80'],
    ['an empty tag list', '00CB3FFF025C0000', '6A80'],
    ['trailing bytes after the tag list', '00CB3FFF055C017E000000', '6A80'],
    ['an unknown tag', '00CB3FFF055C035FC1FF00', '6A82'],
    ['an absent object', '00CB3FFF055C035FC10600', '6A82'],
    ['fingerprints without PIN (absent, still 6982)', '00CB3FFF055C035FC10300', '6982'],
    ['facial image without PIN', '00CB3FFF055C035FC10800', '6982'],
    ['iris images without PIN', '00CB3FFF055C035FC12100', '6982'],
    ['printed information without PIN', '00CB3FFF055C035FC10900', '6982'],
  ])('%s -> %s', async (_label, apdu, expected) => {
    const { card } = await provisionedCard();
    expect(await sw(new Host(card), apdu)).toBe(expected);
  });

  it('PIN-protected but absent objects answer 6A82 once the PIN is verified', async () => {
    const host = new Host();
    await host.send(VERIFY_OK);
    expect(await sw(host, '00CB3FFF055C035FC10300')).toBe('6A82');
  });
});

describe('PUT DATA', () => {
  it('without 9B authentication -> 6982', async () => {
    expect(await sw(new Host(), cmd('00DB3FFF', '5C035FC1055300'))).toBe('6982');
  });

  it.each([
    ['P1/P2 other than 3FFF', cmd('00DB3FFE', '5C035FC1055300'), '6A86'],
    ['no 53', cmd('00DB3FFF', '5C035FC105'), '6A80'],
    ['53 before 5C', cmd('00DB3FFF', '53005C035FC105'), '6A80'],
    ['an unknown tag', cmd('00DB3FFF', '5C035FC1FF5300'), '6A80'],
    ['the Discovery object', cmd('00DB3FFF', '5C017E5300'), '6A80'],
    ['no data', '00DB3FFF', '6700'],
  ])('%s -> %s', async (_label, apdu, expected) => {
    const host = await authenticated();
    expect(await sw(host, apdu)).toBe(expected);
  });

  it('an object over 8000 bytes -> 6A84', async () => {
    const host = await authenticated();
    const data = concat(hex('5C035FC105'), tlv(0x53, new Uint8Array(8001)));
    expect((await host.extended(0xdb, 0x3f, 0xff, data)).sw).toBe(0x6a84);
  });
});

describe('VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER', () => {
  it.each([
    ['P1 01', Uint8Array.from([0x00, 0x20, 0x01, 0x80, 0x08, ...pinBlock('123456')]), '6A86'],
    ['global PIN (P2 00)', Uint8Array.from([0x00, 0x20, 0x00, 0x00, 0x08, ...pinBlock('123456')]), '6A88'],
    ['PUK reference in VERIFY', Uint8Array.from([0x00, 0x20, 0x00, 0x81, 0x08, ...pinBlock('12345678')]), '6A88'],
    ['7-byte PIN block', hex('002000800731323334353637'), '6A80'],
    ['data after the FF padding', hex('00200080083132333435FF36FF'), '6A80'],
    ['5-character PIN', Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('12345')]), '6A80'],
    ['control characters', hex('00200080080102030405060708'), '6A80'],
    ['logout with data', Uint8Array.from([0x00, 0x20, 0xff, 0x80, 0x08, ...pinBlock('123456')]), '6700'],
  ])('VERIFY %s -> %s (no try spent)', async (_label, apdu, expected) => {
    const host = new Host();
    expect(await sw(host, apdu)).toBe(expected);
    expect(await sw(host, '00200080')).toBe('63C3');
  });

  it('a wrong PIN drops an earlier verification; the policy tries block it (here 5), then 6983', async () => {
    const host = new Host(new MemoryPivCard({ pinTries: 5 }));
    await host.send(VERIFY_OK);
    const wrong = Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('654321')]);
    expect(await sw(host, wrong)).toBe('63C4');
    expect(await sw(host, '00200080')).toBe('63C4');
    for (const expected of ['63C3', '63C2', '63C1', '63C0', '6983']) expect(await sw(host, wrong)).toBe(expected);
    expect(await sw(host, VERIFY_OK)).toBe('6983');
    expect(await sw(host, '00200080')).toBe('6983');
  });

  it.each([
    ['P1 01', '00240180', 16, '6A86'],
    ['reference 82', '00240082', 16, '6A88'],
    ['15 bytes', '00240080', 15, '6A80'],
  ])('CHANGE REFERENCE DATA %s -> %s', async (_label, header, length, expected) => {
    const blocks = concat(pinBlock('123456'), pinBlock('654321')).subarray(0, length);
    expect(await sw(new Host(), concat(hex(header), Uint8Array.of(length), blocks))).toBe(expected);
  });

  it('CHANGE REFERENCE DATA with a wrong current PIN -> 63C2 and unverifies; a blocked PUK -> 6983', async () => {
    const host = new Host();
    await host.send(VERIFY_OK);
    expect(await sw(host, concat(hex('0024008010'), pinBlock('000000'), pinBlock('654321')))).toBe('63C2');
    expect(await sw(host, '00200080')).toBe('63C2');
    for (let i = 0; i < 3; i++) await host.send(concat(hex('0024008110'), pinBlock('00000000'), pinBlock('87654321')));
    expect(await sw(host, concat(hex('0024008110'), pinBlock('12345678'), pinBlock('87654321')))).toBe('6983');
  });

  it.each([
    ['P1 01', '002C0180', '6A86'],
    ['reference 81', '002C0081', '6A88'],
  ])('RESET RETRY COUNTER %s -> %s', async (_label, header, expected) => {
    expect(await sw(new Host(), concat(hex(header), Uint8Array.of(16), pinBlock('12345678'), pinBlock('654321')))).toBe(expected);
  });

  it('RESET RETRY COUNTER refuses a new PIN the policy rejects (6A80) without spending a PUK try', async () => {
    const host = new Host();
    expect(await sw(host, concat(hex('002C008010'), pinBlock('12345678'), pinBlock('abcdef')))).toBe('6A80');
    expect(await sw(host, '00F7008100')).toBe('9000');
    expect((await host.send('00F7008100')).data.at(-1)).toBe(3);
  });
});

/** A card whose custody cannot do raw RSA, and one whose slot data is corrupt. */
class UnsupportedCard extends MemoryPivCard {
  override async privateKeyOperation(_slot: PivSlot, _operation: PrivateKeyOperation): Promise<OperationResult> {
    return { kind: 'unsupported', reason: 'KMS-resident key: not a PKCS#1 v1.5 block' };
  }
}
class CorruptSlotCard extends MemoryPivCard {
  override async slot(slot: PivSlot): Promise<SlotInfo | undefined> {
    const info = await super.slot(slot);
    return info ? { ...info, publicKey: Uint8Array.of(0x30, 0x00) } : undefined;
  }
}

describe('GENERAL AUTHENTICATE', () => {
  const digest = new Uint8Array(32).fill(7);
  const sign = (p1: number, p2: number, data: Uint8Array): Uint8Array => cmd(Buffer.from([0x00, 0x87, p1, p2]).toString('hex'), data);
  const template = (...members: Uint8Array[]): Uint8Array => tlv(0x7c, ...members);

  it.each([
    ['an unknown key reference', sign(0x11, 0x9f, template(hex('8200'), tlv(0x81, digest))), '6A86'],
    ['an unknown algorithm', sign(0xff, 0x9a, template(hex('8200'), tlv(0x81, digest))), '6A86'],
    ['a retired slot (no key)', sign(0x11, 0x82, template(hex('8200'), tlv(0x81, digest))), '6A88'],
    ['RSA algorithm on the P-256 slot 9C', sign(0x07, 0x9c, template(hex('8200'), tlv(0x81, digest))), '6A80'],
    ['not a 7C template', sign(0x11, 0x9e, tlv(0x7d, hex('8200'), tlv(0x81, digest))), '6A80'],
    ['an unknown member', sign(0x11, 0x9e, template(hex('8300'), tlv(0x81, digest))), '6A80'],
    ['a duplicated member', sign(0x11, 0x9e, template(hex('8200'), tlv(0x81, digest), tlv(0x81, digest))), '6A80'],
    ['no 82 request', sign(0x11, 0x9e, template(tlv(0x81, digest))), '6A80'],
    ['81 and 85 together', sign(0x11, 0x9e, template(hex('8200'), tlv(0x81, digest), tlv(0x85, digest))), '6A80'],
    ['a 65-byte digest', sign(0x11, 0x9e, template(hex('8200'), tlv(0x81, new Uint8Array(65)))), '6A80'],
    ['ECDH with a point off the curve', sign(0x11, 0x9e, template(hex('8200'), tlv(0x85, concat(Uint8Array.of(4), new Uint8Array(64).fill(1))))), '6A80'],
    ['ECDH with a compressed point', sign(0x11, 0x9e, template(hex('8200'), tlv(0x85, concat(Uint8Array.of(2), new Uint8Array(32).fill(1))))), '6A80'],
    ['an RSA block of 255 bytes', sign(0x07, 0x9a, template(hex('8200'), tlv(0x81, new Uint8Array(255).fill(1)))), '6A80'],
    ['an RSA block not below the modulus', sign(0x07, 0x9a, template(hex('8200'), tlv(0x81, new Uint8Array(256).fill(0xff)))), '6A80'],
    ['ECDH on the RSA slot', sign(0x07, 0x9a, template(hex('8200'), tlv(0x85, new Uint8Array(65)))), '6A80'],
    ['9A without the PIN', sign(0x07, 0x9a, template(hex('8200'), tlv(0x81, concat(Uint8Array.of(0, 1), new Uint8Array(254).fill(0xff))))), '6982'],
    ['no data', hex('0087119E00'), '6700'],
  ])('%s -> %s', async (_label, apdu, expected) => {
    const { card } = await provisionedCard();
    expect(await sw(new Host(card), apdu)).toBe(expected);
  });

  it('an empty slot -> 6A88', async () => {
    expect(await sw(new Host(), sign(0x11, 0x9a, template(hex('8200'), tlv(0x81, digest))))).toBe('6A88');
  });

  it('a custody that cannot do the operation -> 6A80 (OpenSC: CKR_DATA_INVALID); unusable slot data -> 6984', async () => {
    const unsupported = new UnsupportedCard();
    await unsupported.generateKey('9e', 'p256', {});
    expect(await sw(new Host(unsupported), sign(0x11, 0x9e, template(hex('8200'), tlv(0x81, digest))))).toBe('6A80');
    const corrupt = new CorruptSlotCard();
    await corrupt.generateKey('9e', 'p256', {});
    expect(await sw(new Host(corrupt), sign(0x11, 0x9e, template(hex('8200'), tlv(0x81, digest))))).toBe('6984');
  });

  it('9B: wrong algorithm (AES on a 3DES key) -> 6A80; an answer with no witness or challenge out -> 6985', async () => {
    const host = new Host();
    expect(await sw(host, '0087089B047C028000')).toBe('6A80');
    expect(await sw(host, concat(hex('0087039B167C14'), tlv(0x80, new Uint8Array(8)), tlv(0x81, new Uint8Array(8))))).toBe('6985');
    expect(await sw(host, concat(hex('0087039B0C7C0A'), tlv(0x82, new Uint8Array(8))))).toBe('6985');
    await host.send('0087039B047C028000');
    expect(await sw(host, concat(hex('0087039B167C14'), tlv(0x80, new Uint8Array(8)), tlv(0x85, new Uint8Array(8))))).toBe('6A80');
  });

  it('9B: a witness is void after any other command, wrong-sized or wrong answers fail', async () => {
    const host = new Host();
    const witness = await host.send('0087039B047C028000');
    const plain = ecb('3des', FACTORY_MANAGEMENT_KEY, witness.data.subarray(4), true);
    await host.send('00FD0000');
    expect(await sw(host, concat(hex('0087039B167C14'), tlv(0x80, plain), tlv(0x81, new Uint8Array(8))))).toBe('6985');

    await host.send('0087039B047C028000');
    expect(await sw(host, concat(hex('0087039B157C13'), tlv(0x80, new Uint8Array(7)), tlv(0x81, new Uint8Array(8))))).toBe('6A80');

    await host.send('0087039B047C028000');
    expect(await sw(host, concat(hex('0087039B167C14'), tlv(0x80, new Uint8Array(8)), tlv(0x81, new Uint8Array(8))))).toBe('6982');
    expect(host.state.adminAuthenticated).toBe(false);

    await host.send('0087039B047C028100');
    expect(await sw(host, concat(hex('0087039B0C7C0A'), tlv(0x82, new Uint8Array(8))))).toBe('6982');
  });
});

describe('GENERATE ASYMMETRIC KEY PAIR', () => {
  it('without 9B authentication -> 6982', async () => {
    expect(await sw(new Host(), '0047009A05AC03800111')).toBe('6982');
  });

  it.each([
    ['P1 01', '0047019A05AC03800111', '6A86'],
    ['slot 9B', '0047009B05AC03800111', '6A86'],
    ['a retired slot', '0047008205AC03800111', '6A86'],
    ['not an AC template', '0047009A05AD03800111', '6A80'],
    ['no algorithm', '0047009A05AC03AA0101', '6A80'],
    ['RSA 1024', '0047009A05AC03800106', '6A80'],
    ['an unknown algorithm', '0047009A05AC038001FF', '6A80'],
    ['a touch policy of always', '0047009A08AC06800111AB0102', '6A80'],
    ['an unknown PIN policy', '0047009A08AC06800111AA0105', '6A80'],
    ['PIN policy never on 9A (PIN once by SP 800-73-4)', '0047009A08AC06800111AA0101', '6A80'],
    ['PIN policy never on 9D', '0047009D08AC06800111AA0101', '6A80'],
    ['PIN policy once on 9C (PIN always)', '0047009C08AC06800111AA0102', '6A80'],
    ['PIN policy never on 9C', '0047009C08AC06800111AA0101', '6A80'],
    ['no data', '0047009A', '6700'],
  ])('%s -> %s', async (_label, apdu, expected) => {
    const host = await authenticated();
    expect(await sw(host, apdu)).toBe(expected);
    expect(await host.card.slot('9a')).toBeUndefined();
  });

  it.each([
    ['9A once', '9a', 0x02, 'once'],
    ['9A always (tighter)', '9a', 0x03, 'always'],
    ['9C always', '9c', 0x03, 'always'],
    ['9E never (its own rule)', '9e', 0x01, 'never'],
    ['9E once (tighter)', '9e', 0x02, 'once'],
    ['9D default (00): the slot rule', '9d', 0x00, 'once'],
  ] as const)('PIN policy %s is accepted and stored', async (_label, slot, policy, stored) => {
    const host = await authenticated();
    const apdu = Uint8Array.from([0x00, 0x47, 0x00, parseInt(slot, 16), 0x08, 0xac, 0x06, 0x80, 0x01, 0x11, 0xaa, 0x01, policy]);
    expect(await sw(host, apdu)).toBe('9000');
    expect((await host.card.slot(slot))?.pinPolicy).toBe(stored);
  });

  it('an algorithm the issuer does not allow -> 6A80, the slot keeps its key; an allowed one works', async () => {
    const card = new MemoryPivCard({ limits: { algorithms: ['p256'], managementAlgorithms: ['3des'] } });
    await card.generateKey('9a', 'p256', {});
    const before = await card.slot('9a');
    const host = await authenticated(card);
    expect(await sw(host, '0047009A05AC03800107')).toBe('6A80'); // RSA 2048
    expect(await sw(host, '0047009A05AC03800114')).toBe('6A80'); // P-384
    expect(await card.slot('9a')).toEqual(before);
    expect(await sw(host, '0047009A05AC03800111')).toBe('9000');
  });
});

describe('yubico extensions', () => {
  it.each([
    ['GET VERSION with P1', '00FD0100', '6A86'],
    ['GET VERSION with data', '00FD00000101', '6700'],
    ['GET SERIAL with P2', '00F80001', '6A86'],
    ['GET METADATA with P1', '00F7019A', '6A86'],
    ['GET METADATA of an empty slot', '00F7009A', '6A88'],
    ['GET METADATA of an unknown reference', '00F70055', '6A88'],
    ['RESET with P1', '00FB0100', '6A86'],
    ['RESET while the PIN works', '00FB0000', '6985'],
  ])('%s -> %s', async (_label, apdu, expected) => {
    expect(await sw(new Host(), apdu)).toBe(expected);
  });

  it('RESET on a card that offers no wipe -> 6985 even with PIN and PUK blocked, nothing touched', async () => {
    const card = new MemoryPivCard({ pinTries: 1, pukTries: 1, wipeable: false });
    await card.generateKey('9d', 'p256', {});
    const host = new Host(card);
    expect(await sw(host, Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('000000')]))).toBe('63C0');
    expect(await sw(host, Uint8Array.from([0x00, 0x2c, 0x00, 0x80, 0x10, ...pinBlock('00000000'), ...pinBlock('123456')]))).toBe('63C0');
    expect(await sw(host, '00FB0000')).toBe('6985');
    expect((await card.slot('9d'))?.algorithm).toBe('p256');
    expect((await card.pinStatus('pin')).remaining).toBe(0);
  });

  it('SET MANAGEMENT KEY: 6982 before 9B, then 6A86 for touch (P2 FE), 6A80 for a bad algorithm or length', async () => {
    const key = new Uint8Array(24).fill(0x21);
    expect(await sw(new Host(), concat(hex('00FFFFFF1B039B18'), key))).toBe('6982');
    const host = await authenticated();
    expect(await sw(host, concat(hex('00FFFFFE1B039B18'), key))).toBe('6A86');
    expect(await sw(host, concat(hex('00FFFFFF1B079B18'), key))).toBe('6A80');
    expect(await sw(host, concat(hex('00FFFFFF1A039B17'), key.subarray(1)))).toBe('6A80');
    expect(await sw(host, concat(hex('00FFFFFF1B039A18'), key))).toBe('6A80');
  });

  it('SET MANAGEMENT KEY: the published factory key -> 6A80 (3DES and AES-192), a weaker algorithm than the issuer allows -> 6A80', async () => {
    const host = await authenticated(new MemoryPivCard({ limits: { algorithms: ['p256'], managementAlgorithms: ['aes192', 'aes256'] } }));
    expect(await sw(host, concat(hex('00FFFFFF1B039B18'), FACTORY_MANAGEMENT_KEY))).toBe('6A80');
    expect(await sw(host, concat(hex('00FFFFFF1B0A9B18'), FACTORY_MANAGEMENT_KEY))).toBe('6A80');
    expect(await sw(host, concat(hex('00FFFFFF1B039B18'), new Uint8Array(24).fill(0x21)))).toBe('6A80');
    expect(await sw(host, concat(hex('00FFFFFF13089B10'), new Uint8Array(16).fill(0x21)))).toBe('6A80');
    expect(await host.card.managementKey()).toEqual({ algorithm: '3des', key: FACTORY_MANAGEMENT_KEY });
    expect(await sw(host, concat(hex('00FFFFFF1B0A9B18'), new Uint8Array(24).fill(0x21)))).toBe('9000');
    expect((await host.card.managementKey()).algorithm).toBe('aes192');
  });
});

describe('port failures and stored state', () => {
  it('propagates an UnavailableError from the port', async () => {
    const card = new MemoryPivCard();
    card.readObject = async () => {
      throw new UnavailableError('store', 'down');
    };
    await expect(handleApdu(hex('00CB3FFF035C017E00'), newSessionState(), { card, random: realRandom })).rejects.toBeInstanceOf(UnavailableError);
  });

  it('answers 6F00 for any other failure inside a command', async () => {
    const card = new MemoryPivCard();
    card.readObject = async () => {
      throw new TypeError('bug');
    };
    const result = await handleApdu(hex('00CB3FFF035C017E00'), newSessionState(), { card, random: realRandom });
    expect(result.trace.sw).toBe(0x6f00);
  });

  it('treats a stored state of the wrong shape as a fresh power-on', async () => {
    const forged = { version: 1, pinVerified: true, pinJustVerified: true, adminAuthenticated: true, extra: 1 };
    const result = await handleApdu(hex('00200080'), forged as never, { card: new MemoryPivCard(), random: realRandom });
    expect(result.trace.sw).toBe(0x63c3);
    expect(result.state.adminAuthenticated).toBe(false);
  });
});
