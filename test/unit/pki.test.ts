import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { createPrivateKey, generateKeyPairSync, sign, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { readNode, parse, oid, decodeOid, DerError, children, sequence, explicit, octetString, encode, TAG } from '../../lambdas/core/pki/der.ts';
import { parseOcspRequest, statusOnlyResponse } from '../../lambdas/core/pki/ocsp.ts';
import { canonicalSerial, parseReason } from '../../lambdas/core/pki/registry.ts';
import { buildCrl } from '../../lambdas/core/pki/crl.ts';
import { checkCa } from '../../lambdas/core/pki/trusted-cas.ts';
import { pkiUrls } from '../../lambdas/core/pki/urls.ts';
import type { ResidentKeys } from '../../lambdas/ports.ts';

/** `openssl ocsp -issuer c.pem -cert c.pem -reqout` (OpenSSL 3.0): one SHA-1 CertID and a 16-octet nonce; then with -no_nonce. */
const OPENSSL_REQUEST =
  '307a30783051304f304d300906052b0e03021a05000414424ef3366d8b17e4f9865ea7849fe102bad1a82e0414d9d052211e4f4a6e31a01c7acbb642e0c8b3ff47021410ad45d40b2c64979de677474a2859a131822442a2233021301f06092b06010505073001020412041062aac2d86e40cc034b99123dc638b691';
const OPENSSL_REQUEST_NO_NONCE =
  '305530533051304f304d300906052b0e03021a05000414424ef3366d8b17e4f9865ea7849fe102bad1a82e0414d9d052211e4f4a6e31a01c7acbb642e0c8b3ff47021410ad45d40b2c64979de677474a2859a131822442';
const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));

describe('DER reader and writer', () => {
  it('reads definite lengths and refuses truncated, non-minimal and trailing encodings', () => {
    expect(parse(hex('0403010203')).value).toEqual(hex('010203'));
    expect(() => parse(hex('040301'))).toThrow(DerError);
    expect(() => parse(hex('04810101'))).toThrow(/minimally/); // 0x81 0x01: a short length written long
    expect(() => parse(hex('0400ff'))).toThrow(/trailing/);
    expect(() => parse(hex('0480'))).toThrow(DerError); // indefinite length
    expect(readNode(encode(TAG.octetString, new Uint8Array(300))).node.value.length).toBe(300);
  });

  it('round-trips object identifiers', () => {
    for (const dotted of ['1.3.6.1.5.5.7.48.1.2', '2.16.840.1.101.3.4.2.1', '1.2.840.10045.4.3.2', '2.5.29.20'])
      expect(decodeOid(parse(oid(dotted)))).toBe(dotted);
  });
});

describe('OCSP request parsing (RFC 6960 §4.1)', () => {
  it("reads OpenSSL's request: the CertID, its serial and the nonce", () => {
    const request = parseOcspRequest(hex(OPENSSL_REQUEST));
    expect(request.requests).toHaveLength(1);
    expect(request.requests[0]).toMatchObject({ hash: 'sha1', serial: '10ad45d40b2c64979de677474a2859a131822442' });
    expect(Buffer.from(request.nonce!).toString('hex')).toBe('041062aac2d86e40cc034b99123dc638b691');
    expect(parseOcspRequest(hex(OPENSSL_REQUEST_NO_NONCE)).nonce).toBeUndefined();
  });

  it('refuses what is not one well-formed OCSPRequest', () => {
    const good = hex(OPENSSL_REQUEST_NO_NONCE);
    const certId = children(children(children(children(parse(good))[0]!)[0]!)[0]!)[0]!.raw;
    const wrap = (...requests: Uint8Array[]) => sequence(sequence(sequence(...requests)));
    const nonceOf = (length: number) => explicit(2, sequence(sequence(oid('1.3.6.1.5.5.7.48.1.2'), octetString(octetString(new Uint8Array(length))))));
    const cases: Array<[string, Uint8Array]> = [
      ['empty', new Uint8Array()],
      ['text', new TextEncoder().encode('not an OCSP request')],
      ['trailing byte', Uint8Array.of(...good, 0)],
      ['no request', wrap()],
      ['eleven requests', wrap(...Array.from({ length: 11 }, () => sequence(certId)))],
      ['version 2', sequence(sequence(explicit(0, encode(TAG.integer, Uint8Array.of(1))), sequence(sequence(certId))))],
      ['nonce of 33 octets', sequence(sequence(sequence(sequence(certId)), nonceOf(33)))],
      ['empty nonce', sequence(sequence(sequence(sequence(certId)), nonceOf(0)))],
      [
        'MD5 CertID',
        wrap(
          sequence(
            sequence(
              sequence(oid('1.2.840.113549.2.5')),
              octetString(new Uint8Array(16)),
              octetString(new Uint8Array(16)),
              encode(TAG.integer, Uint8Array.of(1)),
            ),
          ),
        ),
      ],
      [
        'negative serial',
        wrap(
          sequence(
            sequence(
              sequence(oid('1.3.14.3.2.26')),
              octetString(new Uint8Array(20)),
              octetString(new Uint8Array(20)),
              encode(TAG.integer, Uint8Array.of(0x80)),
            ),
          ),
        ),
      ],
    ];
    for (const [name, bytes] of cases)
      expect({
        name,
        parsed: (() => {
          try {
            parseOcspRequest(bytes);
            return 'accepted';
          } catch (error) {
            return error instanceof DerError ? 'refused' : String(error);
          }
        })(),
      }).toEqual({ name, parsed: 'refused' });
    expect(parseOcspRequest(sequence(sequence(sequence(sequence(certId)), nonceOf(32)))).nonce).toBeDefined();
  });

  it('answers refusals as a bare OCSPResponse status', () => {
    expect(Buffer.from(statusOnlyResponse('malformedRequest')).toString('hex')).toBe('30030a0101');
    expect(Buffer.from(statusOnlyResponse('unauthorized')).toString('hex')).toBe('30030a0106');
  });
});

