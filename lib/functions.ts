import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { CONTEXT_NAMES, ENV, type ContextName } from '../lambdas/contexts.ts';
import type { Custody, Stage } from './config.ts';
import type { CloudcardData } from './data.ts';
import { ContextFunction } from './function.ts';
import { GRANTS, grantsResidentKeys, type FunctionGrants } from './grants.ts';
import type { CloudcardKeys } from './keys.ts';
import { acknowledge } from './nag.ts';

/** Where the functions' EMF metrics go (Powertools): the namespace, and the `service` dimension of each function. */
export const METRICS_NAMESPACE = 'cloudcard';
export const serviceName = (context: ContextName): string => `cloudcard-${context}`;

export interface CloudcardFunctionsProps {
  readonly stage: Stage;
  readonly production: boolean;
  readonly data: CloudcardData;
  readonly keys: CloudcardKeys;
  readonly defaultCustody: Custody;
  readonly logRetentionDays: number;
  /** The public base URL when the API has a custom domain; otherwise handlers derive it per request. */
  readonly publicBaseUrl?: string;
  /** The certificate-login origin (`https://{certDomainName}`): the portal sends the browser there, oidc and saml name it. */
  readonly certBaseUrl?: string;
  /** Where the admin function publishes the mutual-TLS truststore (stacks with a certificate domain). */
  readonly truststore?: { readonly bucket: string; readonly key: string; readonly domainName: string };
  /** Read the CDN's viewer-location headers (context `trustedLocationHeaders`). */
  readonly trustedLocationHeaders?: boolean;
  /** Who may touch what; defaults to the project's matrix (lib/grants.ts). */
  readonly grants?: Readonly<Record<ContextName, FunctionGrants>>;
}

/** One function per bounded context, configured and granted from the grant matrix. */
export class CloudcardFunctions extends Construct {
  readonly byContext: Readonly<Record<ContextName, ContextFunction>>;

  constructor(scope: Construct, id: string, props: CloudcardFunctionsProps) {
    super(scope, id);
    const grants = props.grants ?? GRANTS;
    const entries = CONTEXT_NAMES.map((context) => {
      const granted = grants[context];
      const fn = new ContextFunction(this, pascal(context), {
        context,
        stage: props.stage,
        production: props.production,
        logRetentionDays: props.logRetentionDays,
        environment: environment(context, granted, props),
      });
      applyGrants(fn.function, granted, props);
      // The index wildcard exists only on a table the function may read (pki has no state access).
      acknowledge(fn.role, {
        ...(granted.directory.read.length ? { [indexWildcardFinding(props.data.directoryTable)]: INDEX_REASON } : {}),
        ...(granted.state.read.length ? { [indexWildcardFinding(props.data.stateTable)]: INDEX_REASON } : {}),
        ...residentKeyFindings(granted),
      });
      return [context, fn] as const;
    });
    this.byContext = Object.fromEntries(entries) as Record<ContextName, ContextFunction>;
    // Functions that end sessions without the token key hand relying-party logouts to one that has it.
    for (const [context, fn] of entries) {
      const target = grants[context].logoutRelay;
      if (!target) continue;
      const receiver = this.byContext[target].function;
      // The unqualified function only (grantInvoke would add every version and alias: `{arn}:*`).
      fn.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [receiver.functionArn] }));
      fn.function.addEnvironment(ENV.logoutRelayFunction, receiver.functionName);
    }
  }
}

/** The contexts that send browsers to, or name, the certificate-login origin. */
export const CERT_BASE_URL_CONTEXTS: readonly ContextName[] = ['portal', 'oidc', 'saml'];

