/**
 * GENERAL AUTHENTICATE (INS 87), SP 800-73-4 Part 2 §3.2.4: private-key operations on the asymmetric slots
 * and the 9B management-key authentication, all in the dynamic authentication template 7C.
 */
import { createPublicKey } from 'node:crypto';
import { SW } from '../apdu.ts';
import { ASYMMETRIC_IDS, blockBytes, isKnownAlgorithmId, isRsa, keyBytes, MANAGEMENT_IDS, publicKeyParts } from '../algorithms.ts';
import type { PivSlot, PrivateKeyOperation, SlotInfo } from '../card-port.ts';
import { encryptBlock, matchesHash, sha256 } from '../management-key.ts';
import { fromBase64, toBase64, type PivSessionState } from '../session.ts';
import { decodeMap, decodeOne, tlv } from '../tlv.ts';
import { status, type CommandContext, type Outcome } from './context.ts';

const WITNESS = 0x80;
const CHALLENGE = 0x81;
const RESPONSE = 0x82;
const EXPONENTIATION = 0x85;

/** Key references of the asymmetric slots GENERAL AUTHENTICATE can use. */
export const SLOT_OF_REFERENCE: ReadonlyMap<number, PivSlot> = new Map([
  [0x9a, '9a'],
  [0x9c, '9c'],
  [0x9d, '9d'],
  [0x9e, '9e'],
  [0xf9, 'f9'],
]);

const MANAGEMENT_REFERENCE = 0x9b;
/** Retired key-management slots: valid references, but this card keeps no retired keys. */
const isRetired = (reference: number): boolean => reference >= 0x82 && reference <= 0x95;

/** Digests longer than SHA-512 are not digests; ECDSA inputs above this size are refused. */
const MAX_DIGEST_BYTES = 64;

/** The 7C template's members, or undefined when it is malformed. */
function template(data: Uint8Array): Map<number, Uint8Array> | undefined {
  const outer = decodeOne(data);
  if (!outer || outer.tag !== 0x7c) return undefined;
  return decodeMap(outer.value, [WITNESS, CHALLENGE, RESPONSE, EXPONENTIATION]);
}

export async function generalAuthenticate(context: CommandContext): Promise<Outcome> {
  const { command, base } = context;
  const reference = command.p2;
  if (reference !== MANAGEMENT_REFERENCE && !SLOT_OF_REFERENCE.has(reference) && !isRetired(reference)) {
    return status(SW.INCORRECT_P1P2, base);
  }
  if (!isKnownAlgorithmId(command.p1)) return status(SW.INCORRECT_P1P2, base);
  if (command.data.length === 0) return status(SW.WRONG_LENGTH, base);
  const members = template(command.data);
  if (!members) return status(SW.INCORRECT_DATA, base);
  if (reference === MANAGEMENT_REFERENCE) return managementAuthenticate(context, members);
  const slot = SLOT_OF_REFERENCE.get(reference);
  if (!slot) return status(SW.REFERENCE_NOT_FOUND, base);
  return privateKeyOperation(context, slot, members);
}

// --------------------------------------------------------------------------------- asymmetric slots

function pinSatisfied(policy: SlotInfo['pinPolicy'], previous: PivSessionState): boolean {
  if (policy === 'never') return true;
  if (policy === 'once') return previous.pinVerified;
  // 'always': the PIN must have been verified by the command right before this one.
  return previous.pinVerified && previous.pinJustVerified;
}

/** Whether a big-endian block is numerically below the modulus (raw RSA needs m < n). */
function lessThan(block: Uint8Array, modulus: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) {
    if (block[i]! !== modulus[i]!) return block[i]! < modulus[i]!;
  }
  return false;
}

/** Whether an uncompressed point lies on the curve (node refuses off-curve points when importing). */
function pointOnCurve(point: Uint8Array, size: number, curve: 'P-256' | 'P-384'): boolean {
  if (point.length !== 1 + 2 * size || point[0] !== 0x04) return false;
  try {
    const x = Buffer.from(point.subarray(1, 1 + size)).toString('base64url');
    const y = Buffer.from(point.subarray(1 + size)).toString('base64url');
    createPublicKey({ key: { kty: 'EC', crv: curve, x, y }, format: 'jwk' });
    return true;
  } catch {
    return false;
  }
}

