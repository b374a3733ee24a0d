/** A provisioned card for the replays: keys in the four slots, their certificates and the PIV objects. */
import 'reflect-metadata'; // @peculiar/x509 2.x needs a Reflect polyfill (tsyringe), imported before it
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import {
  buildCcc,
  buildCertificateObject,
  buildChuid,
  buildKeyHistory,
  CERT_TAG_OF_SLOT,
  TAG,
  type PivAlgorithm,
  type PivSlot,
} from '../../../lambdas/core/piv/index.ts';
import { MemoryPivCard, type MemoryCardOptions } from '../../support/piv-memory-card.ts';

x509.cryptoProvider.set(webcrypto as never); // node's webcrypto is the Crypto the library expects; the overloads confuse Parameters<>

function params(algorithm: PivAlgorithm): webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams {
  if (algorithm.startsWith('rsa')) {
    return { name: 'RSASSA-PKCS1-v1_5', modulusLength: Number(algorithm.slice(3)), publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  }
  return { name: 'ECDSA', namedCurve: algorithm === 'p256' ? 'P-256' : 'P-384' };
}

/** A self-signed certificate and its key, the key imported into `slot`. */
export async function provisionSlot(card: MemoryPivCard, slot: PivSlot, algorithm: PivAlgorithm): Promise<X509Certificate> {
  const keyParams = params(algorithm);
  const keys = (await webcrypto.subtle.generateKey(keyParams, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const signingAlgorithm = keyParams.name === 'ECDSA' ? { name: 'ECDSA', hash: algorithm === 'p256' ? 'SHA-256' : 'SHA-384' } : keyParams;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'),
    name: `CN=PIV ${slot} test`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  card.importKey(slot, algorithm, createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
  const der = new Uint8Array(certificate.rawData);
  await card.writeObject(CERT_TAG_OF_SLOT[slot], buildCertificateObject(der));
  return new X509Certificate(der);
}

export interface Provisioned {
  readonly card: MemoryPivCard;
  readonly guid: Uint8Array;
  readonly certificates: Readonly<Record<'9a' | '9c' | '9d' | '9e', X509Certificate>>;
}

/** RSA-2048 in 9A, P-256 in 9C (PIN always), P-384 in 9D (key management, ECDH), P-256 in 9E (no PIN). */
export async function provisionedCard(options: MemoryCardOptions = {}): Promise<Provisioned> {
  const card = new MemoryPivCard(options);
  const guid = new Uint8Array(randomBytes(16));
  await card.writeObject(TAG.CHUID, buildChuid({ guid, expires: new Date('2031-12-31T00:00:00Z') }));
  await card.writeObject(TAG.CCC, buildCcc(new Uint8Array(randomBytes(14))));
  await card.writeObject(TAG.KEY_HISTORY, buildKeyHistory({ onCard: 0, offCard: 0 }));
  await card.writeObject(TAG.PRINTED_INFORMATION, Uint8Array.of(0x01, 0x04, 0x41, 0x6c, 0x69, 0x63, 0xfe, 0x00));
  const certificates = {
    '9a': await provisionSlot(card, '9a', 'rsa2048'),
    '9c': await provisionSlot(card, '9c', 'p256'),
    '9d': await provisionSlot(card, '9d', 'p384'),
    '9e': await provisionSlot(card, '9e', 'p256'),
  };
  return { card, guid, certificates };
}
