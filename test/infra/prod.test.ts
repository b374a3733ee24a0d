import { beforeAll, describe, expect, it } from '@jest/globals';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { CONTEXT_NAMES, ENV } from '../../lambdas/contexts.ts';
import { GRANTS } from '../../lib/grants.ts';
import { getAttArn, logicalIdByPath, resourcesOfType, synth, type Json, type Synthesized } from './support.ts';

const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012';
const KEY_STORE = 'cks-1234567890abcdef0';

const resourceOf = (s: Synthesized, id: string): Json => s.template.toJSON()['Resources'][id];

describe('prod stage', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ stage: 'prod', logRetentionDays: '365', throttleRate: '200', throttleBurst: '400', wafRateLimit: '5000' });
  });

  it('is the stack Cloudcard-prod', () => {
    expect(s.stack.stackName).toBe('Cloudcard-prod');
    s.template.hasOutput('Stage', { Value: 'prod' });
  });

  it('retains both tables, with deletion protection and PITR', () => {
    for (const path of ['/Data/DirectoryTable/Resource', '/Data/StateTable/Resource']) {
      const table = resourceOf(s, logicalIdByPath(s.template, 'AWS::DynamoDB::Table', path));
      expect(table['DeletionPolicy']).toBe('Retain');
      expect(table['UpdateReplacePolicy']).toBe('Retain');
      expect(table['Properties']).toMatchObject({
        DeletionProtectionEnabled: true,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
    }
  });

  it('retains the keys (30-day window if deletion is ever scheduled) and the log groups', () => {
    for (const [, key] of resourcesOfType(s.template, 'AWS::KMS::Key')) {
      expect(key['DeletionPolicy']).toBe('Retain');
      expect(key['Properties']['PendingWindowInDays']).toBe(30);
    }
    for (const [, group] of resourcesOfType(s.template, 'AWS::Logs::LogGroup')) {
      expect(group['DeletionPolicy']).toBe('Retain');
      expect(group['Properties']['RetentionInDays']).toBe(365);
    }
    s.template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/cloudcard-prod-card-kek' });
    s.template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/cloudcard-prod-token-signing' });
  });

  it('binds the card and admin resident-key grants to the prod tag value, never the dev one', () => {
    for (const context of ['card', 'admin']) {
      const role = logicalIdByPath(s.template, 'AWS::IAM::Role', `/Functions/${context[0]!.toUpperCase()}${context.slice(1)}/Role/Resource`);
      const policies = resourcesOfType(s.template, 'AWS::IAM::Policy').filter(([, p]) => (p['Properties']['Roles'] as Json[]).some((r) => r['Ref'] === role));
      const text = JSON.stringify(policies.map(([, p]) => p['Properties']['PolicyDocument']));
      expect(text).toContain('"aws:RequestTag/cloudcard:stack":"cloudcard-prod"');
      expect(text).toContain('"aws:ResourceTag/cloudcard:stack":"cloudcard-prod"');
      expect(text).not.toContain('cloudcard-dev');
    }
  });

  it('takes throttling and the WAF limit from the context (strings from -c work)', () => {
    s.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 })],
    });
    s.template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Rules: Match.arrayWith([Match.objectLike({ Statement: { RateBasedStatement: { Limit: 5000, AggregateKeyType: 'IP' } } })]),
    });
  });
});

describe('issuer warning', () => {
  it('warns at synth that the issuer is fixed unless a custom domain is chosen, and not with one', () => {
    const warnings = (context: Record<string, unknown>) =>
      Annotations.fromStack(synth(context).stack).findWarning('*', Match.stringLikeRegexp('issuers .* fixed forever'));
    expect(warnings({})).toHaveLength(1);
    expect(warnings({ domainName: 'id.example.com', certificateArn: CERT })).toHaveLength(0);
  });
});

describe('admin API address allow-list (context adminAllowedCidrs)', () => {
  it('blocks the admin paths from outside the allowed blocks, one IP set per family; no rule without the context', () => {
    const { template } = synth({ adminAllowedCidrs: '203.0.113.0/24, 2001:db8::/32' });
    const sets = resourcesOfType(template, 'AWS::WAFv2::IPSet').map(([, set]) => set['Properties']);
    expect(sets.map((set) => [set['IPAddressVersion'], set['Addresses']])).toEqual([
      ['IPV4', ['203.0.113.0/24']],
      ['IPV6', ['2001:db8::/32']],
    ]);
    const [[, acl]] = resourcesOfType(template, 'AWS::WAFv2::WebACL') as [[string, Json]];
    const rule = (acl['Properties']['Rules'] as Json[]).find((r) => r['Name'] === 'AdminAllowList')!;
    expect(rule['Action']).toEqual({ Block: {} });
    const [path, outside] = rule['Statement']['AndStatement']['Statements'] as Json[];
    const pattern = new RegExp(path!['RegexMatchStatement']['RegexString'] as string);
    for (const admin of ['/prod/t/acme/admin/v1/users', '/t/acme/admin/v1/cards/x', '/t/acme/admin']) expect(pattern.test(admin)).toBe(true);
    for (const other of ['/t/acme/oidc/token', '/prod/t/acme/portal/login', '/t/administration/oidc/jwks', '/health/ready'])
      expect(pattern.test(other)).toBe(false);
    expect(outside!['NotStatement']['Statement']['OrStatement']['Statements']).toHaveLength(2);

    const plain = synth().template;
    expect(resourcesOfType(plain, 'AWS::WAFv2::IPSet')).toHaveLength(0);
    expect(JSON.stringify(plain.toJSON())).not.toContain('AdminAllowList');
  });

  it('refuses anything that is not a CIDR block', () => {
    for (const bad of ['203.0.113.0', '203.0.113.0/33', 'example.com/24', 'fe80::zz/64']) {
      expect(() => synth({ adminAllowedCidrs: bad })).toThrow(/adminAllowedCidrs/);
    }
  });
});

