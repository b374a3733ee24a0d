/** APDU parsing (the four ISO 7816-4 cases), BER-TLV, the enrolment builders and the trace helper. */
import { describe, expect, it } from '@jest/globals';
import { gzipSync } from 'node:zlib';
import { buildCommand, parseCommand } from '../../../lambdas/core/piv/apdu.ts';
import {
  buildCcc,
  buildCertificateObject,
  buildChuid,
  buildDiscovery,
  buildKeyHistory,
  decodeFascn,
  describeCommand,
  encodeFascn,
  NON_FEDERAL_FASCN,
  parseCertificateObject,
  parseChuid,
} from '../../../lambdas/core/piv/index.ts';
import { decodeAll, decodeMap, decodeOne, encodeLength, tlv } from '../../../lambdas/core/piv/tlv.ts';
import { hex, toHex } from './harness.ts';

describe('command APDU parsing', () => {
  it.each([
    ['case 1', '00200080', { data: '', ne: 0, extended: false }],
    ['case 2 short, Le 00 = 256 (also a T=0 "P3=00, no data")', '0020008000', { data: '', ne: 256, extended: false }],
    ['case 2 short, Le 08', '00C0000008', { data: '', ne: 8, extended: false }],
    ['case 3 short', '00DB3FFF025300', { data: '5300', ne: 0, extended: false }],
    ['case 4 short', '00CB3FFF035C017E00', { data: '5C017E', ne: 256, extended: false }],
    ['case 2 extended, Le 0000 = 65536', '00CB3FFF000000', { data: '', ne: 65536, extended: true }],
    ['case 3 extended', '00DB3FFF0000025300', { data: '5300', ne: 0, extended: true }],
    ['case 4 extended', '00CB3FFF0000035C017E0100', { data: '5C017E', ne: 256, extended: true }],
  ])('%s', (_label, apdu, expected) => {
    const parsed = parseCommand(hex(apdu));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect({ data: toHex(parsed.command.data), ne: parsed.command.ne, extended: parsed.command.extended }).toEqual(expected);
  });

  it('round-trips what buildCommand produces, short and extended', () => {
    for (const [data, ne] of [
      [new Uint8Array(0), undefined],
      [new Uint8Array(10), 256],
      [new Uint8Array(300), 65536],
      [new Uint8Array(255), 1],
    ] as const) {
      const parsed = parseCommand(buildCommand({ ins: 0x87, p1: 7, p2: 0x9a }, data, ne));
      expect(parsed.ok && parsed.command.data.length).toBe(data.length);
      expect(parsed.ok && parsed.command.ne).toBe(ne ?? 0);
    }
  });
});

describe('BER-TLV', () => {
  it('encodes the three length forms and multi-byte tags', () => {
    expect(toHex(encodeLength(0x7f))).toBe('7F');
    expect(toHex(encodeLength(0x80))).toBe('8180');
    expect(toHex(encodeLength(0x100))).toBe('820100');
    expect(toHex(tlv(0x5fc102, Uint8Array.of(1)))).toBe('5FC1020101');
    expect(toHex(tlv(0x7f49))).toBe('7F4900');
    expect(decodeOne(tlv(0x7f49, new Uint8Array(300)))?.value).toHaveLength(300);
  });

  it.each([
    ['truncated value', '5303AABB'],
    ['truncated long length', '5382 01'],
    ['a length form of three bytes', '5383000001AA'],
    ['an indefinite length', '5380'],
    ['an unterminated multi-byte tag', '5FC1'],
  ])('refuses %s', (_label, bytes) => {
    expect(decodeAll(hex(bytes))).toBeUndefined();
  });

  it('decodeMap refuses duplicates and tags outside the allowed set', () => {
    expect(decodeMap(hex('80008100'), [0x80, 0x81])?.size).toBe(2);
    expect(decodeMap(hex('80008000'), [0x80])).toBeUndefined();
    expect(decodeMap(hex('8300'), [0x80])).toBeUndefined();
  });
});

describe('FASC-N', () => {
  it("matches a published FASC-N (yubico-piv-tool's CHUID template) bit for bit", () => {
    const published = hex('D4E739DA739CED39CE739D836858210842108421C84210C3EB');
    const fields = decodeFascn(published);
    expect(fields).toEqual({
      agencyCode: '9999',
      systemCode: '9999',
      credentialNumber: '999999',
      credentialSeries: '0',
      individualCredentialIssue: '1',
      personIdentifier: '0000000000',
      organizationalCategory: '3',
      organizationalIdentifier: '0000',
      personAssociationCategory: '1',
    });
    expect(toHex(encodeFascn(fields!))).toBe(toHex(published));
  });

  it('round-trips the non-federal FASC-N and refuses a flipped bit (parity) or bad digits', () => {
    const encoded = encodeFascn(NON_FEDERAL_FASCN);
    expect(decodeFascn(encoded)).toEqual(NON_FEDERAL_FASCN);
    const flipped = encoded.slice();
    flipped[5]! ^= 0x04;
    expect(decodeFascn(flipped)).toBeUndefined();
    expect(decodeFascn(encoded.subarray(1))).toBeUndefined();
    expect(() => encodeFascn({ ...NON_FEDERAL_FASCN, agencyCode: '99A9' })).toThrow(RangeError);
  });
});

