import { beforeAll, describe, expect, it } from '@jest/globals';
import { Match } from 'aws-cdk-lib/assertions';
import { CONTEXT_NAMES, type ContextName } from '../../lambdas/contexts.ts';
import { TRUSTSTORE_PLACEHOLDER_PEM } from '../../lambdas/core/pki/truststore.ts';
import { evaluate, resolveIntrinsics, type PolicyStatement } from '../support/iam-policy.ts';
import { logicalIdByPath, resourcesOfType, roleStatements, synth, type Json, type Synthesized } from './support.ts';

/**
 * Certificate login on AWS: the second custom domain with mutual TLS, the truststore object it names, who
 * may rewrite it (evaluated, not just read), and nothing of it without the context.
 */
const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';
const CERT_DOMAIN = 'cert.id.example.com';
const CERT_CONTEXT = {
  domainName: 'id.example.com',
  certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
  certDomainName: CERT_DOMAIN,
  certCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789013',
};
const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

describe('certificate-login domain (certDomainName, certCertificateArn)', () => {
  let s: Synthesized;
  let bucketId: string;
  let seedId: string;
  let policies: Record<ContextName, PolicyStatement[]>;
  const env = (context: ContextName): Json => {
    const id = logicalIdByPath(s.template, 'AWS::Lambda::Function', `/Functions/${pascal(context)}/Function/Resource`);
    return s.template.toJSON()['Resources'][id]['Properties']['Environment']['Variables'];
  };

  beforeAll(() => {
    s = synth(CERT_CONTEXT);
    bucketId = logicalIdByPath(s.template, 'AWS::S3::Bucket', '/Truststore/Bucket/Resource');
    seedId = logicalIdByPath(s.template, 'Custom::AWS', '/Truststore/Seed/Resource/Default');
    const resources = s.template.toJSON()['Resources'] as Record<string, { Type: string }>;
    const resolve = {
      ref: (id: string) => ({ 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT })[id] ?? id,
      getAtt: (id: string) => (resources[id]?.Type === 'AWS::S3::Bucket' ? `arn:aws:s3:::${id}` : `arn:aws:cloudformation:::${id}`),
    };
    policies = Object.fromEntries(
      CONTEXT_NAMES.map((context) => {
        const role = logicalIdByPath(s.template, 'AWS::IAM::Role', `/Functions/${pascal(context)}/Role/Resource`);
        const statements = roleStatements(s.template, role).map((st) => ({
          Effect: st.Effect,
          actions: st.actions,
          resources: st.resources.map((r) => resolveIntrinsics(r, resolve)),
          ...(st.Condition ? { Condition: st.Condition } : {}),
        }));
        return [context, statements];
      }),
    ) as unknown as Record<ContextName, PolicyStatement[]>;
  });

  it('adds a regional TLS 1.2 domain with mutual TLS against the truststore object and its seeded version', () => {
    s.template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      DomainName: CERT_DOMAIN,
      RegionalCertificateArn: CERT_CONTEXT.certCertificateArn,
      EndpointConfiguration: { Types: ['REGIONAL'] },
      SecurityPolicy: 'TLS_1_2',
      MutualTlsAuthentication: {
        TruststoreUri: { 'Fn::Join': ['', ['s3://', { Ref: bucketId }, '/truststore.pem']] },
        TruststoreVersion: { 'Fn::GetAtt': [seedId, 'VersionId'] },
      },
    });
    // The issuer's domain stays without mutual TLS: it would ask every visitor for a certificate.
    s.template.hasResourceProperties('AWS::ApiGateway::DomainName', { DomainName: 'id.example.com', MutualTlsAuthentication: Match.absent() });
  });

  it('maps the certificate domain to the same API and stage, and outputs its URL and DNS target', () => {
    const [domainId] = resourcesOfType(s.template, 'AWS::ApiGateway::DomainName').find(([, r]) => r['Properties']['DomainName'] === CERT_DOMAIN)!;
    const apiId = logicalIdByPath(s.template, 'AWS::ApiGateway::RestApi', '/Api/Api/Resource');
    s.template.hasResourceProperties('AWS::ApiGateway::BasePathMapping', { DomainName: { Ref: domainId }, RestApiId: { Ref: apiId }, Stage: Match.anyValue() });
    expect(resourcesOfType(s.template, 'AWS::ApiGateway::BasePathMapping')).toHaveLength(2);
    s.template.hasOutput('CertUrl', { Value: `https://${CERT_DOMAIN}` });
    s.template.hasOutput('CertDomainTarget', { Value: { 'Fn::GetAtt': [domainId, 'RegionalDomainName'] } });
    s.template.hasOutput('ApiUrl', { Value: 'https://id.example.com' });
  });

  it('keeps the truststore in a versioned, private, encrypted, TLS-only bucket that outlives the stack', () => {
    const bucket = s.template.toJSON()['Resources'][bucketId] as Json;
    expect(bucket['DeletionPolicy']).toBe('Retain');
    expect(bucket['Properties']).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it('seeds the first version with the keyless placeholder on create only, never over a published bundle', () => {
    const seed = s.template.toJSON()['Resources'][seedId] as Json;
    const create = JSON.stringify(seed['Properties']['Create']);
    expect(create).toContain('putObject');
    for (const line of TRUSTSTORE_PLACEHOLDER_PEM.trim().split('\n')) expect(create).toContain(line);
    expect(seed['Properties']['Update']).toBeUndefined();
    expect(seed['Properties']['Delete']).toBeUndefined();
  });

  it('lets only the admin function put the truststore object and switch the certificate domain to it', () => {
    const object = `arn:aws:s3:::${bucketId}/truststore.pem`;
    const domain = `arn:aws:apigateway:${REGION}::/domainnames/${CERT_DOMAIN}`;
    const decide = (context: ContextName, action: string, resource: string) => evaluate(policies[context], { action, resource, context: {} });
    expect(decide('admin', 's3:PutObject', object)).toBe('allowed');
    expect(decide('admin', 's3:GetObjectVersion', object)).toBe('allowed');
    expect(decide('admin', 'apigateway:PATCH', domain)).toBe('allowed');
    // Nothing else in the bucket, no other domain, no other way to change this one.
    expect(decide('admin', 's3:PutObject', `arn:aws:s3:::${bucketId}/other.pem`)).toBe('implicitly denied');
    expect(decide('admin', 's3:DeleteObject', object)).toBe('implicitly denied');
    expect(decide('admin', 's3:PutBucketPolicy', `arn:aws:s3:::${bucketId}`)).toBe('implicitly denied');
    expect(decide('admin', 'apigateway:PATCH', `arn:aws:apigateway:${REGION}::/domainnames/id.example.com`)).toBe('implicitly denied');
    expect(decide('admin', 'apigateway:DELETE', domain)).toBe('implicitly denied');
    expect(decide('admin', 'apigateway:PATCH', `arn:aws:apigateway:${REGION}::/restapis/x`)).toBe('implicitly denied');
    for (const context of CONTEXT_NAMES.filter((c) => c !== 'admin')) {
      expect(decide(context, 's3:PutObject', object)).toBe('implicitly denied');
      expect(decide(context, 'apigateway:PATCH', domain)).toBe('implicitly denied');
    }
  });

  it('tells portal, oidc and saml the certificate origin, and only admin where the truststore is', () => {
    for (const context of ['portal', 'oidc', 'saml'] as const) expect(env(context)['CERT_BASE_URL']).toBe(`https://${CERT_DOMAIN}`);
    for (const context of ['card', 'admin', 'pki'] as const) expect(env(context)['CERT_BASE_URL']).toBeUndefined();
    expect(env('admin')).toMatchObject({ TRUSTSTORE_BUCKET: { Ref: bucketId }, TRUSTSTORE_KEY: 'truststore.pem', CERT_DOMAIN_NAME: CERT_DOMAIN });
    for (const context of CONTEXT_NAMES.filter((c) => c !== 'admin')) expect(env(context)['TRUSTSTORE_BUCKET']).toBeUndefined();
  });
});

