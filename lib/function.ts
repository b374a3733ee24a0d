import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { fileURLToPath } from 'node:url';
import type { ContextName } from '../lambdas/contexts.ts';
import { acknowledge } from './nag.ts';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Gives bundled ESM code a `require` for the CommonJS dependencies esbuild leaves as require() calls. */
export const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * The SDK's default credential chain, replaced in every bundle by the environment provider Lambda needs
 * (the functions also pass it explicitly): the chain's SSO/STS/profile/IMDS code is never bundled. The
 * SDK's event-stream codec, which neither DynamoDB nor KMS uses, is replaced by a module that refuses.
 */
export const BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  '@aws-sdk/credential-provider-node': `${PROJECT_ROOT}lambdas/adapters/env-credentials.ts`,
  // The SDK's event-stream codec: no DynamoDB or KMS operation streams events (see the module).
  '@smithy/core/event-streams': `${PROJECT_ROOT}lambdas/adapters/no-event-streams.ts`,
  // The DynamoDB endpoint cache's LRU: a Map-based one (small-lru.ts) instead of mnemonist's.
  'mnemonist/lru-cache': `${PROJECT_ROOT}lambdas/adapters/small-lru.ts`,
  // node:http without the ESM wrapper for built-ins, which costs ~17 ms of every cold start (see the module).
  http: `${PROJECT_ROOT}lambdas/adapters/node-http.cjs`,
  'node:http': `${PROJECT_ROOT}lambdas/adapters/node-http.cjs`,
};

/** The esbuild options of every function's bundle, in one place: the stack, the bundle-budget test and the benchmark use them. */
export const LAMBDA_ESBUILD = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minify: true,
  mainFields: ['module', 'main'],
  banner: { js: ESM_REQUIRE_BANNER },
  alias: BUNDLE_ALIASES,
} as const;

export interface ContextFunctionProps {
  readonly context: ContextName;
  readonly stage: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly logRetentionDays: number;
  readonly production: boolean;
}

/**
 * One bounded context's Lambda function (lambdas/handlers/{context}.ts) with its own role and log group.
 * The role starts empty: no AWS managed policy, just write access to this log group (plus what X-Ray
 * tracing adds); everything else comes from the grant matrix.
 */
export class ContextFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ContextFunctionProps) {
    super(scope, id);
    const functionName = `cloudcard-${props.stage}-${props.context}`;
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${functionName} execution role`,
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: props.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      functionName,
      description: `cloudcard ${props.context} context (${props.stage})`,
      entry: `${PROJECT_ROOT}lambdas/handlers/${props.context}.ts`,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 1024,
      timeout: Duration.seconds(10),
      tracing: lambda.Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      environment: { ...props.environment },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        forceDockerBundling: false,
        // Bundle everything, the AWS SDK included: the functions run the exact SDK versions package.json
        // pins and the tests ran, not whatever the runtime ships, and tree-shaking keeps cold starts small.
        externalModules: [],
        esbuildArgs: Object.fromEntries(Object.entries(BUNDLE_ALIASES).map(([module, path]) => [`--alias:${module}`, path])),
      },
    });

    acknowledge(this.function, {
      'AwsSolutions-L1':
        'Node.js 22 is the platform the project pins and tests (node@22 runs the tools, local gateway and suites; bundles target node22); a newer runtime is a deliberate upgrade, not a drift.',
    });
    acknowledge(this.role, {
      'AwsSolutions-IAM5[Resource::*]':
        'Active X-Ray tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions.',
    });
  }
}