function environment(context: ContextName, granted: FunctionGrants, props: CloudcardFunctionsProps): Record<string, string> {
  return {
    [ENV.stage]: props.stage,
    [ENV.directoryTable]: props.data.directoryTable.tableName,
    [ENV.stateTable]: props.data.stateTable.tableName,
    [ENV.keyProvider]: 'kms',
    [ENV.defaultCustody]: props.defaultCustody,
    // Key ids only where the function may use the key, so a missing grant fails at init, not mid-request.
    ...(granted.cardKek.capabilities.length > 0 ? { [ENV.cardKekKeyId]: props.keys.cardKek.keyArn } : {}),
    ...(granted.signingKey.length > 0 ? { [ENV.signingKeyId]: props.keys.signingKey.keyArn } : {}),
    ...(granted.macKeys.includes('cardSession') ? { [ENV.cardSessionKeyId]: props.keys.macKeys.cardSession.keyArn } : {}),
    ...(granted.macKeys.includes('cardPin') ? { [ENV.cardPinKeyId]: props.keys.macKeys.cardPin.keyArn } : {}),
    ...(props.publicBaseUrl ? { [ENV.publicBaseUrl]: props.publicBaseUrl } : {}),
    ...(props.trustedLocationHeaders ? { [ENV.trustedLocationHeaders]: 'true' } : {}),
    ...(props.certBaseUrl && CERT_BASE_URL_CONTEXTS.includes(context) ? { [ENV.certBaseUrl]: props.certBaseUrl } : {}),
    // Only the admin function publishes the truststore (and only it is granted to: lib/truststore.ts).
    ...(props.truststore && context === 'admin'
      ? { [ENV.truststoreBucket]: props.truststore.bucket, [ENV.truststoreKey]: props.truststore.key, [ENV.certDomainName]: props.truststore.domainName }
      : {}),
    POWERTOOLS_SERVICE_NAME: serviceName(context),
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    LOG_LEVEL: 'INFO',
    NODE_OPTIONS: '--enable-source-maps',
  };
}

/** Applies one grant-matrix entry to a grantee (a function's role, or the operators' policy). */
export function applyGrants(grantee: iam.IGrantable, granted: FunctionGrants, { data, keys }: { data: CloudcardData; keys: CloudcardKeys }): void {
  data.grantDirectory(grantee, granted.directory);
  data.grantState(grantee, granted.state);
  const { capabilities, contextCard, excludedContextCards = [] } = granted.cardKek;
  for (const capability of capabilities) {
    if (capability === 'wrap') keys.grantWrap(grantee, contextCard, excludedContextCards);
    else if (capability === 'unwrap') keys.grantUnwrap(grantee, contextCard, excludedContextCards);
    else keys.grantDescribe(grantee, ['cardKek']);
  }
  for (const capability of granted.signingKey) {
    if (capability === 'sign') keys.grantSign(grantee);
    else if (capability === 'getPublicKey') keys.grantGetPublicKey(grantee);
    else keys.grantDescribe(grantee, ['signingKey']);
  }
  if (grantsResidentKeys(granted.residentKeys)) keys.grantResidentKeys(grantee, granted.residentKeys);
  for (const name of granted.macKeys) keys.grantGenerateMac(grantee, name);
  for (const name of granted.macVerifyKeys) keys.grantVerifyMac(grantee, name);
}

/** The wildcard resources resident-key grants need, each acknowledged with why it cannot be narrower. */
export function residentKeyFindings(granted: FunctionGrants): Record<string, string> {
  const findings: Record<string, string> = {};
  if (granted.residentKeys.create.length > 0) {
    findings['AwsSolutions-IAM5[Resource::*]'] =
      'Active X-Ray tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions; ' +
      "kms:CreateKey (and the kms:TagResource its Tags need) has no resource to scope to, the resident key does not exist yet: both are conditioned on the request carrying exactly this stage's cloudcard:stack tag and no tag keys but the three cloudcard ones.";
  }
  if (grantsResidentKeys(granted.residentKeys)) {
    findings['AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]'] =
      "Resident card keys, card CA keys and card-list keys are made at run time, so no key ARN is known at deploy time: Sign, GetPublicKey, DeriveSharedSecret and ScheduleKeyDeletion are scoped to keys of this account and region carrying this stage's cloudcard:stack tag and a cloudcard:purpose tag this function is granted.";
  }
  return findings;
}

export const INDEX_REASON =
  'Query on the table\'s GSIs as "<table>/index/*", bound like every table grant to dynamodb:LeadingKeys patterns (the index\'s own partition key): the indexes (GSI1, GSI2) are part of the same single-table design and their partition keys follow the same prefixes.';

/** cdk-nag's finding id for the "<table ARN>/index/*" resource a table grant adds. */
export function indexWildcardFinding(table: dynamodb.Table): string {
  const stack = Stack.of(table);
  const logicalId = stack.resolve(stack.getLogicalId(table.node.defaultChild as dynamodb.CfnTable)) as string;
  return `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/index/*]`;
}

const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);
