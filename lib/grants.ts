import type { ContextName } from '../lambdas/contexts.ts';

/**
 * What each function may touch: the one place least privilege is decided. The stack applies it with the
 * constructs' grant* methods and test/infra checks the synthesized policies against it.
 */
export type TableAccess = 'read' | 'readWrite';
export type KekCapability = 'wrap' | 'unwrap' | 'describe';
export type SigningCapability = 'sign' | 'getPublicKey' | 'describe';

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
  },
  // SAML signs with the tenant's token keys (the same wrapped key ring as oidc): it only opens them.
  saml: {
    directory: 'readWrite',
    state: 'readWrite',
    cardKek: { capabilities: ['unwrap'], contextCard: OIDC_SIGNING_CONTEXT_CARD },
    signingKey: ['sign', 'getPublicKey'],
  },
  // TOTP secrets are wrapped under the KEK ({tenant, card: 'totp', slot: username}); the portal only opens them.
  portal: { directory: 'readWrite', state: 'readWrite', cardKek: { capabilities: ['unwrap'], contextCard: TOTP_CONTEXT_CARD }, signingKey: [] },
  // The card service wraps and unwraps card keys; it signs nothing with the stack key.
  card: {
    directory: 'readWrite',
    state: 'readWrite',
    cardKek: { capabilities: ['wrap', 'unwrap'], excludedContextCards: [OIDC_SIGNING_CONTEXT_CARD, TOTP_CONTEXT_CARD] },
    signingKey: [],
  },
  // The health check proves both keys reachable with DescribeKey; enrolment wraps new keys; the JWKS needs the public key.
  admin: {
    directory: 'readWrite',
    state: 'readWrite',
    cardKek: { capabilities: ['wrap', 'describe'], excludedContextCards: [OIDC_SIGNING_CONTEXT_CARD, TOTP_CONTEXT_CARD] },
    signingKey: ['getPublicKey', 'describe'],
  },
};