describe('enrolment builders', () => {
  it('CHUID: 30 FASC-N, 34 GUID, 35 date, 3E empty signature, FE; parsed back', () => {
    const guid = hex('00112233445566778899AABBCCDDEEFF');
    const chuid = buildChuid({ guid, expires: new Date('2030-06-15T12:00:00Z') });
    expect(decodeAll(chuid)!.map((item) => item.tag)).toEqual([0x30, 0x34, 0x35, 0x3e, 0xfe]);
    const parsed = parseChuid(chuid)!;
    expect(toHex(parsed.guid)).toBe(toHex(guid));
    expect(parsed.expires).toBe('20300615');
    expect(parsed.fascn).toEqual(NON_FEDERAL_FASCN);
    expect(() => buildChuid({ guid: new Uint8Array(15), expires: new Date() })).toThrow(RangeError);
  });

  it('CCC: a 21-byte card identifier under the GSC-IS RID and the version tags', () => {
    const ccc = buildCcc(new Uint8Array(14).fill(0xab));
    const items = decodeAll(ccc)!;
    expect(toHex(items[0]!.value)).toBe(`A000000116FF01${'AB'.repeat(14)}`);
    expect(items.map((item) => item.tag)).toEqual([0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe]);
  });

  it('Discovery: the full AID and PIN usage policy 40 00, identical on every call', () => {
    expect(toHex(buildDiscovery())).toBe('4F0BA0000003080000100001005F2F024000');
    expect(toHex(buildDiscovery())).toBe(toHex(buildDiscovery()));
  });

  it('Key History: counts, the URL when certificates are off card, bounds', () => {
    expect(toHex(buildKeyHistory({ onCard: 0, offCard: 0 }))).toBe('C10100C20100FE00');
    expect(decodeAll(buildKeyHistory({ onCard: 1, offCard: 2, offCardUrl: 'https://x/y' }))!.map((i) => i.tag)).toEqual([0xc1, 0xc2, 0xf3, 0xfe]);
    expect(() => buildKeyHistory({ onCard: 0, offCard: 1 })).toThrow(RangeError);
    expect(() => buildKeyHistory({ onCard: 21, offCard: 0 })).toThrow(RangeError);
  });

  it('certificate object: 70 cert, 71 00, FE; parsed back, gzip-compressed ones too, garbage refused', () => {
    const certificate = tlv(0x30, new Uint8Array(300).fill(1));
    const object = buildCertificateObject(certificate);
    expect(decodeAll(object)!.map((i) => [i.tag, i.value.length])).toEqual([
      [0x70, certificate.length],
      [0x71, 1],
      [0xfe, 0],
    ]);
    expect(toHex(parseCertificateObject(object)!)).toBe(toHex(certificate));
    const compressed = new Uint8Array([...tlv(0x70, gzipSync(certificate)), ...tlv(0x71, Uint8Array.of(1)), ...tlv(0xfe)]);
    expect(toHex(parseCertificateObject(compressed)!)).toBe(toHex(certificate));
    expect(parseCertificateObject(hex('7003300500'))).toBeUndefined();
    expect(parseCertificateObject(hex('71010070'))).toBeUndefined();
    expect(parseCertificateObject(new Uint8Array([...tlv(0x70, hex('DEADBEEF')), ...tlv(0x71, Uint8Array.of(1))]))).toBeUndefined();
  });
});

describe('describeCommand', () => {
  it('names the instruction and parameters, never the data', () => {
    const verify = hex('002000800831323334353637FF');
    const text = describeCommand(verify);
    expect(text).toBe('VERIFY CLA=00 P1=00 P2=80, 13 bytes');
    expect(text).not.toContain('3132');
    expect(describeCommand(hex('1087079AFF'))).toContain('GENERAL AUTHENTICATE CLA=10 P1=07 P2=9A chained');
    expect(describeCommand(hex('00B0'))).toBe('malformed APDU (2 bytes)');
    expect(describeCommand(hex('00420000'))).toContain('INS 42');
  });
});
