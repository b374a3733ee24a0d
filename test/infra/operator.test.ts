import { describe, expect, it } from '@jest/globals';
import { Match } from 'aws-cdk-lib/assertions';
import { readConfig } from '../../lib/config.ts';
import { residentKeyStackTag } from '../../lambdas/adapters/kms/resident-keys.ts';
import { evaluate, resolveIntrinsics, type IamRequest, type PolicyStatement } from '../support/iam-policy.ts';
import { logicalIdByPath, normalize, resourcesOfType, synth, type Json } from './support.ts';

/**
 * The operator path (`cloudcard --stack …`): with `operatorRoleArns` the roles are named in the key
 * policies and get one managed policy, and the requests the CLI's commands make (the README's deploy
 * steps: tenant, users, TOTP, card enrolment in both custodies, unblock, key rotation, disable, delete)
 * are evaluated against exactly what was synthesized: key-policy statements naming the role plus the
 * managed policy. What an operator must never do (unwrap a card key or TOTP secret, sign with the token
 * key or a card key) is refused.
 */
const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';
const OPERATOR = `arn:aws:iam::${ACCOUNT}:role/cloudcard-operator`;
const { template } = synth({ operatorRoleArns: [OPERATOR] });
const resources = template.toJSON()['Resources'] as Record<string, Json>;
const resolve = {
  ref: (id: string) => ({ 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::StackName': 'Cloudcard-dev' })[id] ?? id,
  getAtt: (id: string) => {
    const type = resources[id]?.['Type'];
    if (type === 'AWS::DynamoDB::Table') return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${id}`;
    if (type === 'AWS::KMS::Key') return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
    return `arn:aws:cloudformation:::${id}`;
  },
};
const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
const asEvaluable = (statement: ReturnType<typeof normalize>, resourceOverride?: string): PolicyStatement => ({
  Effect: statement.Effect,
  actions: statement.actions,
  // In a key policy "*" means the key itself.
  resources: resourceOverride ? [resourceOverride] : statement.resources.map((r) => resolveIntrinsics(r, resolve)),
  ...(statement.Condition ? { Condition: statement.Condition } : {}),
});

const keyId = (suffix: string) => logicalIdByPath(template, 'AWS::KMS::Key', suffix);
const keys = {
  kek: keyId('/Keys/CardKek/Resource'),
  signing: keyId('/Keys/SigningKey/Resource'),
  pin: keyId('/Keys/CardPinKey/Resource'),
  session: keyId('/Keys/CardSessionKey/Resource'),
};
const keyArn = (id: string) => resolve.getAtt(id);

/** Every statement that applies to the operator role: key policies naming it, and the managed policy. */
function operatorStatements(): PolicyStatement[] {
  const fromKeys = Object.values(keys).flatMap((id) =>
    list<Json>(resources[id]!['Properties']['KeyPolicy']['Statement'])
      .map(normalize)
      .filter((statement) => statement.principals.some((principal) => JSON.stringify(principal).includes(OPERATOR)))
      .map((statement) => asEvaluable(statement, keyArn(id))),
  );
  const [, policy] = resourcesOfType(template, 'AWS::IAM::ManagedPolicy').find(([, p]) =>
    String(p['Metadata']?.['aws:cdk:path']).endsWith('/Operators/Policy/Resource'),
  )!;
  const managed = list<Json>(policy['Properties']['PolicyDocument']['Statement']).map((statement) => asEvaluable(normalize(statement)));
  return [...fromKeys, ...managed];
}
const statements = operatorStatements();
const decide = (request: IamRequest) => evaluate(statements, request);

const table = (name: 'Directory' | 'State') => resolve.getAtt(logicalIdByPath(template, 'AWS::DynamoDB::Table', `/Data/${name}Table/Resource`));
const item = (action: string, name: 'Directory' | 'State', partition: string, index?: string): IamRequest => ({
  action: `dynamodb:${action}`,
  resource: index ? `${table(name)}/index/${index}` : table(name),
  context: { 'dynamodb:LeadingKeys': [partition] },
});
const wrap = (action: 'Encrypt' | 'Decrypt', card: string): IamRequest => ({
  action: `kms:${action}`,
  resource: keyArn(keys.kek),
  context: {
    'kms:EncryptionContextKeys': ['tenant', 'card', 'slot'],
    'kms:EncryptionContext:tenant': ['acme'],
    'kms:EncryptionContext:card': [card],
    'kms:EncryptionContext:slot': ['9a'],
  },
});
const STACK_TAG = residentKeyStackTag('dev');
const resident = (action: string, purpose: string, extra: Record<string, string[]> = {}): IamRequest => ({
  action: `kms:${action}`,
  resource: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
  context: { 'aws:ResourceTag/cloudcard:stack': [STACK_TAG], 'aws:ResourceTag/cloudcard:purpose': [purpose], ...extra },
});
const createResident = (purpose: string): IamRequest => ({
  action: 'kms:CreateKey',
  resource: '*',
  context: {
    'aws:RequestTag/cloudcard:stack': [STACK_TAG],
    'aws:RequestTag/cloudcard:purpose': [purpose],
    'aws:TagKeys': ['cloudcard:stack', 'cloudcard:tenant', 'cloudcard:purpose'],
    'kms:KeySpec': ['ECC_NIST_P256'],
    'kms:KeyUsage': ['SIGN_VERIFY'],
    'kms:KeyOrigin': ['AWS_KMS'],
  },
});

describe('operator access (context operatorRoleArns)', () => {
  it('validates the context: role ARNs only, comma-separated or an array', () => {
    expect(readConfig((key) => ({ operatorRoleArns: `${OPERATOR}, ${OPERATOR}2` })[key]).operatorRoleArns).toEqual([OPERATOR, `${OPERATOR}2`]);
    expect(readConfig(() => undefined).operatorRoleArns).toEqual([]);
    expect(() => readConfig((key) => ({ operatorRoleArns: 'arn:aws:iam::111122223333:user/bob' })[key])).toThrow(/operatorRoleArns/);
  });

  it('attaches one managed policy to the roles and publishes it as an output; without the context there is none', () => {
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', { Roles: ['cloudcard-operator'] });
    template.hasOutput('OperatorPolicyArn', { Value: { Ref: Match.anyValue() } });
    const plain = synth().template;
    expect(resourcesOfType(plain, 'AWS::IAM::ManagedPolicy').filter(([, p]) => String(p['Metadata']?.['aws:cdk:path']).includes('/Operators/'))).toHaveLength(
      0,
    );
    expect(JSON.stringify(plain.toJSON())).not.toContain('cloudcard-operator');
  });

  it('allows what the CLI commands of the deploy steps request', () => {
    const allowed: [string, IamRequest][] = [
      [
        'stack outputs',
        {
          action: 'cloudformation:DescribeStacks',
          resource: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/Cloudcard-dev/0d3c8a70-0000-11ef-0000-0a1b2c3d4e5f`,
          context: {},
        },
      ],
      ['tenant create', item('PutItem', 'Directory', 'T#acme')],
      ['tenant list', item('Query', 'Directory', 'TENANTS', 'GSI2')],
      ['user add', item('PutItem', 'Directory', 'T#acme')],
      ['user totp enroll: wrap the secret', wrap('Encrypt', 'totp')],
      ['keys rotate: wrap the new token key', wrap('Encrypt', 'oidc-signing')],
      ['keys rotate: publish', { action: 'kms:GetPublicKey', resource: keyArn(keys.signing), context: {} }],
      ['card enroll: the card item', item('PutItem', 'Directory', 'CARDS#acme')],
      ['card enroll: wrap a card key', wrap('Encrypt', 'c-0f3a')],
      ['card enroll: PIN hash', { action: 'kms:GenerateMac', resource: keyArn(keys.pin), context: { 'kms:MacAlgorithm': ['HMAC_SHA_256'] } }],
      ['card enroll: the tenant CA key', createResident('card-ca')],
      ['card enroll: a kms-resident card key', createResident('card-key')],
      ['card enroll: certificate signed by the CA', resident('Sign', 'card-ca', { 'kms:SigningAlgorithm': ['ECDSA_SHA_256'] })],
      ['card enroll: CHUID and Security Object signed by the card-list key', resident('Sign', 'card-list', { 'kms:SigningAlgorithm': ['ECDSA_SHA_256'] })],
      ['card delete: destroy a kms-resident key', resident('ScheduleKeyDeletion', 'card-key')],
      ['user disable: the owner index', item('Query', 'State', 'SUBJECT#acme#alice', 'GSI1')],
      ['user disable: revoke a grant', item('UpdateItem', 'State', 'GRANT#g1')],
      ['user disable: end a card session', item('UpdateItem', 'State', 'CARDSESS#h')],
      ['user unlock', item('DeleteItem', 'State', 'LOGINFAIL#USER#h')],
      ['client registration-token create', item('PutItem', 'State', 'IAT#h')],
      ['ca revoke: publish the CRL', item('PutItem', 'Directory', 'CRL#acme')],
      ['every change: its audit event', item('PutItem', 'State', 'AUDIT#acme')],
      ['audit list', item('Query', 'State', 'AUDIT#acme')],
    ];
    for (const [what, request] of allowed) expect([what, decide(request)]).toEqual([what, 'allowed']);
  });

  it('refuses what an operator must never do with the keys', () => {
    const refused: [string, IamRequest][] = [
      ['unwrap a card key', wrap('Decrypt', 'c-0f3a')],
      ['unwrap a TOTP secret', wrap('Decrypt', 'totp')],
      ['sign with the token key', { action: 'kms:Sign', resource: keyArn(keys.signing), context: { 'kms:SigningAlgorithm': ['RSASSA_PKCS1_V1_5_SHA_256'] } }],
      ['sign with a card key', resident('Sign', 'card-key', { 'kms:SigningAlgorithm': ['ECDSA_SHA_256'] })],
      ['seal card-session state', { action: 'kms:GenerateMac', resource: keyArn(keys.session), context: { 'kms:MacAlgorithm': ['HMAC_SHA_256'] } }],
      ['scan a table', { action: 'dynamodb:Scan', resource: table('Directory'), context: {} }],
      ['another stack', { action: 'cloudformation:DescribeStacks', resource: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/Other/x`, context: {} }],
    ];
    for (const [what, request] of refused) expect([what, decide(request)]).not.toEqual([what, 'allowed']);
  });
});
