import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { CONTEXT_NAMES, CONTEXTS, ENV } from '../../lambdas/contexts.ts';
import { BINARY_MEDIA_TYPES } from '../../lambdas/http-binary-types.ts';
import { signingKeyContext } from '../../lambdas/core/oidc/keys.ts';
import { totpWrapContext } from '../../lambdas/core/portal/totp.ts';
import { ESM_REQUIRE_BANNER } from '../../lib/function.ts';
import { GRANTS, OIDC_SIGNING_CONTEXT_CARD, TOTP_CONTEXT_CARD } from '../../lib/grants.ts';
import { WATCHED_KEY_EVENTS } from '../../lib/monitoring.ts';
import { CONTEXT_KEY_NEEDS } from '../../lambdas/apps.ts';
import { RESIDENT_KEY_TAG, residentKeyStackTag } from '../../lambdas/adapters/kms/resident-keys.ts';
import {
  EXPECTED_KEY_USE,
  EXPECTED_LOGOUT_RELAY,
  EXPECTED_MAC_KEYS,
  EXPECTED_MAC_VERIFY_KEYS,
  EXPECTED_RESIDENT_KEYS,
  expectedIdentityActions,
  expectedTableStatements,
  expectedKekActions,
  expectedResidentKeyStatements,
  expectedSigningActions,
  sorted,
} from './expected.ts';
import { getAttArn, keyStatementsFor, logicalIdByPath, resourcesOfType, roleStatements, synth, type Json, type Synthesized } from './support.ts';

const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);
const RESIDENT_KEY_ACTIONS = new Set([
  'kms:CreateKey',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:Sign',
  'kms:GetPublicKey',
  'kms:DeriveSharedSecret',
  'kms:ScheduleKeyDeletion',
]);

let s: Synthesized;
let template: Template;
let ids: {
  directory: string;
  state: string;
  kek: string;
  signing: string;
  fn: (context: string) => string;
  role: (context: string) => string;
  logs: (context: string) => string;
};

beforeAll(() => {
  // The default (dev) deployment, bundled for real: esbuild runs once for the five functions.
  s = synth({}, { bundle: true });
  template = s.template;
  ids = {
    directory: logicalIdByPath(template, 'AWS::DynamoDB::Table', '/Data/DirectoryTable/Resource'),
    state: logicalIdByPath(template, 'AWS::DynamoDB::Table', '/Data/StateTable/Resource'),
    kek: logicalIdByPath(template, 'AWS::KMS::Key', '/Keys/CardKek/Resource'),
    signing: logicalIdByPath(template, 'AWS::KMS::Key', '/Keys/SigningKey/Resource'),
    fn: (c) => logicalIdByPath(template, 'AWS::Lambda::Function', `/Functions/${pascal(c)}/Function/Resource`),
    role: (c) => logicalIdByPath(template, 'AWS::IAM::Role', `/Functions/${pascal(c)}/Role/Resource`),
    logs: (c) => logicalIdByPath(template, 'AWS::Logs::LogGroup', `/Functions/${pascal(c)}/Logs/Resource`),
  };
});

/** Policy resources in a stable order (CDK may reorder a statement's resource list). */
const bySerialization = (resources: unknown[]): unknown[] => [...resources].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
const resource = (id: string): Json => template.toJSON()['Resources'][id];

describe('stack', () => {
  it('is the one stack Cloudcard-dev, environment-agnostic', () => {
    expect(s.app.node.children.filter((c) => c === s.stack)).toHaveLength(1);
    expect(s.stack.stackName).toBe('Cloudcard-dev');
    expect(s.stack.environment).toBe('aws://unknown-account/unknown-region');
  });

  it('exports the outputs the operator CLI reads', () => {
    for (const name of ['ApiUrl', 'DirectoryTableName', 'StateTableName', 'CardKekKeyArn', 'SigningKeyArn', 'Stage', 'DefaultCustody']) {
      template.hasOutput(name, {});
    }
    template.hasOutput('Stage', { Value: 'dev' });
    template.hasOutput('DefaultCustody', { Value: 'wrapped' });
    template.hasOutput('DirectoryTableName', { Value: { Ref: ids.directory } });
    template.hasOutput('StateTableName', { Value: { Ref: ids.state } });
    template.hasOutput('CardKekKeyArn', { Value: getAttArn(ids.kek) });
    template.hasOutput('SigningKeyArn', { Value: getAttArn(ids.signing) });
    // The execute-api stage URL without a trailing slash: `{ApiUrl}/t/{tenant}` is an issuer.
    const apiUrl = JSON.stringify(template.findOutputs('ApiUrl')['ApiUrl']!['Value']);
    expect(apiUrl).toContain('.execute-api.');
    const stage = logicalIdByPath(template, 'AWS::ApiGateway::Stage', '/Api/Api/DeploymentStage.dev/Resource');
    expect(apiUrl.endsWith(`"/",{"Ref":"${stage}"}]]}`)).toBe(true);
  });
});

