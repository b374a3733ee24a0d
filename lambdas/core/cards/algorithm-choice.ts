import type { PivAlgorithm } from '../piv/card-port.ts';
import type { SlotKeyRecord } from './slot-keys.ts';

/**
 * Why KMS-resident RSA is limited, said wherever the choice is made: the card gets the host's padded
 * block, KMS signs only a digest, and only a PKCS#1 v1.5 block shows which digest it is. RSA-PSS blocks
 * (TLS 1.3 always, OpenSSL's TLS 1.2 by default) hide it, and decryption needs the raw private key.
 */
export const RESIDENT_RSA_LIMITS =
  'KMS-resident RSA keys sign PKCS#1 v1.5 blocks only: RSA-PSS (TLS 1.3 client authentication, and OpenSSL TLS 1.2 unless the client is limited to rsa_pkcs1 signature algorithms) and RSA decryption are refused (6A80, which OpenSC reports as CKR_DATA_INVALID)';

/** The explicit acknowledgement that enrols a KMS-resident RSA slot anyway. */
export const RESIDENT_RSA_ACCEPTANCE = 'pkcs1-only';

export interface AlgorithmChoice {
  readonly custody: SlotKeyRecord['custody'];
  /** What the request named for this slot (per-slot or card-wide), if anything. */
  readonly requested: PivAlgorithm | undefined;
  readonly tenantDefault: PivAlgorithm;
  readonly allowed: readonly PivAlgorithm[];
  /** The request's `residentRsa`: 'pkcs1-only' accepts the limits above. */
  readonly residentRsa: string | undefined;
}

/**
 * The algorithm a slot is enrolled with. Under KMS-resident custody an RSA tenant default gives way to
 * an allowed EC algorithm (P-256 first), and an RSA algorithm the request names needs the explicit
 * acknowledgement; the result then carries a warning. Returns an error text instead when refused.
 */
export function chooseSlotAlgorithm(
  choice: AlgorithmChoice,
): { algorithm: PivAlgorithm; warning?: string } | { refused: 'not-allowed' | 'resident-rsa'; algorithm: PivAlgorithm; error: string } {
  const isRsa = (a: PivAlgorithm): boolean => a.startsWith('rsa');
  const pick = (algorithm: PivAlgorithm) =>
    choice.allowed.includes(algorithm) ? undefined : { refused: 'not-allowed' as const, algorithm, error: `algorithm ${algorithm} is not allowed` };
  if (choice.custody !== 'kms-resident') {
    const algorithm = choice.requested ?? choice.tenantDefault;
    const refused = pick(algorithm);
    return refused ?? { algorithm };
  }
  if (choice.requested === undefined && isRsa(choice.tenantDefault)) {
    const ec = (['p256', 'p384'] as const).find((a) => choice.allowed.includes(a));
    if (ec) return { algorithm: ec };
  }
  const algorithm = choice.requested ?? choice.tenantDefault;
  const refused = pick(algorithm);
  if (refused) return refused;
  if (!isRsa(algorithm)) return { algorithm };
  if (choice.residentRsa !== RESIDENT_RSA_ACCEPTANCE) {
    return {
      refused: 'resident-rsa',
      algorithm,
      error: `${RESIDENT_RSA_LIMITS}; enrol p256 instead, or accept the limits explicitly with residentRsa "${RESIDENT_RSA_ACCEPTANCE}" (CLI --resident-rsa ${RESIDENT_RSA_ACCEPTANCE})`,
    };
  }
  return { algorithm, warning: RESIDENT_RSA_LIMITS };
}