describe('custom domain, alarm e-mail, kms-resident default custody', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ domainName: 'id.example.com', certificateArn: CERT, alarmEmail: 'ops@example.com', custody: 'kms-resident' });
  });

  it('adds a regional TLS 1.2 custom domain mapped to the stage and publishes it', () => {
    s.template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      DomainName: 'id.example.com',
      RegionalCertificateArn: CERT,
      EndpointConfiguration: { Types: ['REGIONAL'] },
      SecurityPolicy: 'TLS_1_2',
    });
    s.template.resourceCountIs('AWS::ApiGateway::BasePathMapping', 1);
    s.template.hasOutput('ApiUrl', { Value: 'https://id.example.com' });
    s.template.hasOutput('CustomDomainTarget', {});
  });

  it('publishes the default custody as an output', () => {
    s.template.hasOutput('DefaultCustody', { Value: 'kms-resident' });
  });

  it('gives every function the public base URL and the default custody', () => {
    for (const [, fn] of resourcesOfType(s.template, 'AWS::Lambda::Function')) {
      expect(fn['Properties']['Environment']['Variables']).toMatchObject({
        [ENV.publicBaseUrl]: 'https://id.example.com',
        [ENV.defaultCustody]: 'kms-resident',
      });
    }
  });

  it('sends alarms to an encrypted, TLS-only SNS topic with the e-mail subscribed', () => {
    const topic = logicalIdByPath(s.template, 'AWS::SNS::Topic', '/Monitoring/AlarmTopic/Resource');
    const key = logicalIdByPath(s.template, 'AWS::KMS::Key', '/Monitoring/AlarmTopicKey/Resource');
    expect(resourceOf(s, topic)['Properties']['KmsMasterKeyId']).toEqual(getAttArn(key));
    expect(resourceOf(s, key)['Properties']['EnableKeyRotation']).toBe(true);
    s.template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' } })]) },
    });
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: topic } });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    const alarms = resourcesOfType(s.template, 'AWS::CloudWatch::Alarm');
    // One per function, API 5xx, KMS key-policy change, and the three security-event spike alarms.
    expect(alarms).toHaveLength(CONTEXT_NAMES.length + 5);
    for (const [, alarm] of alarms) {
      expect(alarm['Properties']['AlarmActions']).toEqual([{ Ref: topic }]);
      expect(alarm['Properties']['OKActions']).toEqual([{ Ref: topic }]);
    }
  });
});

