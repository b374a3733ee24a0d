import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildChuid } from '../../../lambdas/core/piv/builders.ts';
import { buildSecurityObject, isHashedObject, signChuid, type ContentSigner } from '../../../lambdas/core/piv/content-signing.ts';
import { TAG } from '../../../lambdas/core/piv/objects.ts';
import { decodeAll } from '../../../lambdas/core/piv/tlv.ts';
import { cardCommonName } from '../../../lambdas/core/cards/authority.ts';

const openssl = (args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** The rules of signed PIV content, checked with OpenSSL as the independent CMS and ASN.1 parser. */
describe('PIV content signing (CHUID signature, Security Object)', () => {
  let dir: string;
  let signer: ContentSigner;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cc-content-'));
    // A signer certificate with id-PIV-content-signing, self-issued here (the tenant CA issues it in the stack).
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=test content signer',
      '-addext',
      'extendedKeyUsage=2.16.840.1.101.3.6.7',
      '-addext',
      'keyUsage=digitalSignature',
    ]);
    const key = createPrivateKey(readFileSync(join(dir, 'key.pem')));
    openssl(['x509', '-in', join(dir, 'cert.pem'), '-outform', 'DER', '-out', join(dir, 'cert.der')]);
    signer = { certificate: new Uint8Array(readFileSync(join(dir, 'cert.der'))), sign: async (tbs) => new Uint8Array(sign('sha256', tbs, key)) };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const verify = (cms: Uint8Array, extra: string[] = []): string => {
    writeFileSync(join(dir, 'cms.der'), cms);
    return openssl(['cms', '-verify', '-inform', 'DER', '-in', join(dir, 'cms.der'), '-CAfile', join(dir, 'cert.pem'), '-purpose', 'any', '-binary', ...extra]);
  };

  it('signs the CHUID: 3E holds a detached SignedData over every element before it, which OpenSSL verifies', async () => {
    const unsigned = buildChuid({ guid: randomBytes(16), expires: new Date('2030-01-01T00:00:00Z') });
    const chuid = await signChuid(unsigned, signer, new Date('2026-01-01T00:00:00Z'));
    const items = decodeAll(chuid)!;
    expect(items.map((i) => i.tag)).toEqual([0x30, 0x34, 0x35, 0x3e, 0xfe]);
    const signature = items.find((i) => i.tag === 0x3e)!.value;
    const signedPart = Buffer.concat(items.filter((i) => i.tag < 0x3e).map((i) => Buffer.from([i.tag, i.value.length, ...i.value])));
    writeFileSync(join(dir, 'chuid-content'), signedPart);
    verify(signature, ['-content', join(dir, 'chuid-content')]);
    // Any change to the signed part breaks it.
    signedPart[signedPart.length - 1]! ^= 1;
    writeFileSync(join(dir, 'chuid-content'), signedPart);
    expect(() => verify(signature, ['-content', join(dir, 'chuid-content')])).toThrow();
    const printed = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', join(dir, 'cms.der')]);
    expect(printed).toMatch(/eContentType: .*\(2\.16\.840\.1\.101\.3\.6\.1\)/);
    expect(printed).toMatch(/eContent: <ABSENT>/);
  });

  it('builds the Security Object: BA maps data groups to container IDs, BB encapsulates the LDSSecurityObject of their SHA-256 hashes', async () => {
    const objects = new Map<number, Uint8Array>([
      [TAG.CHUID, Uint8Array.of(1, 2, 3)],
      [TAG.CCC, Uint8Array.of(4)],
      [TAG.CERT_9A, Uint8Array.of(5, 6)],
      [TAG.YUBICO_ADMIN, Uint8Array.of(7)],
    ]);
    const so = await buildSecurityObject(objects, signer, new Date('2026-01-01T00:00:00Z'));
    const items = decodeAll(so)!;
    expect(items.map((i) => i.tag)).toEqual([0xba, 0xbb, 0xfe]);
    expect(Buffer.from(items[0]!.value).toString('hex')).toBe('013000' + '02db00' + '050101');
    verify(items[1]!.value, ['-out', join(dir, 'lds.der')]);
    const parsed = openssl(['asn1parse', '-inform', 'DER', '-in', join(dir, 'lds.der')]);
    expect(parsed).toContain('sha256');
    const sha = (bytes: Uint8Array): string =>
      execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: bytes, encoding: 'utf8' }).split('= ')[1]!.trim().toUpperCase();
    for (const value of [objects.get(TAG.CHUID)!, objects.get(TAG.CCC)!, objects.get(TAG.CERT_9A)!]) expect(parsed).toContain(sha(value));
    expect(parsed).not.toContain(sha(objects.get(TAG.YUBICO_ADMIN)!));
  });

  it('names which writes make the Security Object stale: hashed PIV objects, not yubico ones nor itself', () => {
    expect(isHashedObject(TAG.CERT_9C)).toBe(true);
    expect(isHashedObject(TAG.CHUID)).toBe(true);
    expect(isHashedObject(TAG.SECURITY_OBJECT)).toBe(false);
    expect(isHashedObject(TAG.YUBICO_ADMIN)).toBe(false);
  });
});

describe('card certificate common name (the token label OpenSC shows)', () => {
  it('is the card label and a short card id, within the 32-character PKCS#11 token label', () => {
    expect(cardCommonName('Alice laptop', 'Xk3v9QabcdEFghij')).toBe('Alice laptop (Xk3v9Q)');
    const long = cardCommonName('Alice Demo the second card of many, kept at home', 'Xk3v9QabcdEFghij');
    expect(long.length).toBeLessThanOrEqual(32);
    expect(long.endsWith(' (Xk3v9Q)')).toBe(true);
    expect(cardCommonName('a,b=c+d', 'Zz9-_0xx')).toBe('abcd (Zz9-_0)');
  });
});