describe('operator CLI with certificate login', () => {
  it('may publish the truststore as the admin function does (its enrolments make tenant CAs too), and nothing more of it', () => {
    const { template } = synth({ ...CERT_CONTEXT, operatorRoleArns: 'arn:aws:iam::111122223333:role/operator' });
    const bucketId = logicalIdByPath(template, 'AWS::S3::Bucket', '/Truststore/Bucket/Resource');
    const [[, policy]] = resourcesOfType(template, 'AWS::IAM::ManagedPolicy') as [[string, Json]];
    const resolve = {
      ref: (id: string) => ({ 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT })[id] ?? id,
      getAtt: (id: string) => `arn:aws:s3:::${id}`,
    };
    const statements = (policy['Properties']['PolicyDocument']['Statement'] as Json[]).map((st) => ({
      Effect: st['Effect'],
      actions: [st['Action']].flat() as string[],
      resources: [st['Resource']].flat().map((r: unknown) => resolveIntrinsics(r, resolve)),
      ...(st['Condition'] ? { Condition: st['Condition'] } : {}),
    }));
    const decide = (action: string, resource: string) => evaluate(statements, { action, resource, context: {} });
    expect(decide('s3:PutObject', `arn:aws:s3:::${bucketId}/truststore.pem`)).toBe('allowed');
    expect(decide('apigateway:PATCH', `arn:aws:apigateway:${REGION}::/domainnames/${CERT_DOMAIN}`)).toBe('allowed');
    expect(decide('s3:PutObject', `arn:aws:s3:::${bucketId}/x`)).toBe('implicitly denied');
    expect(decide('apigateway:PATCH', `arn:aws:apigateway:${REGION}::/domainnames/id.example.com`)).toBe('implicitly denied');
  });
});

describe('without certDomainName', () => {
  it('has no mutual-TLS domain, no truststore bucket, no certificate origin', () => {
    const { template } = synth({ domainName: CERT_CONTEXT.domainName, certificateArn: CERT_CONTEXT.certificateArn });
    for (const [, domain] of resourcesOfType(template, 'AWS::ApiGateway::DomainName')) expect(domain['Properties']['MutualTlsAuthentication']).toBeUndefined();
    expect(resourcesOfType(template, 'AWS::S3::Bucket')).toEqual([]);
    expect(resourcesOfType(template, 'Custom::AWS')).toEqual([]);
    expect(Object.keys(template.toJSON()['Outputs'])).not.toContain('CertUrl');
    const variables = resourcesOfType(template, 'AWS::Lambda::Function').map(([, f]) => Object.keys(f['Properties']['Environment']?.['Variables'] ?? {}));
    expect(variables.flat()).not.toEqual(expect.arrayContaining(['CERT_BASE_URL']));
    expect(variables.flat()).not.toEqual(expect.arrayContaining(['TRUSTSTORE_BUCKET']));
  });
});