describe('card KEK in a CloudHSM custom key store', () => {
  const build = (stage: string) => synth({ stage, customKeyStoreId: KEY_STORE });
  let dev: Synthesized;
  let prod: Synthesized;
  beforeAll(() => {
    dev = build('dev');
    prod = build('prod');
  });

  const customResource = (s: Synthesized): Json => {
    const id = logicalIdByPath(s.template, 'Custom::AWS', '/Keys/CardKekInHsm/Resource/Resource/Default');
    return resourceOf(s, id);
  };

  it('creates the KEK with KMS CreateKey (Origin AWS_CLOUDHSM) instead of AWS::KMS::Key', () => {
    const keys = resourcesOfType(dev.template, 'AWS::KMS::Key').map(([, k]) => k['Properties']['KeySpec']);
    expect(keys.sort()).toEqual(['HMAC_256', 'HMAC_256', 'RSA_2048']); // the signing key and the two HMAC keys; the KEK is the custom resource's
    const create = JSON.stringify(customResource(dev)['Properties']['Create']);
    for (const expected of [
      '\\"action\\":\\"CreateKey\\"',
      '\\"Origin\\":\\"AWS_CLOUDHSM\\"',
      `\\"CustomKeyStoreId\\":\\"${KEY_STORE}\\"`,
      '\\"KeySpec\\":\\"SYMMETRIC_DEFAULT\\"',
    ]) {
      expect(create).toContain(expected);
    }
  });

  it('passes a key policy naming the KEK users (card, admin) and keeps it current with PutKeyPolicy', () => {
    const props = customResource(dev)['Properties'];
    const create = JSON.stringify(props['Create']);
    for (const context of CONTEXT_NAMES) {
      const role = logicalIdByPath(dev.template, 'AWS::IAM::Role', `/Functions/${context[0]!.toUpperCase()}${context.slice(1)}/Role/Resource`);
      const named = create.includes(JSON.stringify(getAttArn(role)));
      expect(named).toBe(GRANTS[context].cardKek.capabilities.length > 0);
    }
    expect(create).toContain('kms:EncryptionContextKeys');
    expect(create).toContain('kms:EncryptionContext:card');
    expect(JSON.stringify(props['Update'])).toContain('PutKeyPolicy');
  });

  it('tags the HSM key with the stack name at CreateKey', () => {
    const create = JSON.stringify(customResource(dev)['Properties']['Create']);
    expect(create).toContain('\\"Tags\\":[{\\"TagKey\\":\\"cloudcard:stack\\",\\"TagValue\\":\\"Cloudcard-dev\\"}]');
  });

  it('schedules deletion on stack delete in dev only; prod retains the HSM key', () => {
    expect(JSON.stringify(customResource(dev)['Properties']['Delete'])).toContain('ScheduleKeyDeletion');
    expect(customResource(prod)['Properties']['Delete']).toBeUndefined();
  });

  it('points the alias, the outputs and the functions at the created key', () => {
    const crId = logicalIdByPath(dev.template, 'Custom::AWS', '/Keys/CardKekInHsm/Resource/Resource/Default');
    const ref = JSON.stringify({ Ref: crId });
    const alias = resourcesOfType(dev.template, 'AWS::KMS::Alias').find(([, a]) => a['Properties']['AliasName'] === 'alias/cloudcard-dev-card-kek')!;
    expect(JSON.stringify(alias[1]['Properties']['TargetKeyId'])).toContain(ref);
    expect(JSON.stringify(dev.template.findOutputs('CardKekKeyArn'))).toContain(ref);
    const card = logicalIdByPath(dev.template, 'AWS::Lambda::Function', '/Functions/Card/Function/Resource');
    expect(JSON.stringify(resourceOf(dev, card)['Properties']['Environment']['Variables'][ENV.cardKekKeyId])).toContain(ref);
  });

  it('scopes the custom resource role to KMS key management of keys tagged with this stack', () => {
    const statements = resourcesOfType(dev.template, 'AWS::IAM::Policy')
      .filter(([, p]) => String(p['Metadata']?.['aws:cdk:path']).includes('/Keys/CardKekInHsm/'))
      .flatMap(([, p]) => p['Properties']['PolicyDocument']['Statement'] as Json[]);
    expect(statements.flatMap((st) => [st['Action']].flat()).sort()).toEqual([
      'kms:CreateKey',
      'kms:PutKeyPolicy',
      'kms:ScheduleKeyDeletion',
      'kms:TagResource',
    ]);
    const of = (action: string) => statements.find((st) => [st['Action']].flat().includes(action))!;
    expect(of('kms:CreateKey')['Condition']).toEqual({
      StringEquals: { 'aws:RequestTag/cloudcard:stack': 'Cloudcard-dev' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['cloudcard:stack'] },
    });
    expect(of('kms:TagResource')).toBe(of('kms:CreateKey'));
    for (const action of ['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion']) {
      expect(of(action)['Condition']).toEqual({ StringEquals: { 'aws:ResourceTag/cloudcard:stack': 'Cloudcard-dev' } });
    }
  });

  it('denies the resident-key users tagging or deleting the HSM key (tagging is access control)', () => {
    const crId = logicalIdByPath(dev.template, 'Custom::AWS', '/Keys/CardKekInHsm/Resource/Resource/Default');
    for (const context of ['card', 'admin']) {
      const role = logicalIdByPath(dev.template, 'AWS::IAM::Role', `/Functions/${context[0]!.toUpperCase()}${context.slice(1)}/Role/Resource`);
      const deny = resourcesOfType(dev.template, 'AWS::IAM::Policy')
        .filter(([, p]) => (p['Properties']['Roles'] as Json[]).some((r) => r['Ref'] === role))
        .flatMap(([, p]) => p['Properties']['PolicyDocument']['Statement'] as Json[])
        .filter((st) => st['Effect'] === 'Deny' && !st['Condition']); // the other Deny: no re-tagging of purpose-tagged keys
      expect(deny).toHaveLength(1);
      expect([deny[0]!['Action']].flat().sort()).toEqual(['kms:ScheduleKeyDeletion', 'kms:TagResource', 'kms:UntagResource']);
      expect(JSON.stringify(deny[0]!['Resource'])).toContain(JSON.stringify({ Ref: crId }));
    }
  });

  it('watches the HSM key for policy changes too', () => {
    const crId = logicalIdByPath(dev.template, 'Custom::AWS', '/Keys/CardKekInHsm/Resource/Resource/Default');
    const [[, rule]] = resourcesOfType(dev.template, 'AWS::Events::Rule') as [[string, Json]];
    expect(JSON.stringify(rule['Properties']['EventPattern']['detail']['resources'])).toContain(JSON.stringify({ Ref: crId }));
  });
});
