import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { WrapContext } from '../lambdas/ports.ts';
import type { Stage } from './config.ts';
import { CustomKeyStoreKey } from './hsm.ts';

export interface CloudcardKeysProps {
  readonly stage: Stage;
  /** prod retains the keys on stack deletion; dev schedules their deletion (7-day window). */
  readonly production: boolean;
  /** When set, the card KEK is created in this CloudHSM-backed custom key store. */
  readonly customKeyStoreId?: string;
}

/** The encryption context every wrapped card key is bound to (the KeyCustody port's WrapContext). */
export const WRAP_CONTEXT_KEYS = ['tenant', 'card', 'slot'] as const satisfies readonly (keyof WrapContext)[];

/** The JWS/XML-DSig algorithms the signers use with an RSA key: RS256 and PS256. */
export const SIGNING_ALGORITHMS = ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PSS_SHA_256'] as const;

/**
 * What the account (through IAM) may do with the keys: administer them, never use them. Cryptographic use
 * is granted only by key-policy statements that name a function role, so no IAM policy alone can add a
 * user of a key. (No kms:CreateGrant: a grant would be a way around the key policy.)
 *
 * One administrative action can still widen use: kms:PutKeyPolicy replaces the policy itself. It stays in
 * this statement because CloudFormation applies every grant change through it (and KMS refuses a policy
 * that would lock out the principal putting it); removing it, or pinning it to the deployment role,
 * risks a key no one can administer. So kms:PutKeyPolicy must be held only by administrators and the
 * deployment role, and every call is reported: the monitoring construct alarms on PutKeyPolicy (and
 * other key-state changes) from CloudTrail.
 */
const ADMIN_ACTIONS = [
  'kms:CreateAlias',
  'kms:DeleteAlias',
  'kms:Describe*',
  'kms:List*',
  'kms:Get*',
  'kms:PutKeyPolicy',
  'kms:Update*',
  'kms:Enable*',
  'kms:Disable*',
  'kms:Revoke*',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
  'kms:RotateKeyOnDemand',
];

function keyPolicy(): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'KeyAdministrationThroughIam',
        principals: [new iam.AccountRootPrincipal()],
        actions: ADMIN_ACTIONS,
        resources: ['*'],
      }),
    ],
  });
}

/**
 * The card key-encryption key (symmetric, rotated yearly, optionally in CloudHSM) and the token/assertion
 * signing key (RSA 2048, never leaves KMS). grant* methods add key-policy statements naming the grantee's
 * role; the roles' own IAM policies carry no KMS permissions.
 */
export class CloudcardKeys extends Construct {
  readonly cardKek: kms.IKey;
  readonly signingKey: kms.IKey;
  readonly cardKekAlias: kms.Alias;
  readonly signingKeyAlias: kms.Alias;
  /** The key policies, kept here because a custom-key-store KEK is not a kms.Key with its own. */
  readonly cardKekPolicy = keyPolicy();
  readonly signingKeyPolicy = keyPolicy();

  constructor(scope: Construct, id: string, props: CloudcardKeysProps) {
    super(scope, id);
    const removalPolicy = props.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const pendingWindow = Duration.days(props.production ? 30 : 7);

    this.cardKek = props.customKeyStoreId
      ? new CustomKeyStoreKey(this, 'CardKekInHsm', {
          customKeyStoreId: props.customKeyStoreId,
          description: `cloudcard ${props.stage}: card key-encryption key (CloudHSM)`,
          policy: this.cardKekPolicy,
          removalPolicy,
        }).key
      : new kms.Key(this, 'CardKek', {
          description: `cloudcard ${props.stage}: card key-encryption key`,
          keySpec: kms.KeySpec.SYMMETRIC_DEFAULT,
          keyUsage: kms.KeyUsage.ENCRYPT_DECRYPT,
          enableKeyRotation: true,
          policy: this.cardKekPolicy,
          removalPolicy,
          pendingWindow,
        });
    this.cardKekAlias = new kms.Alias(this, 'CardKekAlias', {
      aliasName: `alias/cloudcard-${props.stage}-card-kek`,
      targetKey: this.cardKek,
      removalPolicy,
    });

    // Asymmetric keys cannot rotate automatically: rotation is a new key published alongside in the JWKS.
    this.signingKey = new kms.Key(this, 'SigningKey', {
      description: `cloudcard ${props.stage}: token and assertion signing key`,
      keySpec: kms.KeySpec.RSA_2048,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      policy: this.signingKeyPolicy,
      removalPolicy,
      pendingWindow,
    });
    this.signingKeyAlias = new kms.Alias(this, 'SigningKeyAlias', {
      aliasName: `alias/cloudcard-${props.stage}-token-signing`,
      targetKey: this.signingKey,
      removalPolicy,
    });
  }

