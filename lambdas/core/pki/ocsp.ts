import { createHash } from 'node:crypto';
import type { Clock, DirectoryStore, ResidentKeys } from '../../ports.ts';
import { readAuthority, type TenantCa } from '../cards/authority.ts';
import {
  bitString,
  children,
  contextTag,
  decodeOid,
  DerError,
  enumerated,
  expectTag,
  explicit,
  generalizedTime,
  octetString,
  oid,
  parse,
  sequence,
  TAG,
  type DerNode,
} from './der.ts';
import { canonicalSerial, REVOCATION_REASONS, type CertificateRegistry } from './registry.ts';
import { caFields } from './ca-fields.ts';
import { ReadCache } from '../read-cache.ts';

/**
 * How long a signed answer without a nonce is reused for the same certificates in the same states. The
 * states are read fresh for every request and are part of the cache key, so a revocation is answered at
 * once; only `thisUpdate`/`producedAt` may be this much older than the request (RFC 5019 §2.2 allows
 * pre-produced answers). Saves the CA key signature (a KMS call on AWS) for relying parties that poll.
 */
export const OCSP_REUSE_SECONDS = 300;

/** OCSPResponseStatus (RFC 6960 §4.2.1). */
export const OCSP_STATUS = { successful: 0, malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 } as const;

