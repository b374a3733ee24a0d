import { CustomResource, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { acknowledge } from './nag.ts';

/** Construct id of the singleton provider function behind every AwsCustomResource (fixed by CDK). */
const AWS_CUSTOM_RESOURCE_PROVIDER_ID = 'AWS679f53fac002430cb0da5b7982bd2287';

/**
 * The tag CreateKey puts on the HSM key (value: the stack name). The custom resource's role may change
 * the policy of, or delete, only keys carrying it, rather than any key of the account and region.
 */
export const HSM_KEY_STACK_TAG = 'cloudcard:stack';

export interface CustomKeyStoreKeyProps {
  /** The existing, connected CloudHSM-backed KMS custom key store. */
  readonly customKeyStoreId: string;
  readonly description: string;
  /** The key policy; statements added to it later (grants) are applied on the next deploy. */
  readonly policy: iam.PolicyDocument;
  /** RETAIN leaves the key on stack deletion; DESTROY schedules its deletion (7-day window). */
  readonly removalPolicy: RemovalPolicy;
}

/**
 * A symmetric KMS key whose material lives in a CloudHSM cluster. AWS::KMS::Key has no CustomKeyStoreId
 * property, so a custom resource calls CreateKey with Origin AWS_CLOUDHSM (tagging the key with the stack
 * name), keeps the policy in step with PutKeyPolicy on update, and schedules deletion on delete; its role
 * may do the last two only to keys with that tag. Keys in custom key stores cannot rotate
 * automatically; changing the key store after deployment is not supported (it would strand every
 * wrapped card key).
 */
export class CustomKeyStoreKey extends Construct {
  readonly key: kms.IKey;

  constructor(scope: Construct, id: string, props: CustomKeyStoreKeyProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const policy = stack.toJsonString(props.policy);
    const keyArns = stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' });
    const resource = new cr.AwsCustomResource(this, 'Resource', {
      installLatestAwsSdk: false,
      onCreate: {
        service: 'KMS',
        action: 'CreateKey',
        parameters: {
          CustomKeyStoreId: props.customKeyStoreId,
          Origin: 'AWS_CLOUDHSM',
          KeySpec: 'SYMMETRIC_DEFAULT',
          KeyUsage: 'ENCRYPT_DECRYPT',
          Description: props.description,
          Policy: policy,
          Tags: [{ TagKey: HSM_KEY_STACK_TAG, TagValue: stack.stackName }],
        },
        physicalResourceId: cr.PhysicalResourceId.fromResponse('KeyMetadata.KeyId'),
      },
      onUpdate: {
        service: 'KMS',
        action: 'PutKeyPolicy',
        parameters: { KeyId: new cr.PhysicalResourceIdReference(), PolicyName: 'default', Policy: policy },
      },
      ...(props.removalPolicy === RemovalPolicy.DESTROY
        ? {
            onDelete: {
              service: 'KMS',
              action: 'ScheduleKeyDeletion',
              parameters: { KeyId: new cr.PhysicalResourceIdReference(), PendingWindowInDays: 7 },
            },
          }
        : {}),
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        // CreateKey with Tags also needs kms:TagResource; both only with exactly this stack's tag.
        new iam.PolicyStatement({
          actions: ['kms:CreateKey', 'kms:TagResource'],
          resources: ['*'],
          conditions: {
            StringEquals: { [`aws:RequestTag/${HSM_KEY_STACK_TAG}`]: stack.stackName },
            'ForAllValues:StringEquals': { 'aws:TagKeys': [HSM_KEY_STACK_TAG] },
          },
        }),
        new iam.PolicyStatement({
          actions: ['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion'],
          resources: [keyArns],
          conditions: { StringEquals: { [`aws:ResourceTag/${HSM_KEY_STACK_TAG}`]: stack.stackName } },
        }),
      ]),
    });
    // The physical id is the key id, and Ref stays valid after updates (response fields would not).
    const keyId = (resource.node.findChild('Resource') as CustomResource).ref;
    this.key = kms.Key.fromKeyArn(this, 'Key', stack.formatArn({ service: 'kms', resource: 'key', resourceName: keyId }));

    acknowledge(resource, {
      'AwsSolutions-IAM5[Resource::*]':
        "kms:CreateKey (and the kms:TagResource its Tags need) has no resource to scope to, the key does not exist yet; both are conditioned on the request carrying exactly this stack's cloudcard:stack tag.",
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]':
        "PutKeyPolicy/ScheduleKeyDeletion target the key this resource creates, whose id is only known at deploy time; scoped to keys of this account and region that carry this stack's cloudcard:stack tag.",
    });
    // The provider function CDK shares between all AwsCustomResources of the stack.
    const provider = stack.node.tryFindChild(AWS_CUSTOM_RESOURCE_PROVIDER_ID);
    if (provider) {
      acknowledge(provider, {
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]':
          "CDK's AwsCustomResource provider function writes its logs through the AWS basic execution policy; it runs only at deploy time.",
      });
    }
  }
}
