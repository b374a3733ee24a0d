import type { ContextName } from '../../lambdas/contexts.ts';
import type { FunctionGrants, TableAccess } from '../../lib/grants.ts';
import type { Json } from './support.ts';

/**
 * What each grant-matrix entry must turn into, written out independently of lib/ so a change in how a
 * grant is implemented (a CDK upgrade widening grantReadWriteData, a new KMS action) shows up here.
 */
export const ITEM_READ = ['dynamodb:GetItem', 'dynamodb:Query'];
export const ITEM_WRITE = ['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
export const LOG_WRITE = ['logs:CreateLogStream', 'logs:PutLogEvents'];
export const XRAY = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];

const KEK_ACTIONS = { wrap: ['kms:Encrypt'], unwrap: ['kms:Decrypt'], describe: ['kms:DescribeKey'] } as const;
const SIGNING_ACTIONS = { sign: ['kms:Sign'], getPublicKey: ['kms:GetPublicKey'], describe: ['kms:DescribeKey'] } as const;

/**
 * The key use each function must end up with in the key policies, written out literally: the KEK actions
 * (and the one `card` encryption-context value they are limited to, if any) and the signing-key actions.
 */
export const EXPECTED_KEY_USE: Readonly<Record<ContextName, { kek: string[]; kekCard?: string; kekNotCards?: string[]; signing: string[] }>> = {
  oidc: { kek: ['kms:Decrypt', 'kms:Encrypt'], kekCard: 'oidc-signing', signing: ['kms:GetPublicKey', 'kms:Sign'] },
  saml: { kek: ['kms:Decrypt'], kekCard: 'oidc-signing', signing: ['kms:GetPublicKey', 'kms:Sign'] },
  portal: { kek: ['kms:Decrypt', 'kms:Encrypt'], kekCard: 'totp', signing: [] },
  // The card service and admin never open the other functions' secrets under the same KEK.
  card: { kek: ['kms:Decrypt', 'kms:Encrypt'], kekNotCards: ['oidc-signing', 'totp'], signing: [] },
  admin: { kek: ['kms:DescribeKey', 'kms:Encrypt'], kekNotCards: ['oidc-signing', 'totp'], signing: ['kms:DescribeKey', 'kms:GetPublicKey'] },
  // The public PKI endpoints touch neither the KEK nor the stack signing key.
  pki: { kek: [], signing: [] },
};

export const sorted = (actions: Iterable<string>): string[] => [...new Set(actions)].sort();

/** The identity actions that are not table access (those are asserted statement by statement). */
export function expectedIdentityActions(context: ContextName): Record<string, string[]> {
  const relay = EXPECTED_LOGOUT_RELAY[context];
  return { logs: sorted(LOG_WRITE), '*': sorted(XRAY), ...(relay ? { [`function:${relay}`]: ['lambda:InvokeFunction'] } : {}) };
}

/**
 * The functions that end sessions without holding the token-signing key hand relying-party logouts to
 * the oidc function (an asynchronous invoke): written out literally, independent of lib/grants.ts.
 */
export const EXPECTED_LOGOUT_RELAY: Readonly<Partial<Record<ContextName, ContextName>>> = { admin: 'oidc', portal: 'oidc' };

/**
 * The statements one table's access must turn into: item reads and index queries, item writes, each
 * bound to exactly the matrix's partition patterns by ForAllValues:StringLike on dynamodb:LeadingKeys.
 */
export function expectedTableStatements(access: TableAccess, tableId: string): Json[] {
  const table = { 'Fn::GetAtt': [tableId, 'Arn'] };
  const index = { 'Fn::Join': ['', [table, '/index/*']] };
  const on = (patterns: readonly string[]) => ({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...patterns] } });
  return [
    ...(access.read.length
      ? [
          { Effect: 'Allow', actions: ITEM_READ, resources: [table], Condition: on(access.read) },
          { Effect: 'Allow', actions: ['dynamodb:Query'], resources: [index], Condition: on(access.read) },
        ]
      : []),
    ...(access.write.length ? [{ Effect: 'Allow', actions: ITEM_WRITE, resources: [table], Condition: on(access.write) }] : []),
  ];
}

export const expectedKekActions = (grants: FunctionGrants): string[] => sorted(grants.cardKek.capabilities.flatMap((c) => KEK_ACTIONS[c]));
export const expectedSigningActions = (grants: FunctionGrants): string[] => sorted(grants.signingKey.flatMap((c) => SIGNING_ACTIONS[c]));

type Purpose = 'card-key' | 'card-ca' | 'card-list';
export interface ExpectedResidentKeys {
  readonly create: readonly Purpose[];
  readonly sign: readonly Purpose[];
  readonly agree: readonly Purpose[];
  readonly destroy: readonly Purpose[];
}