const OID = {
  basicResponse: '1.3.6.1.5.5.7.48.1.1',
  nonce: '1.3.6.1.5.5.7.48.1.2',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const;
const HASH_OF_OID: Readonly<Record<string, 'sha1' | 'sha256'>> = { [OID.sha1]: 'sha1', [OID.sha256]: 'sha256' };

/** A relying party may ask about a few certificates at once; more is no use to anyone and costs reads. */
const MAX_REQUESTS = 10;
/** RFC 8954 §2.1: a nonce is 1 to 32 octets. */
const MAX_NONCE = 32;
/** How long a "good" or "revoked" answer may be relied on (nextUpdate). */
export const OCSP_VALIDITY_SECONDS = 3600;

interface CertRequest {
  readonly certIdRaw: Uint8Array;
  readonly hash: 'sha1' | 'sha256';
  readonly issuerNameHash: Uint8Array;
  readonly issuerKeyHash: Uint8Array;
  readonly serial: string;
}

interface ParsedRequest {
  readonly requests: readonly CertRequest[];
  /** The nonce extension's value (the OCTET STRING inside extnValue), echoed as is. */
  readonly nonce?: Uint8Array;
}

/** Reads an OCSPRequest (RFC 6960 §4.1.1); throws DerError on anything that is not one. */
export function parseOcspRequest(der: Uint8Array): ParsedRequest {
  const top = children(expectTag(parse(der), TAG.sequence, 'OCSPRequest'));
  const tbs = children(expectTag(top[0], TAG.sequence, 'TBSRequest'));
  if (top.length > 2 || (top[1] && top[1].tag !== contextTag(0))) throw new DerError('unexpected element after TBSRequest');
  let index = 0;
  if (tbs[index]?.tag === contextTag(0)) {
    const version = children(tbs[index]!)[0];
    if (!version || version.tag !== TAG.integer || version.value.length !== 1 || version.value[0] !== 0) throw new DerError('only OCSP v1 requests');
    index += 1;
  }
  if (tbs[index]?.tag === contextTag(1)) index += 1; // requestorName: not used
  const list = children(expectTag(tbs[index], TAG.sequence, 'requestList'));
  index += 1;
  if (list.length === 0 || list.length > MAX_REQUESTS) throw new DerError(`between 1 and ${MAX_REQUESTS} requests`);
  let nonce: Uint8Array | undefined;
  if (tbs[index]?.tag === contextTag(2)) {
    nonce = nonceOf(children(tbs[index]!)[0]);
    index += 1;
  }
  if (index !== tbs.length) throw new DerError('unexpected element in TBSRequest');
  return { requests: list.map(parseSingleRequest), ...(nonce ? { nonce } : {}) };
}

function parseSingleRequest(node: DerNode): CertRequest {
  const parts = children(expectTag(node, TAG.sequence, 'Request'));
  const certId = expectTag(parts[0], TAG.sequence, 'CertID');
  const [algorithm, nameHash, keyHash, serial, ...rest] = children(certId);
  if (rest.length) throw new DerError('unexpected element in CertID');
  const hash = HASH_OF_OID[decodeOid(children(expectTag(algorithm, TAG.sequence, 'hashAlgorithm'))[0]!)];
  if (!hash) throw new DerError('unsupported CertID hash algorithm');
  const serialBytes = expectTag(serial, TAG.integer, 'serialNumber').value;
  if (serialBytes.length === 0 || serialBytes.length > 20 || serialBytes[0]! & 0x80) throw new DerError('serial numbers are positive and at most 20 octets');
  return {
    certIdRaw: certId.raw,
    hash,
    issuerNameHash: expectTag(nameHash, TAG.octetString, 'issuerNameHash').value,
    issuerKeyHash: expectTag(keyHash, TAG.octetString, 'issuerKeyHash').value,
    serial: canonicalSerial(Buffer.from(serialBytes).toString('hex')),
  };
}

/** The nonce among the request extensions, if any (other extensions are ignored, as RFC 6960 allows). */
function nonceOf(extensions: DerNode | undefined): Uint8Array | undefined {
  for (const extension of children(expectTag(extensions, TAG.sequence, 'Extensions'))) {
    const fields = children(expectTag(extension, TAG.sequence, 'Extension'));
    if (decodeOid(fields[0]!) !== OID.nonce) continue;
    const value = expectTag(fields[fields.length - 1], TAG.octetString, 'extnValue').value;
    const inner = parse(value); // the nonce itself is an OCTET STRING inside extnValue (RFC 8954)
    if (inner.tag !== TAG.octetString || inner.value.length < 1 || inner.value.length > MAX_NONCE) throw new DerError(`a nonce is 1 to ${MAX_NONCE} octets`);
    return value;
  }
  return undefined;
}

/** An OCSPResponse without responseBytes: every status but `successful`. */
export const statusOnlyResponse = (status: Exclude<keyof typeof OCSP_STATUS, 'successful'>): Uint8Array => sequence(enumerated(OCSP_STATUS[status]));

/** The CA's name hash and key hash under one algorithm, as a CertID names its issuer. */
function issuerHashes(ca: TenantCa, hash: 'sha1' | 'sha256'): { name: Buffer; key: Buffer } {
  const fields = caFields(ca);
  return { name: createHash(hash).update(fields.subject).digest(), key: createHash(hash).update(fields.publicKeyBits).digest() };
}

/**
 * The tenant card CA's OCSP responder (RFC 6960). Answers are signed by the CA key itself (§4.2.2.2,
 * first case): the responder is the issuer, so relying parties need nothing but the CA certificate.
 * Status comes from the register of issued certificates: revoked (with time and reason), good (issued
 * and not revoked), unknown (never issued here). A request that is not a well-formed OCSPRequest gets
 * `malformedRequest`; one about another issuer's certificate (or a tenant without a CA) `unauthorized`.
 */
export class OcspResponder {
  readonly #directory: DirectoryStore;
  readonly #keys: ResidentKeys;
  readonly #registry: CertificateRegistry;
  readonly #clock: Clock;
  readonly #signed: ReadCache<{ der: Uint8Array }>;

  constructor(directory: DirectoryStore, keys: ResidentKeys, registry: CertificateRegistry, clock: Clock) {
    this.#directory = directory;
    this.#keys = keys;
    this.#registry = registry;
    this.#clock = clock;
    this.#signed = new ReadCache(clock, OCSP_REUSE_SECONDS * 1000, 1000);
  }

  async respond(tenant: string, requestDer: Uint8Array): Promise<Uint8Array> {
    let request: ParsedRequest;
    try {
      request = parseOcspRequest(requestDer);
    } catch (error) {
      if (error instanceof DerError) return statusOnlyResponse('malformedRequest');
      throw error;
    }
    const ca = await readAuthority(this.#directory, tenant);
    if (!ca) return statusOnlyResponse('unauthorized');
    for (const single of request.requests) {
      const hashes = issuerHashes(ca, single.hash);
      if (!hashes.name.equals(single.issuerNameHash) || !hashes.key.equals(single.issuerKeyHash)) return statusOnlyResponse('unauthorized');
    }
    const statuses: Uint8Array[] = [];
    for (const single of request.requests) {
      const record = await this.#registry.get(tenant, single.serial);
      if (!record)
        statuses.push(new Uint8Array([contextTag(2, false), 0])); // unknown [2] IMPLICIT NULL
      else if (record.status === 'revoked' && record.revokedAt && record.reason) {
        // revoked [1] IMPLICIT RevokedInfo { revocationTime, [0] EXPLICIT CRLReason }
        const info = sequence(generalizedTime(new Date(record.revokedAt)), explicit(0, enumerated(REVOCATION_REASONS[record.reason])));
        statuses.push(new Uint8Array([contextTag(1), ...info.subarray(1)]));
      } else statuses.push(new Uint8Array([contextTag(0, false), 0])); // good [0] IMPLICIT NULL
    }
    const sign = async () => ({ der: await this.#sign(ca, request, statuses) });
    // A nonce makes every answer unique; without one, the same certificates in the same states reuse it.
    if (request.nonce) return (await sign()).der;
    const key = [
      tenant,
      ca.keyId,
      ...request.requests.map((single, i) => `${Buffer.from(single.certIdRaw).toString('hex')}:${Buffer.from(statuses[i]!).toString('hex')}`),
    ].join('|');
    return (await this.#signed.get(key, sign))!.der;
  }

  async #sign(ca: TenantCa, request: ParsedRequest, statuses: readonly Uint8Array[]): Promise<Uint8Array> {
    const now = new Date(Math.floor(this.#clock.now() / 1000) * 1000);
    const nextUpdate = new Date(now.getTime() + OCSP_VALIDITY_SECONDS * 1000);
    const responses = request.requests.map((single, i) =>
      sequence(single.certIdRaw, statuses[i]!, generalizedTime(now), explicit(0, generalizedTime(nextUpdate))),
    );
    const responderKeyHash = issuerHashes(ca, 'sha1').key; // ResponderID byKey is always SHA-1 (§4.2.1)
    const responseData = sequence(
      explicit(2, octetString(responderKeyHash)),
      generalizedTime(now),
      sequence(...responses),
      ...(request.nonce ? [explicit(1, sequence(sequence(oid(OID.nonce), octetString(request.nonce))))] : []),
    );
    const signature = await this.#keys.signMessage(ca.keyId, 'ECDSA_SHA_256', responseData, 'card-ca');
    const basic = sequence(responseData, sequence(oid(OID.ecdsaWithSha256)), bitString(signature));
    return sequence(enumerated(OCSP_STATUS.successful), explicit(0, sequence(oid(OID.basicResponse), octetString(basic))));
  }
}
