import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import nag from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { createCloudcardApp } from '../../lib/app.ts';
import { CDK_JSON, synth, type Synthesized } from './support.ts';

/**
 * cdk-nag v3 runs as a CDK validation plugin and records findings in the validation report, not as
 * annotations; the pack's validateScope() gives the same findings directly.
 */
const VARIANTS: [string, Record<string, unknown>][] = [
  ['dev (defaults)', {}],
  ['prod', { stage: 'prod' }],
  [
    'prod with every option',
    {
      stage: 'prod',
      customKeyStoreId: 'cks-1234567890abcdef0',
      alarmEmail: 'ops@example.com',
      domainName: 'id.example.com',
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
      certDomainName: 'cert.id.example.com',
      certCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789013',
    },
  ],
  [
    'dev with certificate login only',
    { certDomainName: 'cert.example.com', certCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789013' },
  ],
  ['dev with a CloudHSM key store', { customKeyStoreId: 'cks-1234567890abcdef0' }],
];

interface Finding {
  readonly id: string;
  readonly path: string;
}

const findings = (scope: IConstruct): Finding[] =>
  new nag.AwsSolutionsChecks()
    .validateScope(scope)
    .violations.flatMap((v) => v.violatingResources.map((r) => ({ id: v.ruleName, path: r.constructPath ?? '?' })));

describe.each(VARIANTS)('cdk-nag AwsSolutions on %s', (_name, context) => {
  let s: Synthesized;
  beforeAll(() => {
    // Synthesis runs the AwsSolutions plugin bin/app.ts registers: it throws on any open finding.
    s = synth(context);
  });

  it('reports no error and no warning', () => {
    const open = findings(s.stack).map((f) => `${f.id} at ${f.path}`);
    expect(open).toEqual([]);
  });

  it('leaves no CDK error or warning annotation', () => {
    const annotations = Annotations.fromStack(s.stack);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    // The one intended warning: without a custom domain the issuer is the API URL, fixed forever.
    const warnings = annotations.findWarning('*', Match.anyValue()).filter((w) => !String(w.entry.data).includes('[ack: cloudcard:issuer-fixed]'));
    expect(warnings).toEqual([]);
  });

  it('acknowledges only findings that exist, each with a written reason', () => {
    // A fresh app with the acknowledgements lifted: every one must match a raw finding on its subtree.
    const { stack } = createCloudcardApp({ context: { ...CDK_JSON.context, ...context, 'aws:cdk:bundling-stacks': [] } });
    const acknowledged: (Finding & { reason: string })[] = [];
    for (const construct of stack.node.findAll()) {
      for (const entry of construct.node.metadata as { type: string; data: Record<string, string> }[]) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data)) {
          acknowledged.push({ id: id.replace(/^annotation::/i, ''), path: construct.node.path, reason });
        }
        entry.type = 'lifted-for-test';
      }
    }
    const raw = findings(stack);
    const covers = (a: Finding, f: Finding) => a.id === f.id && (f.path === a.path || f.path.startsWith(`${a.path}/`));
    expect(acknowledged.filter((a) => !raw.some((f) => covers(a, f))).map((a) => `${a.id} at ${a.path}`)).toEqual([]);
    expect(raw.filter((f) => !acknowledged.some((a) => covers(a, f))).map((f) => `${f.id} at ${f.path}`)).toEqual([]);
    for (const a of acknowledged) expect(a.reason.length).toBeGreaterThan(40);
  });
});

describe('cdk-nag in the app', () => {
  it('fails synth on an unacknowledged finding', () => {
    const { app, stack } = createCloudcardApp({ context: { ...CDK_JSON.context, 'aws:cdk:bundling-stacks': [] } });
    new sns.Topic(stack, 'PlainTopic'); // no TLS-only policy: AwsSolutions-SNS3
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(() => Template.fromStack(stack)).toThrow(/AwsSolutions-SNS3|Validation failed/);
    } finally {
      quiet.mockRestore();
      log.mockRestore();
    }
    const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8'));
    expect(JSON.stringify(report)).toContain('AwsSolutions-SNS3');
  });

  it('writes the acknowledgements into the template metadata as an audit trail', () => {
    const s = synth();
    const fn = Object.values(s.template.findResources('AWS::Lambda::Function'))[0]!;
    expect(fn['Metadata']['cdk_nag']['rules_to_suppress']).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: 'AwsSolutions-L1', reason: expect.any(String) })]),
    );
  });
});