async function privateKeyOperation(context: CommandContext, slot: PivSlot, members: Map<number, Uint8Array>): Promise<Outcome> {
  const { command, base, previous, deps } = context;
  const info = await deps.card.slot(slot);
  if (!info) return status(SW.REFERENCE_NOT_FOUND, base);
  if (command.p1 !== ASYMMETRIC_IDS[info.algorithm]) return status(SW.INCORRECT_DATA, base);
  const response = members.get(RESPONSE);
  const challenge = members.get(CHALLENGE);
  const exponentiation = members.get(EXPONENTIATION);
  // The host asks for the result (82 empty) of exactly one input: 81 (sign/decrypt) or 85 (ECDH).
  const valid = response?.length === 0 && members.size === 2 && !members.has(WITNESS) && (challenge?.length || exponentiation?.length);
  if (!valid) return status(SW.INCORRECT_DATA, base);
  const parts = publicKeyParts(info.publicKey);
  if (!parts) return status(SW.REFERENCE_DATA_NOT_USABLE, base);
  const size = keyBytes(info.algorithm);
  let operation: PrivateKeyOperation;
  if (isRsa(info.algorithm)) {
    if (!challenge || challenge.length !== size || parts.kind !== 'rsa' || !lessThan(challenge, parts.modulus)) {
      return status(SW.INCORRECT_DATA, base);
    }
    operation = { kind: 'rsa-raw', block: challenge };
  } else if (challenge) {
    if (challenge.length > MAX_DIGEST_BYTES) return status(SW.INCORRECT_DATA, base);
    operation = { kind: 'ecdsa', digest: challenge };
  } else {
    const curve = info.algorithm === 'p256' ? 'P-256' : 'P-384';
    if (!exponentiation || !pointOnCurve(exponentiation, size, curve)) return status(SW.INCORRECT_DATA, base);
    operation = { kind: 'ecdh', peerPoint: exponentiation };
  }
  if (!pinSatisfied(info.pinPolicy, previous)) return status(SW.SECURITY_STATUS_NOT_SATISFIED, base);
  const result = await deps.card.privateKeyOperation(slot, operation);
  // 6A80, not 6A81: OpenSC maps 6A81 to CKR_TOKEN_NOT_RECOGNIZED, 6A80 to CKR_DATA_INVALID, which is what it is
  // (e.g. an RSA-PSS block a KMS-resident key cannot sign).
  if (result.kind === 'unsupported') return status(SW.INCORRECT_DATA, base);
  return { sw: SW.OK, data: tlv(0x7c, tlv(RESPONSE, result.output)), state: base };
}

// ------------------------------------------------------------------------------------ 9B management key

/**
 * The four exchanges SP 800-73-4 Appendix A.1 allows, yubico-piv-tool using the first two:
 * - `7C{80 ∅}`: the card sends a witness, a random block encrypted under the key;
 * - `7C{80 W, 81 C}`: the host returns the decrypted witness and its own challenge; the card, once the
 *   witness matches, is authenticated and proves itself by answering `7C{82 E(C)}` (mutual);
 * - `7C{81 ∅}`: the card sends a plain challenge C;
 * - `7C{82 E(C)}`: the host answers it (one-way, host to card).
 * A witness or challenge lives for one command only: anything else in between voids it.
 */
async function managementAuthenticate(context: CommandContext, members: Map<number, Uint8Array>): Promise<Outcome> {
  const { command, base, previous, deps } = context;
  const { algorithm, key } = await deps.card.managementKey();
  // 00 is SP 800-78's legacy identifier (three-key 3DES, once the only 9B algorithm). OpenSC's GET CHALLENGE
  // sends it whatever the key is, so it stands for "the card's 9B algorithm": the key alone decides.
  const matches = command.p1 === MANAGEMENT_IDS[algorithm] || command.p1 === 0x00;
  if (!matches) return status(SW.INCORRECT_DATA, base);
  if (members.has(EXPONENTIATION)) return status(SW.INCORRECT_DATA, base);
  const block = blockBytes(algorithm);
  const witness = members.get(WITNESS);
  const challenge = members.get(CHALLENGE);
  const response = members.get(RESPONSE);
  const pending = previous.adminChallenge?.algorithm === command.p1 ? previous.adminChallenge : undefined;
  const failed = status(SW.SECURITY_STATUS_NOT_SATISFIED, { ...base, adminAuthenticated: false });

  // Request for a witness.
  if (witness?.length === 0 && members.size === 1) {
    const plain = deps.random.bytes(block);
    const adminChallenge = { step: 'witness' as const, algorithm: command.p1, expectedHash: toBase64(sha256(plain)) };
    return { sw: SW.OK, data: tlv(0x7c, tlv(WITNESS, encryptBlock(algorithm, key, plain))), state: { ...base, adminChallenge } };
  }
  // Decrypted witness, optionally with the host's challenge (and an empty 82 asking for the answer).
  if (witness && witness.length > 0 && (response === undefined || response.length === 0)) {
    if (witness.length !== block || (challenge !== undefined && challenge.length !== block)) return status(SW.INCORRECT_DATA, base);
    if (challenge === undefined && response !== undefined) return status(SW.INCORRECT_DATA, base);
    if (pending?.step !== 'witness') return status(SW.CONDITIONS_NOT_SATISFIED, base);
    if (!matchesHash(witness, fromBase64(pending.expectedHash))) return failed;
    const authenticated = { ...base, adminAuthenticated: true };
    if (!challenge) return status(SW.OK, authenticated);
    return { sw: SW.OK, data: tlv(0x7c, tlv(RESPONSE, encryptBlock(algorithm, key, challenge))), state: authenticated };
  }
  // Request for a challenge.
  if (challenge?.length === 0 && members.size === 1) {
    const plain = deps.random.bytes(block);
    const expectedHash = toBase64(sha256(encryptBlock(algorithm, key, plain)));
    return {
      sw: SW.OK,
      data: tlv(0x7c, tlv(CHALLENGE, plain)),
      state: { ...base, adminChallenge: { step: 'challenge', algorithm: command.p1, expectedHash } },
    };
  }
  // The host's answer to the card's challenge.
  if (response && response.length > 0 && members.size === 1) {
    if (response.length !== block) return status(SW.INCORRECT_DATA, base);
    if (pending?.step !== 'challenge') return status(SW.CONDITIONS_NOT_SATISFIED, base);
    return matchesHash(response, fromBase64(pending.expectedHash)) ? status(SW.OK, { ...base, adminAuthenticated: true }) : failed;
  }
  return status(SW.INCORRECT_DATA, base);
}