describe('certificate register rules', () => {
  it('writes serial numbers one way: lower-case hex, no leading zero octets', () => {
    expect(canonicalSerial('00A1B2')).toBe('a1b2');
    expect(canonicalSerial('00:80')).toBe('80'); // an INTEGER's sign octet is not part of the magnitude
    expect(canonicalSerial('0')).toBe('00');
    expect(canonicalSerial('ABC')).toBe('0abc');
  });

  it('accepts only RFC 5280 reason names', () => {
    expect(parseReason('keyCompromise')).toBe('keyCompromise');
    expect(() => parseReason('removeFromCRL')).toThrow(/invalid revocation reason/);
    expect(() => parseReason('__proto__')).toThrow(/invalid revocation reason/);
  });

  it('derives the fixed PKI URLs from the public base URL', () => {
    expect(pkiUrls('https://id.example.com/', 'acme')).toEqual({
      ca: 'https://id.example.com/t/acme/pki/ca',
      crl: 'https://id.example.com/t/acme/pki/crl',
      ocsp: 'https://id.example.com/t/acme/pki/ocsp',
    });
  });
});

/** A P-256 key standing in for the CA's resident key (the port, not our code, is what is replaced). */
function caKeys(): { keys: ResidentKeys; spki: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keys = {
    signMessage: async (_id: string, _alg: string, message: Uint8Array) =>
      new Uint8Array(sign('sha256', message, createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' })))),
  } as unknown as ResidentKeys;
  return { keys, spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })) };
}

describe('CRL building', () => {
  it('signs a CRL with the CA key that lists each entry with its reason, the CRL number and nextUpdate', async () => {
    const { keys, spki } = caKeys();
    const publicKey = new x509.PublicKey(Uint8Array.from(spki).buffer);
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[1]);
    const caCert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: '01',
        subject: 'CN=unit CA',
        issuer: 'CN=unit CA',
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 86_400_000),
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        publicKey,
        signingKey: (await import('../../lambdas/core/cards/authority.ts')).residentKeyHandle,
        extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
      },
      (await import('../../lambdas/core/cards/authority.ts')).residentSigningCrypto(keys, 'ca'),
    );
    const thisUpdate = new Date('2026-12-01T00:00:00Z');
    const entries = [
      { serial: '1a2b', revokedAt: new Date('2026-11-30T10:00:00Z'), reason: 'keyCompromise' as const },
      { serial: '3c4d', revokedAt: new Date('2026-11-30T11:00:00Z'), reason: 'cessationOfOperation' as const },
    ];
    const der = await buildCrl({ keyId: 'ca', certificate: caCert }, keys, entries, 7, thisUpdate);
    const crl = new x509.X509Crl(Uint8Array.from(der).buffer);
    expect(await crl.verify({ publicKey: caCert.publicKey })).toBe(true);
    expect(crl.thisUpdate.toISOString()).toBe(thisUpdate.toISOString());
    expect(crl.nextUpdate!.toISOString()).toBe('2026-12-02T00:00:00.000Z');
    expect(crl.entries.map((e) => [e.serialNumber.toLowerCase(), e.reason])).toEqual([
      ['1a2b', x509.X509CrlReason.keyCompromise],
      ['3c4d', x509.X509CrlReason.cessationOfOperation],
    ]);
    const number = crl.extensions.find((e) => e.type === '2.5.29.20')!;
    expect(Buffer.from(number.value).toString('hex')).toBe('020107');
  });
});

describe('trusted external CA checks', () => {
  const now = Date.now();
  const make = async (ca: boolean, from: number, to: number) => {
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as unknown as Parameters<
      typeof x509.X509CertificateGenerator.createSelfSigned
    >[0]['keys'];
    return (
      await x509.X509CertificateGenerator.createSelfSigned(
        {
          serialNumber: '02',
          name: 'CN=ext',
          notBefore: new Date(from),
          notAfter: new Date(to),
          signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
          keys,
          extensions: ca ? [new x509.BasicConstraintsExtension(true, undefined, true)] : [],
        },
        webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1],
      )
    ).toString('pem');
  };

  it('accepts a CA valid now and refuses a leaf, an expired or not yet valid CA, two certificates in one entry and garbage', async () => {
    const ca = await make(true, now - 1000, now + 86_400_000);
    expect(checkCa(ca, now)).toMatchObject({ subject: 'CN=ext', sha256: new X509Certificate(ca).fingerprint256 });
    expect(checkCa(await make(false, now - 1000, now + 86_400_000), now)).toMatch(/basicConstraints cA/);
    expect(checkCa(await make(true, now - 86_400_000, now - 1000), now)).toMatch(/^expired on /);
    expect(checkCa(await make(true, now + 86_400_000, now + 2 * 86_400_000), now)).toMatch(/^not valid before /);
    expect(checkCa(`${ca}${ca}`, now)).toMatch(/exactly one PEM certificate/);
    expect(checkCa('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', now)).toBe('not a readable X.509 certificate');
  });
});
