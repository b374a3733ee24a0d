/**
 * A provisioned card for the replays. Provisioning goes through the card application itself (9B
 * authentication with the card's management key, GENERATE, PUT DATA), so it works on any PivCard
 * implementation: the store-backed card can be provisioned and replayed exactly like the in-memory one.
 */
import 'reflect-metadata'; // @peculiar/x509 2.x needs a Reflect polyfill (tsyringe), imported before it
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import {
  buildCcc,
  buildCertificateObject,
  buildChuid,
  buildKeyHistory,
  CERT_TAG_OF_SLOT,
  TAG,
  type PivAlgorithm,
  type PivCard,
} from '../../../lambdas/core/piv/index.ts';
import { tagBytes, tlv, concat, decodeAll, decodeOne } from '../../../lambdas/core/piv/tlv.ts';
import { MemoryPivCard, type MemoryCardOptions } from '../../support/piv-memory-card.ts';
import { ecb, Host } from './harness.ts';

x509.cryptoProvider.set(webcrypto as never); // node's webcrypto is the Crypto the library expects; the overloads confuse Parameters<>

const ALGORITHM_ID: Record<PivAlgorithm, number> = { rsa2048: 0x07, rsa3072: 0x05, rsa4096: 0x16, p256: 0x11, p384: 0x14 };

const MANAGEMENT_ID = { '3des': 0x03, aes128: 0x08, aes192: 0x0a, aes256: 0x0c } as const;

/** Authenticates 9B with the card's own management key, asked through the port (single challenge-response). */
export async function authenticateAdmin(host: Host): Promise<void> {
  const { algorithm, key } = await host.card.managementKey();
  const id = MANAGEMENT_ID[algorithm];
  const request = await host.send(Uint8Array.of(0x00, 0x87, id, 0x9b, 0x04, 0x7c, 0x02, 0x81, 0x00));
  const response = ecb(algorithm, key, request.data.subarray(4));
  const answer = await host.send(Uint8Array.from([0x00, 0x87, id, 0x9b, response.length + 4, 0x7c, response.length + 2, 0x82, response.length, ...response]));
  if (answer.sw !== 0x9000) throw new Error(`9B authentication failed: ${answer.sw.toString(16)}`);
}

export async function putObject(host: Host, tag: number, content: Uint8Array): Promise<void> {
  const reply = await host.command(0x00, 0xdb, 0x3f, 0xff, concat(tlv(0x5c, tagBytes(tag)), tlv(0x53, content)));
  if (reply.sw !== 0x9000) throw new Error(`PUT DATA ${tag.toString(16)} failed: ${reply.sw.toString(16)}`);
}

/** GENERATE in a slot; returns the public key as a WebCrypto key for the certificate. */
async function generate(host: Host, reference: number, algorithm: PivAlgorithm): Promise<webcrypto.CryptoKey> {
  const reply = await host.command(0x00, 0x47, 0x00, reference, Uint8Array.of(0xac, 0x03, 0x80, 0x01, ALGORITHM_ID[algorithm]));
  if (reply.sw !== 0x9000) throw new Error(`GENERATE failed: ${reply.sw.toString(16)}`);
  const members = decodeAll(decodeOne(reply.data)!.value)!;
  const get = (tag: number): string => Buffer.from(members.find((m) => m.tag === tag)!.value).toString('base64url');
  if (algorithm.startsWith('rsa')) {
    return webcrypto.subtle.importKey('jwk', { kty: 'RSA', n: get(0x81), e: get(0x82) }, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']);
  }
  const point = members.find((m) => m.tag === 0x86)!.value;
  const size = (point.length - 1) / 2;
  const jwk = {
    kty: 'EC',
    crv: size === 32 ? 'P-256' : 'P-384',
    x: Buffer.from(point.subarray(1, 1 + size)).toString('base64url'),
    y: Buffer.from(point.subarray(1 + size)).toString('base64url'),
  };
  return webcrypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: jwk.crv }, true, ['verify']);
}

let authority: Promise<webcrypto.CryptoKeyPair> | undefined;
/** One test issuer (ECDSA P-256) for every slot certificate. */
function issuer(): Promise<webcrypto.CryptoKeyPair> {
  authority ??= webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
  return authority;
}

async function certify(publicKey: webcrypto.CryptoKey, subject: string): Promise<Uint8Array> {
  const ca = await issuer();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomBytes(8).toString('hex'),
    subject,
    issuer: 'CN=cloudcard PIV test issuer',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  return new Uint8Array(certificate.rawData);
}

export type SlotCertificates = Readonly<Record<'9a' | '9c' | '9d' | '9e', X509Certificate>>;

/**
 * Provisions any card (PIN 123456, PUK 12345678, 3 tries each): RSA-2048 in 9A, P-256 in 9C (PIN always by default), P-384 in 9D
 * (key management, ECDH), P-256 in 9E (no PIN), their certificates, CHUID, CCC, Key History and a
 * PIN-protected printed information object.
 */
export async function provision(card: PivCard): Promise<{ guid: Uint8Array; certificates: SlotCertificates }> {
  const host = new Host(card);
  await authenticateAdmin(host);
  const guid = new Uint8Array(randomBytes(16));
  await putObject(host, TAG.CHUID, buildChuid({ guid, expires: new Date('2031-12-31T00:00:00Z') }));
  await putObject(host, TAG.CCC, buildCcc(new Uint8Array(randomBytes(14))));
  await putObject(host, TAG.KEY_HISTORY, buildKeyHistory({ onCard: 0, offCard: 0 }));
  await putObject(host, TAG.PRINTED_INFORMATION, Uint8Array.of(0x01, 0x04, 0x41, 0x6c, 0x69, 0x63, 0xfe, 0x00));
  const slots = [
    ['9a', 0x9a, 'rsa2048'],
    ['9c', 0x9c, 'p256'],
    ['9d', 0x9d, 'p384'],
    ['9e', 0x9e, 'p256'],
  ] as const;
  const certificates: Partial<Record<'9a' | '9c' | '9d' | '9e', X509Certificate>> = {};
  for (const [slot, reference, algorithm] of slots) {
    const der = await certify(await generate(host, reference, algorithm), `CN=PIV ${slot} test`);
    await putObject(host, CERT_TAG_OF_SLOT[slot], buildCertificateObject(der));
    certificates[slot] = new X509Certificate(der);
  }
  return { guid, certificates: certificates as SlotCertificates };
}

export interface Provisioned {
  readonly card: MemoryPivCard;
  readonly guid: Uint8Array;
  readonly certificates: SlotCertificates;
}

export async function provisionedCard(options: MemoryCardOptions = {}): Promise<Provisioned> {
  const card = new MemoryPivCard(options);
  return { card, ...(await provision(card)) };
}
