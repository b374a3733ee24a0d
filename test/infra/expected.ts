import type { ContextName } from '../../lambdas/contexts.ts';
import type { FunctionGrants } from '../../lib/grants.ts';
import type { Json } from './support.ts';

/**
 * What each grant-matrix entry must turn into, written out independently of lib/ so a change in how a
 * grant is implemented (a CDK upgrade widening grantReadWriteData, a new KMS action) shows up here.
 */
export const TABLE_READ = [
  'dynamodb:BatchGetItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:Query',
  'dynamodb:Scan',
];
export const TABLE_READ_WRITE = [...TABLE_READ, 'dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
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
  portal: { kek: ['kms:Decrypt'], kekCard: 'totp', signing: [] },
  // The card service and admin never open the other functions' secrets under the same KEK.
  card: { kek: ['kms:Decrypt', 'kms:Encrypt'], kekNotCards: ['oidc-signing', 'totp'], signing: [] },
  admin: { kek: ['kms:DescribeKey', 'kms:Encrypt'], kekNotCards: ['oidc-signing', 'totp'], signing: ['kms:DescribeKey', 'kms:GetPublicKey'] },
};

export const sorted = (actions: Iterable<string>): string[] => [...new Set(actions)].sort();

export function expectedIdentityActions(grants: FunctionGrants): Record<string, string[]> {
  return {
    directory: sorted(grants.directory === 'readWrite' ? TABLE_READ_WRITE : TABLE_READ),
    state: sorted(grants.state === 'readWrite' ? TABLE_READ_WRITE : TABLE_READ),
    logs: sorted(LOG_WRITE),
    '*': sorted(XRAY),
  };
}

export const expectedKekActions = (grants: FunctionGrants): string[] => sorted(grants.cardKek.capabilities.flatMap((c) => KEK_ACTIONS[c]));
export const expectedSigningActions = (grants: FunctionGrants): string[] => sorted(grants.signingKey.flatMap((c) => SIGNING_ACTIONS[c]));

/** The resident-key capabilities each function must end up with (independent of lib/grants.ts). */
export const EXPECTED_RESIDENT_KEYS: Readonly<Record<ContextName, readonly ('create' | 'use' | 'destroy')[]>> = {
  oidc: [],
  saml: [],
  portal: [],
  // GENERATE on a KMS-resident card makes a key and destroys the one it replaces.
  card: ['create', 'use', 'destroy'],
  // Enrolment makes card keys and the tenant CA key, signs certificates; delete destroys the keys.
  admin: ['create', 'use', 'destroy'],
};

/** "arn:{partition}:kms:{region}:{account}:key/*" as the template writes it. */
export const ANY_KEY_IN_ACCOUNT = {
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':kms:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':key/*']],
};

/**
 * The identity-policy statements resident keys must turn into, per `Effect action`, written out literally:
 * every allow conditioned on the stage's cloudcard:stack tag (in the request, or on the key).
 */
export function expectedResidentKeyStatements(
  capabilities: readonly ('create' | 'use' | 'destroy')[],
  stage: string,
  ownKeys: unknown[],
): Record<string, { resources: unknown[]; Condition?: Json }> {
  const stackTag = `cloudcard-${stage}`;
  const tagKeys = { 'aws:TagKeys': ['cloudcard:stack', 'cloudcard:tenant', 'cloudcard:purpose'] };
  const onTagged = (extra: Json = {}) => ({ resources: [ANY_KEY_IN_ACCOUNT], Condition: { StringEquals: { 'aws:ResourceTag/cloudcard:stack': stackTag, ...extra } } });
  const out: Record<string, { resources: unknown[]; Condition?: Json }> = {};
  if (capabilities.includes('create')) {
    out['Allow kms:CreateKey'] = {
      resources: ['*'],
      Condition: {
        StringEquals: {
          'aws:RequestTag/cloudcard:stack': stackTag,
          'kms:KeySpec': ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384'],
          'kms:KeyUsage': ['SIGN_VERIFY', 'KEY_AGREEMENT'],
          'kms:KeyOrigin': 'AWS_KMS',
        },
        'ForAllValues:StringEquals': tagKeys,
      },
    };
    out['Allow kms:TagResource'] = {
      resources: ['*'],
      Condition: { StringEquals: { 'aws:RequestTag/cloudcard:stack': stackTag }, 'ForAllValues:StringEquals': tagKeys },
    };
  }
  if (capabilities.includes('use')) {
    out['Allow kms:Sign'] = onTagged({
      'kms:SigningAlgorithm': ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512', 'ECDSA_SHA_256', 'ECDSA_SHA_384'],
    });
    out['Allow kms:DeriveSharedSecret'] = onTagged({ 'kms:KeyAgreementAlgorithm': 'ECDH' });
    out['Allow kms:GetPublicKey'] = onTagged();
  }
  if (capabilities.includes('destroy')) out['Allow kms:ScheduleKeyDeletion'] = onTagged();
  if (capabilities.length > 0) {
    // Tagging is access control here: never on (nor deleting) the stack's own KEK and signing key.
    for (const action of ['kms:TagResource', 'kms:UntagResource', 'kms:ScheduleKeyDeletion']) out[`Deny ${action}`] = { resources: ownKeys };
  }
  return out;
}
