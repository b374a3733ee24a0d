import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { CloudcardData } from './data.ts';
import type { CloudcardTruststore } from './truststore.ts';
import { applyGrants, INDEX_REASON, indexWildcardFinding, residentKeyFindings } from './functions.ts';
import { OPERATOR_GRANTS } from './grants.ts';
import type { CloudcardKeys } from './keys.ts';
import { acknowledge } from './nag.ts';

export interface CloudcardOperatorAccessProps {
  /** IAM roles the operators assume to run `cloudcard --stack …` (same account). */
  readonly operatorRoleArns: readonly string[];
  readonly data: CloudcardData;
  readonly keys: CloudcardKeys;
  /** With certificate login: the CLI's enrolments publish the truststore as the admin function's do. */
  readonly truststore?: CloudcardTruststore;
}

/**
 * The operators' side of the CLI: the stack's keys grant use only through key-policy statements naming a
 * principal, so the operator roles are named there (wrap under the KEK, GenerateMac on the PIN key,
 * public-key reads), and everything IAM can grant (table items by partition, resident keys by tag, the
 * stack's outputs) goes into one managed policy attached to those roles and published as an output, so
 * a role made later can be given the same.
 */
export class CloudcardOperatorAccess extends Construct {
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: CloudcardOperatorAccessProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const roles = props.operatorRoleArns.map((arn, index) => iam.Role.fromRoleArn(this, `Operator${index}`, arn, { mutable: false }));
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: `cloudcard ${stack.stackName}: what the operator CLI needs (cloudcard --stack ${stack.stackName})`,
      roles,
      statements: [
        new iam.PolicyStatement({
          sid: 'ReadStackOutputs',
          actions: ['cloudformation:DescribeStacks'],
          resources: [stack.formatArn({ service: 'cloudformation', resource: 'stack', resourceName: `${stack.stackName}/*` })],
        }),
      ],
    });
    const operators = { grantPrincipal: new OperatorPrincipal(props.operatorRoleArns, this.policy) };
    applyGrants(operators, OPERATOR_GRANTS, props);
    props.truststore?.grantPublish(operators);
    acknowledge(this.policy, {
      [indexWildcardFinding(props.data.directoryTable)]: INDEX_REASON,
      [indexWildcardFinding(props.data.stateTable)]: INDEX_REASON,
      ...residentKeyFindings(OPERATOR_GRANTS),
      [`AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/${stack.stackName}/*]`]:
        'a stack ARN ends in an id CloudFormation assigns at creation: the stack name is fixed, the id cannot be known here',
    });
  }
}

/**
 * The operator roles as one grantee: in a key policy they are named by ARN (a key policy's principal must
 * exist, which the roles do), and statements for their identity policies go into the managed policy.
 */
class OperatorPrincipal extends iam.PrincipalBase {
  readonly #roles: iam.CompositePrincipal;
  readonly #policy: iam.ManagedPolicy;

  constructor(roleArns: readonly string[], policy: iam.ManagedPolicy) {
    super();
    this.#roles = new iam.CompositePrincipal(...roleArns.map((arn) => new iam.ArnPrincipal(arn)));
    this.#policy = policy;
  }

  get policyFragment(): iam.PrincipalPolicyFragment {
    return this.#roles.policyFragment;
  }

  override addToPrincipalPolicy(statement: iam.PolicyStatement): iam.AddToPrincipalPolicyResult {
    this.#policy.addStatements(statement);
    return { statementAdded: true, policyDependable: this.#policy };
  }

  dedupeString(): string | undefined {
    return undefined;
  }

  override toString(): string {
    return 'cloudcard operators';
  }
}
