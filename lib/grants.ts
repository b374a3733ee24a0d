import type { ContextName } from '../lambdas/contexts.ts';
import type { ResidentKeyPurpose } from '../lambdas/ports.ts';

/**
 * What each function may touch: the one place least privilege is decided. The stack applies it with the
 * constructs' grant* methods and test/infra checks the synthesized policies against it.
 */
export type TableAccess = 'read' | 'readWrite';
export type KekCapability = 'wrap' | 'unwrap' | 'describe';
export type SigningCapability = 'sign' | 'getPublicKey' | 'describe';
/**
 * Resident keys (KMS asymmetric keys made at run time: KMS-resident card keys, each tenant's card CA key
 * and card-list key), granted per `cloudcard:purpose` tag value, always on keys tagged with the stack's
 * `cloudcard:stack` value:
 * create = kms:CreateKey + kms:TagResource carrying exactly the stack's tags and one of these purposes;
 * sign = kms:Sign, agree = kms:DeriveSharedSecret, destroy = kms:ScheduleKeyDeletion, each only on keys
 * whose purpose tag is listed; kms:GetPublicKey on keys of any purpose the function creates or uses.
 * So the card function cannot sign with a tenant CA key (a slot pointed at it signs nothing) and only
 * the admin function issues certificates.
 */
export interface ResidentKeyGrant {
  readonly create: readonly ResidentKeyPurpose[];
  readonly sign: readonly ResidentKeyPurpose[];
  readonly agree: readonly ResidentKeyPurpose[];
  readonly destroy: readonly ResidentKeyPurpose[];
}

/**
 * The stack's HMAC_256 keys (kms:GenerateMac, HMAC_SHA_256 only): `cardSession` seals card-session
 * security state (only the card function may, so nothing else can write "PIN verified"), `cardPin` keys
 * the PIN and PUK hashes (the card function checks and changes them, the admin function sets them).
 */
export type MacKeyName = 'cardSession' | 'cardPin';

/** Use of the card key-encryption key. */
export interface KekGrant {
  /** wrap = kms:Encrypt, unwrap = kms:Decrypt (both bound to exactly {tenant, card, slot}), describe = kms:DescribeKey. */
  readonly capabilities: readonly KekCapability[];
  /**
   * When set, wrap and unwrap are allowed only with this value as the `card` member of the encryption
   * context (a key-policy StringEquals on kms:EncryptionContext:card): the function can open its own kind
   * of secret and no card's private key.
   */
  readonly contextCard?: string;
  /**
   * `card` values this function may never wrap or unwrap under (a key-policy StringNotEquals): the card
   * service handles card keys, and must not be able to open token-signing keys or TOTP secrets.
   */
  readonly excludedContextCards?: readonly string[];
}

export interface FunctionGrants {
  readonly directory: TableAccess;
  readonly state: TableAccess;
  readonly cardKek: KekGrant;
  /** Token/assertion signing key: sign = kms:Sign (RS256/PS256 only), getPublicKey = kms:GetPublicKey, describe = kms:DescribeKey. */
  readonly signingKey: readonly SigningCapability[];
  /** Keys made at run time cannot be named in a key policy: these are IAM grants conditioned on tags. */
  readonly residentKeys: ResidentKeyGrant;
  /** The HMAC keys the function may derive subkeys from (key-policy statements naming its role). */
  readonly macKeys: readonly MacKeyName[];
}

const NO_RESIDENT_KEYS: ResidentKeyGrant = { create: [], sign: [], agree: [], destroy: [] };

/** Whether a grant gives any resident-key permission at all. */
export const grantsResidentKeys = (grant: ResidentKeyGrant): boolean => Object.values(grant).some((purposes) => purposes.length > 0);

/** The `card` values of the KEK encryption contexts that are not cards (lambdas/core: oidc/keys.ts, portal/totp.ts). */
export const OIDC_SIGNING_CONTEXT_CARD = 'oidc-signing';
export const TOTP_CONTEXT_CARD = 'totp';

export const GRANTS: Readonly<Record<ContextName, FunctionGrants>> = {
  // Per-tenant token signing keys are wrapped under the KEK ({tenant, card: 'oidc-signing', slot: kid});
  // tenants in `kms` signing mode sign with the stack's signing key, whose public half the JWKS publishes.
  oidc: {
    directory: 'readWrite',
    state: 'readWrite',
    cardKek: { capabilities: ['wrap', 'unwrap'], contextCard: OIDC_SIGNING_CONTEXT_CARD },
    signingKey: ['sign', 'getPublicKey'],
    residentKeys: NO_RESIDENT_KEYS,
    macKeys: [],
  },
  // SAML signs with the tenant's token keys (the same wrapped key ring as oidc): it only opens them.
  saml: {
    directory: 'readWrite',
    state: 'readWrite',
    cardKek: { capabilities: ['unwrap'], contextCard: OIDC_SIGNING_CONTEXT_CARD },
    signingKey: ['sign', 'getPublicKey'],
    residentKeys: NO_RESIDENT_KEYS,
    macKeys: [],
  },
  // TOTP secrets are wrapped under the KEK ({tenant, card: 'totp', slot: username}); the portal only opens them.
  portal: { directory: 'readWrite', state: 'readWrite', cardKek: { capabilities: ['unwrap'], contextCard: TOTP_CONTEXT_CARD }, signingKey: [], residentKeys: NO_RESIDENT_KEYS, macKeys: [] },
  // The card service wraps and unwraps card keys; it signs nothing with the stack key. KMS-resident card
  // keys sign and agree keys in KMS, and GENERATE on such a card makes a new key and destroys the old one.
  // It signs card lists with the tenant's card-list key, never with the CA key. It alone seals session
  // state; it checks and changes PINs.
  card: {
    directory: 'readWrite',
    state: 'readWrite',
    cardKek: { capabilities: ['wrap', 'unwrap'], excludedContextCards: [OIDC_SIGNING_CONTEXT_CARD, TOTP_CONTEXT_CARD] },
    signingKey: [],
    residentKeys: { create: ['card-key'], sign: ['card-key', 'card-list'], agree: ['card-key'], destroy: ['card-key'] },
    macKeys: ['cardSession', 'cardPin'],
  },
  // The health check proves both keys reachable with DescribeKey; enrolment wraps new keys; the JWKS needs
  // the public key. Enrolment makes KMS-resident card keys, the tenant's card CA key and card-list key,
  // and signs certificates with the CA key (and nothing else with any resident key); a lost creation race,
  // a failed enrolment and card deletion destroy resident keys. Enrolment and unblock set PIN hashes.
  admin: {
    directory: 'readWrite',
    state: 'readWrite',
    cardKek: { capabilities: ['wrap', 'describe'], excludedContextCards: [OIDC_SIGNING_CONTEXT_CARD, TOTP_CONTEXT_CARD] },
    signingKey: ['getPublicKey', 'describe'],
    residentKeys: { create: ['card-key', 'card-ca', 'card-list'], sign: ['card-ca'], agree: [], destroy: ['card-key', 'card-ca', 'card-list'] },
    macKeys: ['cardPin'],
  },
};
