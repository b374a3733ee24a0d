import type { ContextName } from '../lambdas/contexts.ts';

/**
 * What each function may touch: the one place least privilege is decided. The stack applies it with the
 * constructs' grant* methods and test/infra checks the synthesized policies against it.
 */
export type TableAccess = 'read' | 'readWrite';
export type KekCapability = 'wrap' | 'unwrap' | 'describe';
export type SigningCapability = 'sign' | 'getPublicKey' | 'describe';
/**
 * Resident keys (KMS asymmetric keys made at run time: KMS-resident card keys, each tenant's card CA key):
 * create = kms:CreateKey + kms:TagResource carrying exactly the stack's tags, use = kms:Sign,
 * kms:GetPublicKey, kms:DeriveSharedSecret, destroy = kms:ScheduleKeyDeletion, the last two only on keys
 * tagged with the stack's `cloudcard:stack` value.
 */
export type ResidentKeyCapability = 'create' | 'use' | 'destroy';

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
  readonly residentKeys: readonly ResidentKeyCapability[];
}

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
    residentKeys: [],
  },
  // SAML signs with the tenant's token keys (the same wrapped key ring as oidc): it only opens them.
  saml: {
    directory: 'readWrite',
    state: 'readWrite',
    cardKek: { capabilities: ['unwrap'], contextCard: OIDC_SIGNING_CONTEXT_CARD },
    signingKey: ['sign', 'getPublicKey'],
    residentKeys: [],
  },
  // TOTP secrets are wrapped under the KEK ({tenant, card: 'totp', slot: username}); the portal only opens them.
  portal: { directory: 'readWrite', state: 'readWrite', cardKek: { capabilities: ['unwrap'], contextCard: TOTP_CONTEXT_CARD }, signingKey: [], residentKeys: [] },
  // The card service wraps and unwraps card keys; it signs nothing with the stack key. KMS-resident card
  // keys sign and agree keys in KMS, and GENERATE on such a card makes a new key and destroys the old one.
  card: {
    directory: 'readWrite',
    state: 'readWrite',
    cardKek: { capabilities: ['wrap', 'unwrap'], excludedContextCards: [OIDC_SIGNING_CONTEXT_CARD, TOTP_CONTEXT_CARD] },
    signingKey: [],
    residentKeys: ['create', 'use', 'destroy'],
  },
  // The health check proves both keys reachable with DescribeKey; enrolment wraps new keys; the JWKS needs
  // the public key. Enrolment makes KMS-resident card keys and the tenant's card CA key and signs
  // certificates with it; a failed enrolment and card deletion destroy resident keys.
  admin: {
    directory: 'readWrite',
    state: 'readWrite',
    cardKek: { capabilities: ['wrap', 'describe'], excludedContextCards: [OIDC_SIGNING_CONTEXT_CARD, TOTP_CONTEXT_CARD] },
    signingKey: ['getPublicKey', 'describe'],
    residentKeys: ['create', 'use', 'destroy'],
  },
};
