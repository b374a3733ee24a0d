import { verify, type X509Certificate } from 'node:crypto';
import { children, decodeOid, DerError, expectTag, parse, TAG, type DerNode } from './der.ts';

/**
 * A CRL (RFC 5280 §5) of a trusted external CA, read with the DER helpers: only what revocation needs —
 * the signed bytes, who issued it, until when it holds, and the revoked serials.
 */
export interface Crl {
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
  /** The issuer Name, DER (compared byte for byte with the CA's subject). */
  readonly issuer: Uint8Array;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  /** Revoked serial numbers, uppercase hex without leading zeros. */
  readonly revoked: ReadonlySet<string>;
}

/** Signature algorithms accepted on a CRL: the hash goes to node:crypto verify, the key type follows the CA key. */
const HASH_OF: Record<string, string> = {
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

/** Parses a DER CRL; throws DerError on anything that is not one. */
export function parseCrl(der: Uint8Array): Crl {
  const [tbsNode, algorithm, signatureNode, ...rest] = children(expectTag(parse(der), TAG.sequence, 'CertificateList'));
  if (rest.length) throw new DerError('trailing elements in CertificateList');
  const tbs = children(expectTag(tbsNode, TAG.sequence, 'TBSCertList'));
  let index = tbs[0]?.tag === TAG.integer ? 1 : 0; // version is optional (v1 CRLs omit it)
  expectTag(tbs[index++], TAG.sequence, 'signature algorithm');
  const issuer = expectTag(tbs[index++], TAG.sequence, 'issuer').raw;
  const thisUpdate = readTime(tbs[index++], 'thisUpdate');
  let nextUpdate: number | undefined;
  if (tbs[index] && (tbs[index]!.tag === TAG.utcTime || tbs[index]!.tag === TAG.generalizedTime)) nextUpdate = readTime(tbs[index++], 'nextUpdate');
  const revoked = new Set<string>();
  if (tbs[index]?.tag === TAG.sequence) {
    for (const entry of children(tbs[index++]!)) revoked.add(serialHex(expectTag(children(entry)[0], TAG.integer, 'userCertificate').value));
  }
  const bits = expectTag(signatureNode, TAG.bitString, 'signatureValue').value;
  if (bits[0] !== 0) throw new DerError('signatureValue with unused bits');
  return {
    tbs: tbsNode!.raw,
    signatureAlgorithm: decodeOid(expectTag(children(expectTag(algorithm, TAG.sequence, 'signatureAlgorithm'))[0], TAG.oid, 'algorithm')),
    signature: bits.subarray(1),
    issuer,
    thisUpdate,
    nextUpdate,
    revoked,
  };
}

const CLOCK_SKEW_MS = 5 * 60 * 1_000;

/** Why a CRL cannot be used for `ca` at `now`, or undefined when it can. */
export function crlProblem(crl: Crl, ca: X509Certificate, now: number): string | undefined {
  const hash = HASH_OF[crl.signatureAlgorithm];
  if (!hash) return `unsupported CRL signature algorithm ${crl.signatureAlgorithm}`;
  if (!Buffer.from(crl.issuer).equals(Buffer.from(subjectDer(ca)))) return 'CRL issuer is not the CA';
  let good = false;
  try {
    good = verify(hash, crl.tbs, ca.publicKey, crl.signature);
  } catch {
    good = false;
  }
  if (!good) return 'CRL signature does not verify with the CA key';
  // A CA whose clock runs a little ahead still publishes a usable CRL: five minutes of skew are allowed.
  if (crl.thisUpdate > now + CLOCK_SKEW_MS) return 'CRL not yet valid';
  if (crl.nextUpdate === undefined) return 'CRL without nextUpdate';
  if (crl.nextUpdate <= now) return 'CRL past its nextUpdate';
  return undefined;
}

/** Whether the CRL lists the serial (hex as X509Certificate.serialNumber gives it). */
export const isRevoked = (crl: Crl, serial: string): boolean => crl.revoked.has(normalSerial(serial));

const normalSerial = (hex: string): string => hex.toUpperCase().replace(/^0+(?=.)/, '');
const serialHex = (bytes: Uint8Array): string => normalSerial(Buffer.from(bytes).toString('hex'));

/** The subject Name of a certificate, DER: the sixth element of TBSCertificate (after the [0] version). */
function subjectDer(certificate: X509Certificate): Uint8Array {
  const tbs = children(children(parse(certificate.raw))[0]!);
  const offset = tbs[0]?.tag === 0xa0 ? 1 : 0;
  return expectTag(tbs[offset + 4], TAG.sequence, 'subject').raw;
}

function readTime(node: DerNode | undefined, what: string): number {
  if (!node || (node.tag !== TAG.utcTime && node.tag !== TAG.generalizedTime)) throw new DerError(`${what} expected`);
  const text = Buffer.from(node.value).toString('latin1');
  const match = (node.tag === TAG.utcTime ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/ : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/).exec(text);
  if (!match) throw new DerError(`${what} is not a UTC time`);
  let year = Number(match[1]);
  if (node.tag === TAG.utcTime) year += year < 50 ? 2000 : 1900;
  return Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6]));
}