/** The resident-key purposes each function may create, sign or agree with, destroy (independent of lib/grants.ts). */
export const EXPECTED_RESIDENT_KEYS: Readonly<Record<ContextName, ExpectedResidentKeys>> = {
  oidc: { create: [], sign: [], agree: [], destroy: [] },
  saml: { create: [], sign: [], agree: [], destroy: [] },
  portal: { create: [], sign: [], agree: [], destroy: [] },
  // GENERATE on a KMS-resident card makes a key and destroys the one it replaces; the card list is signed
  // by the card-list key. Never the CA key.
  card: { create: ['card-key'], sign: ['card-key', 'card-list'], agree: ['card-key'], destroy: ['card-key'] },
  // Enrolment makes card keys, the tenant CA key and card-list key, signs certificates with the CA key and
  // the new card's CHUID and Security Object with the card-list key (the PIV content signer); delete (and a
  // lost creation race) destroys keys.
  admin: { create: ['card-key', 'card-ca', 'card-list'], sign: ['card-ca', 'card-list'], agree: [], destroy: ['card-key', 'card-ca', 'card-list'] },
  // CRL refresh and OCSP answers are signed by the tenant CA key; it makes and destroys nothing.
  pki: { create: [], sign: ['card-ca'], agree: [], destroy: [] },
};

/** The HMAC keys each function may GenerateMac with: the session seal is the card function's alone. */
export const EXPECTED_MAC_KEYS: Readonly<Record<ContextName, readonly ('cardSession' | 'cardPin')[]>> = {
  oidc: [],
  saml: [],
  portal: [],
  card: ['cardSession', 'cardPin'],
  admin: ['cardPin'],
  pki: [],
};

/** The HMAC keys each function may VerifyMac with: PIN checks happen in the card function only. */
export const EXPECTED_MAC_VERIFY_KEYS: Readonly<Record<ContextName, readonly ('cardSession' | 'cardPin')[]>> = {
  oidc: [],
  saml: [],
  portal: [],
  card: ['cardPin'],
  admin: [],
  pki: [],
};

/** "arn:{partition}:kms:{region}:{account}:key/*" as the template writes it. */
export const ANY_KEY_IN_ACCOUNT = {
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':kms:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':key/*']],
};

/**
 * The identity-policy statements resident keys must turn into, per `Effect action`, written out literally:
 * every allow conditioned on the stage's cloudcard:stack tag and on the purposes granted (in the request,
 * or on the key).
 */
export function expectedResidentKeyStatements(
  grant: ExpectedResidentKeys,
  stage: string,
  ownKeys: unknown[],
): Record<string, { resources: unknown[]; Condition?: Json }> {
  const stackTag = `cloudcard-${stage}`;
  const tagKeys = { 'aws:TagKeys': ['cloudcard:stack', 'cloudcard:tenant', 'cloudcard:purpose'] };
  const onTagged = (purposes: readonly string[], extra: Json = {}) => ({
    resources: [ANY_KEY_IN_ACCOUNT],
    Condition: { StringEquals: { 'aws:ResourceTag/cloudcard:stack': stackTag, 'aws:ResourceTag/cloudcard:purpose': [...purposes], ...extra } },
  });
  const out: Record<string, { resources: unknown[]; Condition?: Json }> = {};
  if (grant.create.length) {
    const requestTags = { 'aws:RequestTag/cloudcard:stack': stackTag, 'aws:RequestTag/cloudcard:purpose': [...grant.create] };
    out['Allow kms:CreateKey'] = {
      resources: ['*'],
      Condition: {
        StringEquals: {
          ...requestTags,
          'kms:KeySpec': ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384'],
          'kms:KeyUsage': ['SIGN_VERIFY', 'KEY_AGREEMENT'],
          'kms:KeyOrigin': 'AWS_KMS',
        },
        'ForAllValues:StringEquals': tagKeys,
      },
    };
    out['Allow kms:TagResource'] = { resources: ['*'], Condition: { StringEquals: requestTags, 'ForAllValues:StringEquals': tagKeys } };
  }
  if (grant.sign.length) {
    out['Allow kms:Sign'] = onTagged(grant.sign, {
      'kms:SigningAlgorithm': ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512', 'ECDSA_SHA_256', 'ECDSA_SHA_384'],
    });
  }
  if (grant.agree.length) out['Allow kms:DeriveSharedSecret'] = onTagged(grant.agree, { 'kms:KeyAgreementAlgorithm': 'ECDH' });
  const readable = [...new Set([...grant.create, ...grant.sign, ...grant.agree])];
  if (readable.length) out['Allow kms:GetPublicKey'] = onTagged(readable);
  if (grant.destroy.length) out['Allow kms:ScheduleKeyDeletion'] = onTagged(grant.destroy);
  if (Object.keys(out).length > 0) {
    // Tagging is access control here: never on a key that already has a purpose (no re-purposing a CA
    // key), nor on (nor deleting) the stack's own keys.
    out['Deny kms:TagResource'] = { resources: [ANY_KEY_IN_ACCOUNT], Condition: { Null: { 'aws:ResourceTag/cloudcard:purpose': 'false' } } };
    out['Deny kms:UntagResource'] = out['Deny kms:TagResource'];
    out['Deny kms:TagResource (own keys)'] = { resources: ownKeys };
    out['Deny kms:UntagResource (own keys)'] = { resources: ownKeys };
    out['Deny kms:ScheduleKeyDeletion'] = { resources: ownKeys };
  }
  return out;
}
