import { readFileSync } from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import { createCloudcardApp, type CloudcardApp } from '../../lib/app.ts';

/** The context `cdk synth` sees: cdk.json's (feature flags and defaults), so tests synthesize the same app. */
export const CDK_JSON = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  app: string;
  context: Record<string, unknown>;
};

export interface Synthesized extends CloudcardApp {
  readonly template: Template;
}

/**
 * Builds the app as bin/app.ts does (cdk-nag plugin included, so synth itself fails on an unacknowledged
 * finding) and synthesizes it. Bundling runs esbuild for real only when asked: one suite proves it works,
 * the others skip it to stay fast.
 */
export function synth(context: Record<string, unknown> = {}, options: { bundle?: boolean } = {}): Synthesized {
  const built = createCloudcardApp({
    context: {
      ...CDK_JSON.context,
      // What the CLI adds: construct paths and asset paths in the template metadata.
      'aws:cdk:enable-path-metadata': true,
      'aws:cdk:enable-asset-metadata': true,
      ...context,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
  return { ...built, template: Template.fromStack(built.stack) };
}

export type Json = Record<string, any>;

export interface Statement {
  readonly Effect: string;
  readonly actions: string[];
  readonly resources: unknown[];
  readonly principals: unknown[];
  readonly Condition?: Json;
}

const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

export function normalize(statement: Json): Statement {
  return {
    Effect: statement['Effect'],
    actions: list<string>(statement['Action']),
    resources: list(statement['Resource']),
    principals: list(statement['Principal']?.['AWS'] ?? statement['Principal']?.['Service']),
    Condition: statement['Condition'],
  };
}

export function resourcesOfType(template: Template, type: string): [string, Json][] {
  return Object.entries(template.findResources(type)) as [string, Json][];
}

/** The logical id of the one resource of `type` whose construct path ends with `pathSuffix`. */
export function logicalIdByPath(template: Template, type: string, pathSuffix: string): string {
  const found = resourcesOfType(template, type).filter(([, r]) => String(r['Metadata']?.['aws:cdk:path']).endsWith(pathSuffix));
  if (found.length !== 1) throw new Error(`expected one ${type} at *${pathSuffix}, found ${found.length}`);
  return found[0]![0];
}

/** Every identity-policy statement attached to a role (its inline policies and AWS::IAM::Policy resources). */
export function roleStatements(template: Template, roleId: string): Statement[] {
  const role = template.toJSON()['Resources'][roleId] as Json;
  const inline = list<Json>(role['Properties']['Policies']).flatMap((p) => list<Json>(p['PolicyDocument']['Statement']));
  const attached = resourcesOfType(template, 'AWS::IAM::Policy')
    .filter(([, p]) => list<Json>(p['Properties']['Roles']).some((r) => r['Ref'] === roleId))
    .flatMap(([, p]) => list<Json>(p['Properties']['PolicyDocument']['Statement']));
  return [...inline, ...attached].map(normalize);
}

export const getAttArn = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });

/** Key-policy statements whose principal is the given role. */
export function keyStatementsFor(keyPolicy: Json, roleId: string): Statement[] {
  const arn = JSON.stringify(getAttArn(roleId));
  return list<Json>(keyPolicy['Statement'])
    .map(normalize)
    .filter((s) => s.principals.some((p) => JSON.stringify(p) === arn));
}
