import type { ContextName } from '../../lambdas/contexts.ts';
import type { FunctionGrants } from '../../lib/grants.ts';

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