describe('data', () => {
  it('has a directory table: PK/SK, on demand, PITR, GSI1 and GSI2, destroyable in dev', () => {
    const table = resource(ids.directory);
    expect(table['DeletionPolicy']).toBe('Delete');
    expect(table['Properties']).toMatchObject({
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect(table['Properties']['DeletionProtectionEnabled']).not.toBe(true);
    expect(table['Properties']['TimeToLiveSpecification']).toBeUndefined();
    expect(table['Properties']['GlobalSecondaryIndexes']).toEqual([gsi('GSI1'), gsi('GSI2')]);
  });

  it('has a state table: PK/SK, on demand, TTL on expiresAt, GSI1, no PITR in dev', () => {
    const table = resource(ids.state);
    expect(table['Properties']).toMatchObject({
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false },
    });
    expect(table['Properties']['GlobalSecondaryIndexes']).toEqual([gsi('GSI1')]);
  });
});

function gsi(name: string): Json {
  return {
    IndexName: name,
    KeySchema: [
      { AttributeName: `${name}PK`, KeyType: 'HASH' },
      { AttributeName: `${name}SK`, KeyType: 'RANGE' },
    ],
    Projection: { ProjectionType: 'ALL' },
  };
}

describe('keys', () => {
  it('has a rotating symmetric card KEK and an RSA 2048 signing key, deletable after 7 days in dev', () => {
    expect(resource(ids.kek)['Properties']).toMatchObject({
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      EnableKeyRotation: true,
      PendingWindowInDays: 7,
    });
    expect(resource(ids.signing)['Properties']).toMatchObject({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', PendingWindowInDays: 7 });
    expect(resource(ids.kek)['DeletionPolicy']).toBe('Delete');
  });

  it('has the stage aliases', () => {
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/cloudcard-dev-card-kek', TargetKeyId: getAttArn(ids.kek) });
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/cloudcard-dev-token-signing', TargetKeyId: getAttArn(ids.signing) });
  });

  it('lets the account administer the keys through IAM but never use them', () => {
    for (const key of [ids.kek, ids.signing]) {
      const root = (resource(key)['Properties']['KeyPolicy']['Statement'] as Json[]).filter((st) => JSON.stringify(st['Principal']).includes(':root'));
      expect(root).toHaveLength(1);
      const actions = [root[0]!['Action']].flat() as string[];
      // PutKeyPolicy is named, not hidden in a wildcard: CloudFormation needs it, and it is alarmed on.
      expect(actions).toContain('kms:PutKeyPolicy');
      for (const forbidden of [
        'kms:*',
        'kms:Put*',
        'kms:Encrypt',
        'kms:Decrypt',
        'kms:Sign',
        'kms:CreateGrant',
        'kms:Create*',
        'kms:GenerateDataKey*',
        'kms:ReEncrypt*',
      ]) {
        expect(actions).not.toContain(forbidden);
      }
      expect(
        actions.every(
          (a) => !a.includes('*') || ['kms:Describe*', 'kms:List*', 'kms:Get*', 'kms:Update*', 'kms:Enable*', 'kms:Disable*', 'kms:Revoke*'].includes(a),
        ),
      ).toBe(true);
    }
  });

  it('alarms on key-policy and key-state changes of both keys, from CloudTrail through EventBridge', () => {
    const [[ruleId, rule]] = resourcesOfType(template, 'AWS::Events::Rule') as [[string, Json]];
    expect(rule['Properties']['EventPattern']).toEqual({
      source: ['aws.kms'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: {
        eventSource: ['kms.amazonaws.com'],
        eventName: [...WATCHED_KEY_EVENTS],
        resources: { ARN: [getAttArn(ids.kek), getAttArn(ids.signing)] },
      },
    });
    expect(WATCHED_KEY_EVENTS).toContain('PutKeyPolicy');
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'cloudcard-dev-key-policy-changed',
      Namespace: 'AWS/Events',
      MetricName: 'TriggeredRules',
      Dimensions: [{ Name: 'RuleName', Value: { Ref: ruleId } }],
      Threshold: 1,
    });
  });

  it('states a grant matrix whose KEK restrictions match the contexts the core wraps under', () => {
    expect(OIDC_SIGNING_CONTEXT_CARD).toBe(signingKeyContext('t', 'kid').card);
    expect(TOTP_CONTEXT_CARD).toBe(totpWrapContext('t', 'alice').card);
    for (const context of CONTEXT_NAMES) {
      const expected = EXPECTED_KEY_USE[context];
      expect({
        context,
        kek: expectedKekActions(GRANTS[context]),
        kekCard: GRANTS[context].cardKek.contextCard,
        signing: expectedSigningActions(GRANTS[context]),
      }).toEqual({
        context,
        kek: expected.kek,
        kekCard: expected.kekCard,
        signing: expected.signing,
      });
    }
  });

  it('names only the function roles (and the account) as key-policy principals', () => {
    const roles = new Set(CONTEXT_NAMES.map((c) => JSON.stringify(getAttArn(ids.role(c)))));
    for (const key of [ids.kek, ids.signing]) {
      for (const statement of resource(key)['Properties']['KeyPolicy']['Statement'] as Json[]) {
        const principals = [statement['Principal']['AWS']].flat();
        for (const principal of principals) {
          const text = JSON.stringify(principal);
          expect(roles.has(text) || text.includes(':root')).toBe(true);
        }
      }
    }
  });

  it.each(CONTEXT_NAMES)('key policies grant %s exactly its matrix entry', (context) => {
    const expected = EXPECTED_KEY_USE[context];
    const kek = keyStatementsFor(resource(ids.kek)['Properties']['KeyPolicy'], ids.role(context));
    const signing = keyStatementsFor(resource(ids.signing)['Properties']['KeyPolicy'], ids.role(context));
    expect(sorted(kek.flatMap((st) => st.actions))).toEqual(expected.kek);
    expect(sorted(signing.flatMap((st) => st.actions))).toEqual(expected.signing);
    expect(sorted(kek.flatMap((st) => st.actions))).toEqual(expectedKekActions(GRANTS[context]));
    expect(sorted(signing.flatMap((st) => st.actions))).toEqual(expectedSigningActions(GRANTS[context]));
    for (const st of [...kek, ...signing]) {
      expect(st.Effect).toBe('Allow');
      expect(st.resources).toEqual(['*']);
    }
    // Wrapping and unwrapping only ever under the exact {tenant, card, slot} encryption context, and for
    // oidc and portal only with their own `card` value (their secrets; never a card's private key).
    for (const st of kek.filter((x) => x.actions.some((a) => a === 'kms:Encrypt' || a === 'kms:Decrypt'))) {
      expect(st.Condition).toEqual({
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['tenant', 'card', 'slot'] },
        Null: { 'kms:EncryptionContext:tenant': 'false', 'kms:EncryptionContext:card': 'false', 'kms:EncryptionContext:slot': 'false' },
        ...(expected.kekCard ? { StringEquals: { 'kms:EncryptionContext:card': expected.kekCard } } : {}),
        ...(expected.kekNotCards ? { StringNotEquals: { 'kms:EncryptionContext:card': expected.kekNotCards } } : {}),
      });
    }
    for (const st of signing.filter((x) => x.actions.includes('kms:Sign'))) {
      expect(st.Condition).toEqual({ StringEquals: { 'kms:SigningAlgorithm': ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PSS_SHA_256'] } });
    }
  });
});

describe('functions', () => {
  it.each(CONTEXT_NAMES)('%s runs Node.js 22 on arm64 with tracing, 1024 MB and 10 s', (context) => {
    expect(resource(ids.fn(context))['Properties']).toMatchObject({
      FunctionName: `cloudcard-dev-${context}`,
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 1024,
      Timeout: 10,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogGroup: { Ref: ids.logs(context) } },
      Role: getAttArn(ids.role(context)),
    });
  });

  it.each(CONTEXT_NAMES)('%s gets the environment it needs, key ids only where granted', (context) => {
    const env = resource(ids.fn(context))['Properties']['Environment']['Variables'] as Json;
    expect(env).toMatchObject({
      [ENV.stage]: 'dev',
      [ENV.directoryTable]: { Ref: ids.directory },
      [ENV.stateTable]: { Ref: ids.state },
      [ENV.keyProvider]: 'kms',
      [ENV.defaultCustody]: 'wrapped',
      POWERTOOLS_SERVICE_NAME: `cloudcard-${context}`,
      POWERTOOLS_METRICS_NAMESPACE: 'cloudcard',
      LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
    });
    // Key ids exactly where the function has a capability on the key (independent of lib/grants.ts).
    const expected = EXPECTED_KEY_USE[context];
    if (expected.kek.length > 0) expect(env[ENV.cardKekKeyId]).toEqual(getAttArn(ids.kek));
    else expect(env).not.toHaveProperty(ENV.cardKekKeyId);
    if (expected.signing.length > 0) expect(env[ENV.signingKeyId]).toEqual(getAttArn(ids.signing));
    else expect(env).not.toHaveProperty(ENV.signingKeyId);
    expect(env).not.toHaveProperty(ENV.publicBaseUrl); // no custom domain in dev
  });

  it.each(CONTEXT_NAMES)('%s names the function it hands relying-party logouts to exactly when it may invoke it', (context) => {
    const env = resource(ids.fn(context))['Properties']['Environment']['Variables'] as Json;
    const relay = EXPECTED_LOGOUT_RELAY[context];
    if (relay) expect(env[ENV.logoutRelayFunction]).toEqual({ Ref: ids.fn(relay) });
    else expect(env).not.toHaveProperty(ENV.logoutRelayFunction);
  });

  it('admin and portal hand logouts to oidc yet still cannot sign with the token key (no kms:Sign for them in any key policy)', () => {
    expect(EXPECTED_LOGOUT_RELAY).toEqual({ admin: 'oidc', portal: 'oidc' });
    for (const context of ['admin', 'portal'] as const) {
      expect(GRANTS[context].logoutRelay).toBe('oidc');
      expect(GRANTS[context].signingKey).not.toContain('sign');
      const signing = keyStatementsFor(resource(ids.signing)['Properties']['KeyPolicy'], ids.role(context));
      expect(signing.flatMap((st) => st.actions)).not.toContain('kms:Sign');
      // Nor can they open a tenant's wrapped token key under the KEK (admin never decrypts; portal only under `totp`).
      const kek = keyStatementsFor(resource(ids.kek)['Properties']['KeyPolicy'], ids.role(context)).filter((st) => st.actions.includes('kms:Decrypt'));
      for (const st of kek) expect(JSON.stringify(st.Condition)).toContain(TOTP_CONTEXT_CARD);
    }
  });

  it.each(CONTEXT_NAMES)('%s has its own log group with the context retention', (context) => {
    expect(resource(ids.logs(context))['Properties']).toMatchObject({ LogGroupName: `/aws/lambda/cloudcard-dev-${context}`, RetentionInDays: 30 });
  });

  it.each(CONTEXT_NAMES)('%s role has no managed policies and exactly its matrix permissions', (context) => {
    const role = resource(ids.role(context))['Properties'];
    expect(role['ManagedPolicyArns']).toBeUndefined();
    expect(role['AssumeRolePolicyDocument']['Statement']).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
    const byClass: Record<string, Set<string>> = {};
    // KMS in an identity policy is only ever the resident-key grant, DynamoDB only the partition-bound
    // table grants (both asserted in the next tests).
    const statements = roleStatements(template, ids.role(context)).filter(
      (st) => !st.actions.some((a) => RESIDENT_KEY_ACTIONS.has(a) || a.startsWith('dynamodb:')),
    );
    for (const statement of statements) {
      expect(statement.Effect).toBe('Allow');
      expect(statement.Condition).toBeUndefined();
      for (const target of statement.resources) {
        const cls = resourceClass(target, context);
        for (const action of statement.actions) (byClass[cls] ??= new Set()).add(action);
      }
    }
    const actual = Object.fromEntries(Object.entries(byClass).map(([cls, actions]) => [cls, sorted(actions)]));
    // The stack's own keys are granted in their key policies only: no other identity statement mentions KMS.
    expect(
      Object.values(actual)
        .flat()
        .filter((a) => a.startsWith('kms:')),
    ).toEqual([]);
    expect(actual).toEqual(expectedIdentityActions(context));
  });

  it.each(CONTEXT_NAMES)('%s reaches table items only by the partition patterns of its matrix entry, and may not scan', (context) => {
    const tables = roleStatements(template, ids.role(context)).filter((st) => st.actions.some((a) => a.startsWith('dynamodb:')));
    // Each statement is DynamoDB only, and no action is granted that can run without naming a partition.
    for (const st of tables)
      expect(
        st.actions.every((a) => ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'].includes(a)),
      ).toBe(true);
    // CDK merges statements with equal resources and conditions: compare (action, resource, condition) triples.
    const triples = (statements: Json[]) =>
      sorted(
        statements.flatMap((st) =>
          (st['actions'] as string[]).flatMap((action) =>
            (st['resources'] as unknown[]).map((r) => JSON.stringify([st['Effect'], action, r, st['Condition']])),
          ),
        ),
      );
    expect(triples(tables)).toEqual(
      triples([...expectedTableStatements(GRANTS[context].directory, ids.directory), ...expectedTableStatements(GRANTS[context].state, ids.state)]),
    );
  });

  it.each(CONTEXT_NAMES)('%s may make, use and destroy resident keys exactly as its matrix entry says, bound to the stack tag and the purposes', (context) => {
    expect(GRANTS[context].residentKeys).toEqual(EXPECTED_RESIDENT_KEYS[context]);
    const byAction: Record<string, { resources: unknown[]; Condition?: Json }> = {};
    for (const st of roleStatements(template, ids.role(context)).filter((x) => x.actions.some((a) => a.startsWith('kms:')))) {
      for (const action of st.actions) {
        let key = `${st.Effect} ${action}`;
        if (st.Effect === 'Deny' && action !== 'kms:ScheduleKeyDeletion' && !st.Condition) key += ' (own keys)';
        expect(byAction).not.toHaveProperty([key]); // each action granted once, by one statement
        byAction[key] = { resources: bySerialization(st.resources), ...(st.Condition ? { Condition: st.Condition } : {}) };
      }
    }
    const ownKeys = ['CardKek', 'SigningKey', 'CardSessionKey', 'CardPinKey'].map((name) =>
      getAttArn(logicalIdByPath(template, 'AWS::KMS::Key', `/Keys/${name}/Resource`)),
    );
    expect(byAction).toEqual(expectedResidentKeyStatements(EXPECTED_RESIDENT_KEYS[context], 'dev', bySerialization(ownKeys)));
    // Every kms:Sign and kms:DeriveSharedSecret on resident keys names the purposes it allows.
    for (const st of roleStatements(template, ids.role(context)).filter(
      (x) => x.Effect === 'Allow' && x.actions.some((a) => a === 'kms:Sign' || a === 'kms:DeriveSharedSecret'),
    )) {
      expect(st.Condition?.['StringEquals']).toHaveProperty(['aws:ResourceTag/cloudcard:purpose']);
    }
    // The tag the policy names is the one the KMS adapter puts on every key it creates.
    expect(RESIDENT_KEY_TAG).toBe('cloudcard:stack');
    expect(residentKeyStackTag('dev')).toBe('cloudcard-dev');
  });

  it.each(['oidc', 'saml', 'portal'] as const)('%s has no resident-key permission at all', (context) => {
    const kms = roleStatements(template, ids.role(context)).flatMap((st) => st.actions.filter((a) => a.startsWith('kms:')));
    expect(kms).toEqual([]);
  });

  it('pki, public and anonymous, reads cards, writes only published CRLs, touches no state and signs only with card CA keys', () => {
    const statements = roleStatements(template, ids.role('pki'));
    const dynamo = statements.filter((st) => st.actions.some((a) => a.startsWith('dynamodb:')));
    const onState = (st: (typeof dynamo)[number]) => JSON.stringify(st.resources).includes(ids.state);
    expect(dynamo.filter(onState)).toEqual([]);
    const leading = (st: (typeof dynamo)[number]) => (st.Condition?.['ForAllValues:StringLike'] as Json)['dynamodb:LeadingKeys'];
    const writes = dynamo.filter((st) => st.actions.includes('dynamodb:PutItem'));
    expect(writes.map(leading)).toEqual([['CRL#*']]);
    const reads = dynamo.filter((st) => st.actions.includes('dynamodb:GetItem'));
    expect(reads.map(leading)).toEqual([['CRL#*', 'CARDS#*', 'RESIDENTKEY#*']]);
    const kms = statements.filter((st) => st.Effect === 'Allow' && st.actions.some((a) => a.startsWith('kms:')));
    expect(sorted(kms.flatMap((st) => st.actions))).toEqual(['kms:GetPublicKey', 'kms:Sign']);
    for (const st of kms) expect((st.Condition?.['StringEquals'] as Json)['aws:ResourceTag/cloudcard:purpose']).toEqual(['card-ca']);
    expect(keyStatementsFor(resource(ids.kek)['Properties']['KeyPolicy'], ids.role('pki'))).toEqual([]);
    expect(keyStatementsFor(resource(ids.signing)['Properties']['KeyPolicy'], ids.role('pki'))).toEqual([]);
  });

  it.each(CONTEXT_NAMES)('%s may GenerateMac and VerifyMac (HMAC_SHA_256 only) with exactly its HMAC keys, named in their key policies', (context) => {
    expect(GRANTS[context].macKeys).toEqual(EXPECTED_MAC_KEYS[context]);
    expect(GRANTS[context].macVerifyKeys).toEqual(EXPECTED_MAC_VERIFY_KEYS[context]);
    const env = resource(ids.fn(context))['Properties']['Environment']['Variables'] as Json;
    for (const [name, id] of [
      ['cardSession', 'CardSessionKey'],
      ['cardPin', 'CardPinKey'],
    ] as const) {
      const keyId = logicalIdByPath(template, 'AWS::KMS::Key', `/Keys/${id}/Resource`);
      const key = resource(keyId);
      expect(key['Properties']).toMatchObject({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
      const mine = keyStatementsFor(key['Properties']['KeyPolicy'], ids.role(context));
      const granted = EXPECTED_MAC_KEYS[context].includes(name);
      // CDK merges the two grants (same principal and condition) into one statement.
      const actions = [...(granted ? ['kms:GenerateMac'] : []), ...(EXPECTED_MAC_VERIFY_KEYS[context].includes(name) ? ['kms:VerifyMac'] : [])];
      expect(mine.map((st) => ({ actions: st.actions, Condition: st.Condition }))).toEqual(
        actions.length ? [{ actions, Condition: { StringEquals: { 'kms:MacAlgorithm': 'HMAC_SHA_256' } } }] : [],
      );
      const variable = name === 'cardSession' ? ENV.cardSessionKeyId : ENV.cardPinKeyId;
      if (granted) expect(env[variable]).toEqual(getAttArn(keyId));
      else expect(env).not.toHaveProperty(variable);
    }
    // No identity policy grants MAC use: only the key policies name who may.
    expect(
      roleStatements(template, ids.role(context))
        .flatMap((st) => st.actions)
        .filter((a) => a.includes('Mac')),
    ).toEqual([]);
  });

  it.each(CONTEXT_NAMES)('%s is bundled as one minified ESM file with the AWS SDK inside', (context) => {
    const assetPath = resource(ids.fn(context))['Metadata']['aws:asset:path'] as string;
    const dir = join(s.app.outdir, assetPath);
    const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
    expect(code.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
    expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
    // Nothing left external: no bare import of a package at runtime.
    expect(code).not.toMatch(/from\s*["'](@aws-sdk|@middy|@aws-lambda-powertools|jose|zod)/);
  });
});

/** Sorts an IAM policy resource into the class the grant matrix talks about. */
function resourceClass(target: unknown, context: string): string {
  const text = JSON.stringify(target);
  if (text === '"*"') return '*';
  if (text.includes(`"${ids.directory}"`)) return 'directory';
  if (text.includes(`"${ids.state}"`)) return 'state';
  if (text === JSON.stringify(getAttArn(ids.logs(context)))) return 'logs';
  // A function's ARN, or its versions and aliases (`{arn}:*`): the logout relay's invoke.
  for (const other of CONTEXT_NAMES) if (text.includes(`"${ids.fn(other)}"`)) return `function:${other}`;
  return `unexpected:${text}`;
}

describe('api', () => {
  it('is a regional REST API', () => {
    template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { Name: 'cloudcard-dev', EndpointConfiguration: { Types: ['REGIONAL'] } });
  });

  it('treats every media type as binary, as the local gateway does (PKI answers reach clients without Accept as bytes)', () => {
    expect(BINARY_MEDIA_TYPES).toEqual(['*/*']);
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { BinaryMediaTypes: [...BINARY_MEDIA_TYPES] });
  });

  it('has a stage named after the stage with throttling, tracing, error logs and JSON access logs', () => {
    const [[, stage]] = resourcesOfType(template, 'AWS::ApiGateway::Stage') as [[string, Json]];
    const accessLogs = logicalIdByPath(template, 'AWS::Logs::LogGroup', '/Api/AccessLogs/Resource');
    expect(stage['Properties']).toMatchObject({
      StageName: 'dev',
      TracingEnabled: true,
      MethodSettings: [
        {
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
          MetricsEnabled: true,
        },
      ],
    });
    expect(JSON.stringify(stage['Properties']['AccessLogSetting']['DestinationArn'])).toContain(`{"Ref":"${accessLogs}"}`);
    const format = JSON.parse(stage['Properties']['AccessLogSetting']['Format']) as Record<string, string>;
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status', ip: '$context.identity.sourceIp' });
    // Query strings carry authorization codes and SAML messages: never logged.
    expect(Object.values(format).join(' ')).not.toMatch(/querystring|requestOverride|\$input/i);
    expect(resource(accessLogs)['Properties']['RetentionInDays']).toBe(30);
  });

  it('routes every context prefix (and {proxy+} under it) and exact path to its function', () => {
    const actual = routes(template)
      .map((r) => `${r.method} ${r.path} -> ${r.target}`)
      .sort();
    const expected = CONTEXT_NAMES.flatMap((context) => [
      ...CONTEXTS[context].prefixes.flatMap((p) => [`ANY ${p} -> ${ids.fn(context)}`, `ANY ${p}/{proxy+} -> ${ids.fn(context)}`]),
      // ANY on exact paths too, so a wrong method gets the router's 405 rather than a gateway error.
      ...CONTEXTS[context].exact.map((p) => `ANY ${p} -> ${ids.fn(context)}`),
      // The catch-all levels go to the admin function, whose router answers 404 problem JSON.
      ...(context === 'admin' ? ['/', '/{proxy+}', '/t', '/t/{tenant}', '/t/{tenant}/{proxy+}'].map((p) => `ANY ${p} -> ${ids.fn('admin')}`) : []),
    ]).sort();
    expect(actual).toEqual(expected);
  });

  it("answers API Gateway's own errors (WAF, throttling, size, timeouts, faults) in problem JSON", () => {
    const responses = resourcesOfType(template, 'AWS::ApiGateway::GatewayResponse').map(([, r]) => r['Properties']);
    // The DEFAULT_* types keep the status API Gateway chose: a fixed one would rewrite every 4xx/5xx.
    expect(responses.map((r) => `${r['ResponseType']} ${r['StatusCode'] ?? '(kept)'}`).sort()).toEqual(
      [
        'DEFAULT_4XX (kept)',
        'DEFAULT_5XX (kept)',
        'INTEGRATION_TIMEOUT 504',
        'MISSING_AUTHENTICATION_TOKEN 404',
        'REQUEST_TOO_LARGE 413',
        'THROTTLED 429',
        'WAF_FILTERED 403',
      ].sort(),
    );
    for (const response of responses) {
      expect(response['ResponseParameters']['gatewayresponse.header.Content-Type']).toBe("'application/problem+json'");
      const body = response['ResponseTemplates']['application/json'] as string;
      // Valid JSON once API Gateway substitutes its (already quoted) variables.
      const rendered = body.replace('$context.error.messageString', '"some message"').replace('$context.requestId', 'req-1');
      const problem = JSON.parse(rendered) as Record<string, unknown>;
      expect(problem).toMatchObject({ type: 'about:blank', detail: 'some message', requestId: 'req-1' });
      expect(typeof problem['title']).toBe('string');
      if (response['StatusCode']) expect(problem['status']).toBe(Number(response['StatusCode']));
      else expect(problem).not.toHaveProperty('status');
    }
  });

  it('grants each function exactly the keys its runtime wires (lib/grants.ts agrees with lambdas/apps.ts)', () => {
    for (const context of CONTEXT_NAMES) {
      expect({
        context,
        cardKek: GRANTS[context].cardKek.capabilities.length > 0,
        signingKey: GRANTS[context].signingKey.length > 0,
        residentKeys: Object.values(GRANTS[context].residentKeys).some((purposes) => purposes.length > 0),
        cardSessionKey: GRANTS[context].macKeys.includes('cardSession'),
        cardPinKey: GRANTS[context].macKeys.includes('cardPin'),
      }).toEqual({ context, ...CONTEXT_KEY_NEEDS[context] });
    }
  });

  it('builds the shared /t/{tenant} tree once', () => {
    const paths = resourcePaths(template);
    const all = [...paths.values()];
    expect(all.filter((p) => p === '/t/{tenant}')).toHaveLength(1);
    expect(new Set(all).size).toBe(all.length);
  });

  it('has no authorizer (public by design) and proxies to Lambda', () => {
    for (const [, method] of resourcesOfType(template, 'AWS::ApiGateway::Method')) {
      expect(method['Properties']['AuthorizationType']).toBe('NONE');
      expect(method['Properties']['Integration']).toMatchObject({ Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' });
    }
  });

  it('passes CORS preflights (OPTIONS) to the functions: ANY proxies only, no gateway CORS or mock OPTIONS method', () => {
    // CORS is decided per route in the functions (lambdas/http/cors.ts): a gateway-level OPTIONS mock would
    // answer preflights for every path with one fixed policy instead.
    const all = routes(template);
    expect(all.filter((r) => r.method !== 'ANY')).toEqual([]);
    for (const path of ['/t/{tenant}/oidc/{proxy+}', '/t/{tenant}/.well-known/{proxy+}']) {
      expect(all).toContainEqual({ path, method: 'ANY', target: ids.fn('oidc') });
    }
  });

  it('protects the stage with a WAF web ACL: per-IP rate limit and AWS managed rules', () => {
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      Rules: Match.arrayWith([
        Match.objectLike({ Action: { Block: {} }, Statement: { RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP' } } }),
        Match.objectLike({ Statement: { ManagedRuleGroupStatement: Match.objectLike({ VendorName: 'AWS', Name: 'AWSManagedRulesCommonRuleSet' }) } }),
      ]),
    });
    const acl = logicalIdByPath(template, 'AWS::WAFv2::WebACL', '/Api/Waf/WebAcl');
    const api = logicalIdByPath(template, 'AWS::ApiGateway::RestApi', '/Api/Api/Resource');
    const [[, association]] = resourcesOfType(template, 'AWS::WAFv2::WebACLAssociation') as [[string, Json]];
    expect(association['Properties']['WebACLArn']).toEqual(getAttArn(acl));
    const arn = JSON.stringify(association['Properties']['ResourceArn']);
    expect(arn).toContain(`{"Ref":"${api}"}`);
    const stage = logicalIdByPath(template, 'AWS::ApiGateway::Stage', '/Api/Api/DeploymentStage.dev/Resource');
    expect(arn).toContain(`"/stages/",{"Ref":"${stage}"}`);
  });
});

interface Route {
  readonly path: string;
  readonly method: string;
  readonly target: string;
}

function resourcePaths(t: Template): Map<string, string> {
  const resources = Object.fromEntries(resourcesOfType(t, 'AWS::ApiGateway::Resource'));
  const paths = new Map<string, string>();
  const pathOf = (id: string): string => {
    const known = paths.get(id);
    if (known) return known;
    const props = resources[id]!['Properties'];
    const parent = props['ParentId']['Ref'] ? pathOf(props['ParentId']['Ref']) : '';
    const path = `${parent}/${props['PathPart']}`;
    paths.set(id, path);
    return path;
  };
  for (const id of Object.keys(resources)) pathOf(id);
  return paths;
}

function routes(t: Template): Route[] {
  const paths = resourcePaths(t);
  return resourcesOfType(t, 'AWS::ApiGateway::Method').map(([, m]) => {
    const props = m['Properties'];
    const resourceId = props['ResourceId']['Ref'] as string | undefined;
    const uri = JSON.stringify(props['Integration']['Uri']);
    const target = CONTEXT_NAMES.map((c) => ids.fn(c)).find((id) => uri.includes(`"${id}"`)) ?? uri;
    return { path: resourceId ? paths.get(resourceId)! : '/', method: props['HttpMethod'], target };
  });
}

describe('monitoring', () => {
  it('has a dashboard and an alarm per function, one on API 5xx and one on key changes, without actions when no e-mail is set', () => {
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'cloudcard-dev' });
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a['Properties']);
    expect(alarms.map((a) => a['AlarmName']).sort()).toEqual(
      [
        ...CONTEXT_NAMES.map((c) => `cloudcard-dev-${c}-errors`),
        'cloudcard-dev-api-5xx',
        'cloudcard-dev-key-policy-changed',
        'cloudcard-dev-deny-spike',
        'cloudcard-dev-login-failure-spike',
        'cloudcard-dev-lockout-spike',
      ].sort(),
    );
    // Security events: the deny count of every function summed (each function emits under its own service).
    const denySpike = alarms.find((a) => a['AlarmName'] === 'cloudcard-dev-deny-spike')!;
    const denyQueries = denySpike['Metrics'] as Array<{
      Expression?: string;
      MetricStat?: { Metric: { MetricName: string; Dimensions: Array<{ Value: unknown }> } };
    }>;
    expect(
      denyQueries
        .filter((q) => q.MetricStat)
        .map((q) => [q.MetricStat!.Metric.MetricName, q.MetricStat!.Metric.Dimensions[0]!.Value])
        .sort(),
    ).toEqual(CONTEXT_NAMES.map((c) => ['SecurityEvent.deny', `cloudcard-${c}`]).sort());
    expect(denySpike).toMatchObject({ Threshold: 20, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' });
    for (const [name, metric] of [
      ['login-failure-spike', 'SecurityEvent.sign-in-failure'],
      ['lockout-spike', 'SecurityEvent.lockout'],
    ] as const) {
      const spike = alarms.find((a) => a['AlarmName'] === `cloudcard-dev-${name}`)!;
      const queries = spike['Metrics'] as Array<{ MetricStat?: { Metric: { MetricName: string } } }>;
      expect(new Set(queries.filter((q) => q.MetricStat).map((q) => q.MetricStat!.Metric.MetricName))).toEqual(new Set([metric]));
    }
    for (const context of CONTEXT_NAMES) {
      const alarm = alarms.find((a) => a['AlarmName'] === `cloudcard-dev-${context}-errors`)!;
      expect(alarm).toMatchObject({ MetricName: 'Errors', Namespace: 'AWS/Lambda', Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.fn(context) } }] });
    }
    // API 5xx less the SOAP Faults the SAML function counts (HTTP 500 by the SOAP binding, yet the caller's mistake).
    const api5xx = alarms.find((a) => a['AlarmName'] === 'cloudcard-dev-api-5xx')!;
    expect(api5xx['MetricName']).toBeUndefined();
    const queries = api5xx['Metrics'] as Array<{
      Id: string;
      Expression?: string;
      ReturnData?: boolean;
      MetricStat?: { Metric: { MetricName: string; Namespace: string; Dimensions: Array<{ Name: string; Value: unknown }> }; Stat: string };
    }>;
    const expression = queries.find((q) => q.Expression)!;
    expect(expression.Expression).toBe('FILL(errors, 0) - FILL(soapFaults, 0)');
    expect(queries.find((q) => q.Id === 'errors')!.MetricStat).toMatchObject({ Metric: { MetricName: '5XXError', Namespace: 'AWS/ApiGateway' }, Stat: 'Sum' });
    expect(queries.find((q) => q.Id === 'soapFaults')!.MetricStat).toMatchObject({
      Metric: { MetricName: 'SoapFault', Namespace: 'cloudcard', Dimensions: [{ Name: 'service', Value: 'cloudcard-saml' }] },
      Stat: 'Sum',
    });
    // The function emits its metrics under that namespace and service.
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'cloudcard-saml', POWERTOOLS_METRICS_NAMESPACE: 'cloudcard' }) },
    });
    expect(api5xx).toMatchObject({ Threshold: 5, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' });
    for (const alarm of alarms) expect(alarm['AlarmActions']).toBeUndefined();
    template.resourceCountIs('AWS::SNS::Topic', 0);
  });
});
