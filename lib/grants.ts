import type { ContextName } from '../lambdas/contexts.ts';

/**
 * What each function may touch: the one place least privilege is decided. The stack applies it with the
 * constructs' grant* methods and test/infra checks the synthesized policies against it.
 */
export type TableAccess = 'read' | 'readWrite';
export type KekCapability = 'wrap' | 'unwrap' | 'describe';
export type SigningCapability = 'sign' | 'getPublicKey' | 'describe';

export interface FunctionGrants {
  readonly directory: TableAccess;
  readonly state: TableAccess;
  /** Card key-encryption key: wrap = kms:Encrypt, unwrap = kms:Decrypt (both bound to tenant/card/slot). */
  readonly cardKek: readonly KekCapability[];
  /** Token/assertion signing key: sign = kms:Sign (+ kms:GetPublicKey). */
  readonly signingKey: readonly SigningCapability[];
}

export const GRANTS: Readonly<Record<ContextName, FunctionGrants>> = {
  oidc: { directory: 'readWrite', state: 'readWrite', cardKek: [], signingKey: ['sign'] },
  saml: { directory: 'readWrite', state: 'readWrite', cardKek: [], signingKey: ['sign'] },
  portal: { directory: 'readWrite', state: 'readWrite', cardKek: [], signingKey: [] },
  card: { directory: 'readWrite', state: 'readWrite', cardKek: ['unwrap', 'wrap'], signingKey: ['sign'] },
  // The health check proves both keys reachable with DescribeKey; enrolment wraps new card keys.
  admin: { directory: 'readWrite', state: 'readWrite', cardKek: ['wrap', 'describe'], signingKey: ['getPublicKey', 'describe'] },
};
