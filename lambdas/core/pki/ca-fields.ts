import { createHash } from 'node:crypto';
import type { TenantCa } from '../cards/authority.ts';
import { children, contextTag, expectTag, parse, TAG } from './der.ts';

/** The parts of the CA certificate the CRL and OCSP encoders need, read from its DER once. */
export interface CaFields {
  /** The subject Name, DER (a CRL's issuer; the OCSP issuerNameHash input). */
  readonly subject: Uint8Array;
  /** The subjectPublicKey BIT STRING's bits (the OCSP issuerKeyHash input). */
  readonly publicKeyBits: Uint8Array;
  /** SHA-1 of the public key bits: the key identifier (RFC 5280 §4.2.1.2 method 1), as the CA's SKI is made. */
  readonly keyIdentifier: Uint8Array;
}

const cache = new WeakMap<TenantCa, CaFields>();

export function caFields(ca: TenantCa): CaFields {
  const known = cache.get(ca);
  if (known) return known;
  const fields = children(children(parse(new Uint8Array(ca.certificate.rawData)))[0]!);
  const offset = fields[0]!.tag === contextTag(0) ? 1 : 0; // version
  const subject = fields[offset + 4]!.raw; // serial, signature, issuer, validity, subject
  const publicKeyBits = expectTag(children(fields[offset + 5]!)[1], TAG.bitString, 'subjectPublicKey').value.subarray(1);
  const result = { subject, publicKeyBits, keyIdentifier: createHash('sha1').update(publicKeyBits).digest() };
  cache.set(ca, result);
  return result;
}
