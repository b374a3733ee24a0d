import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { RESIDENT_KEY_TAG, RESIDENT_PURPOSE_TAG, residentKeyStackTag } from '../lambdas/adapters/kms/resident-keys.ts';
import type { ResidentKeySpec, ResidentSigningAlgorithm, WrapContext } from '../lambdas/ports.ts';
import type { Stage } from './config.ts';
import type { MacKeyName, ResidentKeyGrant } from './grants.ts';
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

/** The tags KmsResidentKeys puts on every key it creates (stack, tenant, purpose): no others may be set. */
export const RESIDENT_KEY_TAG_KEYS = [RESIDENT_KEY_TAG, 'cloudcard:tenant', RESIDENT_PURPOSE_TAG] as const;
/** The key specs, usages and signing algorithms resident keys are made with and used for (lambdas/ports.ts). */
export const RESIDENT_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384'] as const satisfies readonly ResidentKeySpec[];
export const RESIDENT_KEY_USAGES = ['SIGN_VERIFY', 'KEY_AGREEMENT'] as const;
export const RESIDENT_SIGNING_ALGORITHMS = [
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'ECDSA_SHA_256',
  'ECDSA_SHA_384',
] as const satisfies readonly ResidentSigningAlgorithm[];

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
  /**
   * HMAC_256 keys (never leave KMS): `cardSession` seals card-session security state (the card function
   * derives a subkey with GenerateMac), `cardPin` MACs PIN and PUK hashes (GenerateMac, and VerifyMac per
   * check). Losing the PIN key makes every stored PIN unverifiable, so it is retained like the KEK.
   */
  readonly macKeys: Readonly<Record<MacKeyName, kms.Key>>;
  readonly macKeyPolicies: Readonly<Record<MacKeyName, iam.PolicyDocument>> = { cardSession: keyPolicy(), cardPin: keyPolicy() };
  /** The `cloudcard:stack` tag value of this stage's resident keys (what KmsResidentKeys tags them with). */
  readonly residentKeyStackTag: string;

  constructor(scope: Construct, id: string, props: CloudcardKeysProps) {
    super(scope, id);
    this.residentKeyStackTag = residentKeyStackTag(props.stage);
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
    const macKey = (id: string, name: MacKeyName, what: string) =>
      new kms.Key(this, id, {
        description: `cloudcard ${props.stage}: ${what}`,
        keySpec: kms.KeySpec.HMAC_256,
        keyUsage: kms.KeyUsage.GENERATE_VERIFY_MAC,
        policy: this.macKeyPolicies[name],
        removalPolicy,
        pendingWindow,
      });
    this.macKeys = {
      cardSession: macKey('CardSessionKey', 'cardSession', 'card-session state MAC key'),
      cardPin: macKey('CardPinKey', 'cardPin', 'card PIN and PUK hash key'),
    };
  }

  /** kms:GenerateMac (HMAC_SHA_256 only) with one of the HMAC keys. */
  grantGenerateMac(grantee: iam.IGrantable, name: MacKeyName): iam.PolicyStatement {
    return this.allow(this.macKeyPolicies[name], grantee, ['kms:GenerateMac'], { StringEquals: { 'kms:MacAlgorithm': 'HMAC_SHA_256' } });
  }

  /** kms:VerifyMac (HMAC_SHA_256 only) with one of the HMAC keys. */
  grantVerifyMac(grantee: iam.IGrantable, name: MacKeyName): iam.PolicyStatement {
    return this.allow(this.macKeyPolicies[name], grantee, ['kms:VerifyMac'], { StringEquals: { 'kms:MacAlgorithm': 'HMAC_SHA_256' } });
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
    return which.map((key) => this.allow(key === 'cardKek' ? this.cardKekPolicy : this.signingKeyPolicy, grantee, ['kms:DescribeKey']));
  }

  /**
   * Resident keys (KMS asymmetric keys the functions make at run time) cannot be named in a key policy, so
   * their use is granted in the grantee's IAM policy and bound to this stage's `cloudcard:stack` tag and
   * to the `cloudcard:purpose` tag values the grant lists for each kind of use:
   * - create: kms:CreateKey only with the stack tag and one of the grant's purposes in the request, no tag
   *   keys but the three cloudcard ones, a resident key spec and usage, key material made by KMS;
   *   kms:TagResource (which CreateKey with tags needs, on no particular key) under the same conditions;
   * - sign: kms:Sign (the resident signing algorithms) only on keys of the listed purposes;
   * - agree: kms:DeriveSharedSecret (ECDH) only on keys of the listed purposes;
   * - destroy: kms:ScheduleKeyDeletion only on keys of the listed purposes;
   * - kms:GetPublicKey on keys of any purpose the grant names.
   * Tagging is an access-control permission here, so it is denied on every key that already carries a
   * purpose tag (an existing CA key cannot be re-tagged `card-key` to become signable), and on the stack's
   * own keys, whose key policies delegate TagResource and ScheduleKeyDeletion to IAM.
   * kms:TagResource cannot be limited to the key being created (CreateKey checks it on no particular
   * key), so another key of the account whose key policy delegates tagging and use to IAM could be
   * tagged into reach: keep other keys' policies from delegating kms:TagResource to IAM wholesale, or
   * deny it with a permissions boundary, where that matters.
   */
  grantResidentKeys(grantee: iam.IGrantable, grant: ResidentKeyGrant): iam.PolicyStatement[] {
    const stack = Stack.of(this);
    const anyKey = stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' });
    const requestTags = (purposes: readonly string[]) => ({
      StringEquals: { [`aws:RequestTag/${RESIDENT_KEY_TAG}`]: this.residentKeyStackTag, [`aws:RequestTag/${RESIDENT_PURPOSE_TAG}`]: [...purposes] },
      'ForAllValues:StringEquals': { 'aws:TagKeys': [...RESIDENT_KEY_TAG_KEYS] },
    });
    const tagged = (purposes: readonly string[]) => ({
      [`aws:ResourceTag/${RESIDENT_KEY_TAG}`]: this.residentKeyStackTag,
      [`aws:ResourceTag/${RESIDENT_PURPOSE_TAG}`]: [...purposes],
    });
    const statements: iam.PolicyStatement[] = [];
    const allow = (actions: string[], resources: string[], conditions: Record<string, Record<string, unknown>>) =>
      statements.push(new iam.PolicyStatement({ actions, resources, conditions }));
    if (grant.create.length > 0) {
      const request = requestTags(grant.create);
      allow(['kms:CreateKey'], ['*'], {
        StringEquals: {
          ...request.StringEquals,
          'kms:KeySpec': [...RESIDENT_KEY_SPECS],
          'kms:KeyUsage': [...RESIDENT_KEY_USAGES],
          'kms:KeyOrigin': 'AWS_KMS',
        },
        'ForAllValues:StringEquals': request['ForAllValues:StringEquals'],
      });
      allow(['kms:TagResource'], ['*'], request);
    }
    if (grant.sign.length > 0)
      allow(['kms:Sign'], [anyKey], { StringEquals: { ...tagged(grant.sign), 'kms:SigningAlgorithm': [...RESIDENT_SIGNING_ALGORITHMS] } });
    if (grant.agree.length > 0) allow(['kms:DeriveSharedSecret'], [anyKey], { StringEquals: { ...tagged(grant.agree), 'kms:KeyAgreementAlgorithm': 'ECDH' } });
    const readable = [...new Set([...grant.create, ...grant.sign, ...grant.agree])];
    if (readable.length > 0) allow(['kms:GetPublicKey'], [anyKey], { StringEquals: tagged(readable) });
    if (grant.destroy.length > 0) allow(['kms:ScheduleKeyDeletion'], [anyKey], { StringEquals: tagged(grant.destroy) });
    if (statements.length > 0) {
      statements.push(
        new iam.PolicyStatement({
          effect: iam.Effect.DENY,
          actions: ['kms:TagResource', 'kms:UntagResource'],
          resources: [anyKey],
          conditions: { Null: { [`aws:ResourceTag/${RESIDENT_PURPOSE_TAG}`]: 'false' } },
        }),
        new iam.PolicyStatement({
          effect: iam.Effect.DENY,
          actions: ['kms:TagResource', 'kms:UntagResource', 'kms:ScheduleKeyDeletion'],
          resources: [this.cardKek.keyArn, this.signingKey.keyArn, this.macKeys.cardSession.keyArn, this.macKeys.cardPin.keyArn],
        }),
      );
    }
    for (const statement of statements) grantee.grantPrincipal.addToPrincipalPolicy(statement);
    return statements;
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
