import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { createCloudcardApp } from '../../lib/app.ts';
import { CONTEXT_DEFAULTS, ContextError, readConfig } from '../../lib/config.ts';
import { CDK_JSON } from './support.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const config = (context: Record<string, unknown>) => readConfig((key) => context[key]);

describe('cdk.json', () => {
  it('runs bin/app.ts on Node with type stripping', () => {
    expect(CDK_JSON.app).toBe('node bin/app.ts');
  });

  it('states the same defaults as the code', () => {
    for (const [key, value] of Object.entries(CONTEXT_DEFAULTS)) expect(CDK_JSON.context[key]).toBe(value);
  });
});

describe('context', () => {
  it('defaults to a dev deployment with wrapped custody', () => {
    expect(config({})).toEqual({
      stage: 'dev',
      domainName: undefined,
      certificateArn: undefined,
      custody: 'wrapped',
      customKeyStoreId: undefined,
      throttleRate: 50,
      throttleBurst: 100,
      wafRateLimit: 2000,
      logRetentionDays: 30,
      alarmEmail: undefined,
      operatorRoleArns: [],
      adminAllowedCidrs: [],
    });
  });

  it('accepts numbers as the strings `-c key=value` gives, and empty strings as unset', () => {
    expect(config({ throttleRate: '12.5', throttleBurst: '20', wafRateLimit: '100', logRetentionDays: '90', alarmEmail: '' })).toMatchObject({
      throttleRate: 12.5,
      throttleBurst: 20,
      wafRateLimit: 100,
      logRetentionDays: 90,
      alarmEmail: undefined,
    });
  });

  it.each([
    ['stage', { stage: 'staging' }],
    ['custody', { custody: 'bogus' }],
    ['throttleRate', { throttleRate: -1 }],
    ['throttleRate', { throttleRate: 'fast' }],
    ['throttleBurst', { throttleBurst: 1.5 }],
    ['wafRateLimit', { wafRateLimit: 5 }],
    ['logRetentionDays', { logRetentionDays: 10 }],
    ['domainName', { domainName: 'not a domain', certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012' }],
    ['certificateArn', { domainName: 'id.example.com' }],
    ['certificateArn', { domainName: 'id.example.com', certificateArn: 'arn:aws:iam::123456789012:role/x' }],
    ['domainName', { certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012' }],
    [
      'certDomainName',
      { certDomainName: 'Cert.Example.com', certCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012' },
    ],
    ['certCertificateArn', { certDomainName: 'cert.id.example.com' }],
    ['certCertificateArn', { certDomainName: 'cert.id.example.com', certCertificateArn: 'arn:aws:iam::123456789012:role/x' }],
    ['certDomainName', { certCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012' }],
    [
      'certDomainName',
      {
        domainName: 'id.example.com',
        certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
        certDomainName: 'id.example.com',
        certCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
      },
    ],
    ['customKeyStoreId', { customKeyStoreId: 'my-hsm' }],
    ['alarmEmail', { alarmEmail: 'ops' }],
    ['trustedLocationHeaders', { trustedLocationHeaders: 'yes' }],
  ])('rejects a bad %s, naming the key', (key, context) => {
    let error: unknown;
    try {
      config(context);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ContextError);
    expect((error as ContextError).key).toBe(key);
    expect((error as ContextError).message).toContain(`"${key}"`);
  });

  it('reads the certificate-login domain as a pair, absent by default', () => {
    expect(config({}).certDomainName).toBeUndefined();
    expect(
      config({
        certDomainName: 'cert.id.example.com',
        certCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
      }),
    ).toMatchObject({
      certDomainName: 'cert.id.example.com',
      certCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
    });
    expect(config({ certDomainName: '', certCertificateArn: '' }).certDomainName).toBeUndefined();
  });

  it('trusts CDN location headers only when told, from cdk.json booleans or -c strings', () => {
    expect(config({}).trustedLocationHeaders).toBeUndefined();
    expect(config({ trustedLocationHeaders: 'false' }).trustedLocationHeaders).toBeUndefined();
    expect(config({ trustedLocationHeaders: true }).trustedLocationHeaders).toBe(true);
    expect(config({ trustedLocationHeaders: 'true' }).trustedLocationHeaders).toBe(true);
  });

  it('fails building the app on custody=bogus, naming the key', () => {
    expect(() => createCloudcardApp({ context: { ...CDK_JSON.context, custody: 'bogus' } })).toThrow(
      /Invalid CDK context "custody": must be one of wrapped, kms-resident \(got "bogus"\)/,
    );
  });
});

// The real entry point, run the way `cdk synth` runs it: Node 22 stripping the types of bin/app.ts.
describe('bin/app.ts', () => {
  const run = (context: Record<string, unknown>) => {
    const outdir = mkdtempSync(join(tmpdir(), 'cloudcard-synth-'));
    const result = spawnSync(process.execPath, ['bin/app.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_OUTDIR: outdir,
        CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_JSON.context, 'aws:cdk:bundling-stacks': [], ...context }),
      },
    });
    return { ...result, outdir };
  };

  it('exits with one line naming the bad key', () => {
    const { status, stderr, outdir } = run({ custody: 'bogus' });
    rmSync(outdir, { recursive: true, force: true });
    expect(status).toBe(1);
    expect(stderr.trim()).toBe('Invalid CDK context "custody": must be one of wrapped, kms-resident (got "bogus")');
  });

  it('synthesizes Cloudcard-{stage} offline, warning only that the issuer is fixed without a custom domain', () => {
    const { status, stderr, outdir } = run({ stage: 'prod' });
    try {
      expect(status).toBe(0);
      expect(stderr).toMatch(/WARNING No domainName: tenant issuers will be the API Gateway URL/);
      expect(stderr.split('\n').filter((line) => /WARNING|ERROR/.test(line))).toHaveLength(1);
      const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8'));
      expect(Object.keys(manifest.artifacts)).toContain('Cloudcard-prod');
      expect(existsSync(join(outdir, 'Cloudcard-prod.template.json'))).toBe(true);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