  /**
   * kms:Encrypt under the KEK, only with exactly the {tenant, card, slot} encryption context, and with
   * `card` equal to `contextCard` when given.
   */
  grantWrap(grantee: iam.IGrantable, contextCard?: string, excludedCards: readonly string[] = []): iam.PolicyStatement {
    return this.allow(this.cardKekPolicy, grantee, ['kms:Encrypt'], wrapContextCondition(contextCard, excludedCards));
  }

  /**
   * kms:Decrypt under the KEK, only with exactly the {tenant, card, slot} encryption context, and with
   * `card` equal to `contextCard` when given.
   */
  grantUnwrap(grantee: iam.IGrantable, contextCard?: string, excludedCards: readonly string[] = []): iam.PolicyStatement {
    return this.allow(this.cardKekPolicy, grantee, ['kms:Decrypt'], wrapContextCondition(contextCard, excludedCards));
  }

  /** kms:Sign with the RS256/PS256 algorithms only. */
  grantSign(grantee: iam.IGrantable): iam.PolicyStatement {
    return this.allow(this.signingKeyPolicy, grantee, ['kms:Sign'], {
      StringEquals: { 'kms:SigningAlgorithm': [...SIGNING_ALGORITHMS] },
    });
  }

  /** kms:GetPublicKey, to publish the signing key in a JWKS or metadata. */
  grantGetPublicKey(grantee: iam.IGrantable): iam.PolicyStatement {
    return this.allow(this.signingKeyPolicy, grantee, ['kms:GetPublicKey']);
  }

  /** kms:DescribeKey (both keys by default): the health check proves them reachable without using them. */
  grantDescribe(grantee: iam.IGrantable, which: readonly ('cardKek' | 'signingKey')[] = ['cardKek', 'signingKey']): iam.PolicyStatement[] {
    return which.map((key) =>
      this.allow(key === 'cardKek' ? this.cardKekPolicy : this.signingKeyPolicy, grantee, ['kms:DescribeKey']),
    );
  }

  private allow(
    policy: iam.PolicyDocument,
    grantee: iam.IGrantable,
    actions: string[],
    conditions?: Record<string, Record<string, unknown>>,
  ): iam.PolicyStatement {
    // In a key policy "*" means this key.
    const statement = new iam.PolicyStatement({ principals: [grantee.grantPrincipal], actions, resources: ['*'], conditions });
    policy.addStatements(statement);
    return statement;
  }
}

function wrapContextCondition(contextCard?: string, excludedCards: readonly string[] = []): Record<string, Record<string, unknown>> {
  return {
    // No other context keys allowed ...
    'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [...WRAP_CONTEXT_KEYS] },
    // ... and each of these present (ForAllValues alone also passes an empty context) ...
    Null: Object.fromEntries(WRAP_CONTEXT_KEYS.map((key) => [`kms:EncryptionContext:${key}`, 'false'])),
    // ... and, for a function that only handles one kind of secret, `card` naming that kind.
    ...(contextCard ? { StringEquals: { 'kms:EncryptionContext:card': contextCard } } : {}),
    // ... and never one of the kinds reserved for other functions.
    ...(excludedCards.length ? { StringNotEquals: { 'kms:EncryptionContext:card': [...excludedCards] } } : {}),
  };
}
