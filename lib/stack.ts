import { Annotations, CfnOutput, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CloudcardApi } from './api.ts';
import type { CloudcardConfig } from './config.ts';
import { CloudcardData } from './data.ts';
import { CloudcardFunctions } from './functions.ts';
import { CloudcardKeys } from './keys.ts';
import { CloudcardMonitoring } from './monitoring.ts';
import { CloudcardOperatorAccess } from './operator.ts';
import { CloudcardTruststore } from './truststore.ts';

export interface CloudcardStackProps extends StackProps {
  readonly config: CloudcardConfig;
}

/**
 * The whole deployment in one stack: key policies name the function roles and the functions reference
 * the keys, which across two stacks would be a dependency cycle.
 */
export class CloudcardStack extends Stack {
  readonly config: CloudcardConfig;
  readonly data: CloudcardData;
  readonly keys: CloudcardKeys;
  readonly functions: CloudcardFunctions;
  readonly api: CloudcardApi;
  readonly monitoring: CloudcardMonitoring;
  /** Present when the `certDomainName` context sets up certificate login. */
  readonly truststore?: CloudcardTruststore;
  /** Present when the `operatorRoleArns` context names roles. */
  readonly operators?: CloudcardOperatorAccess;

  constructor(scope: Construct, id: string, props: CloudcardStackProps) {
    super(scope, id, { description: `cloudcard identity platform (${props.config.stage})`, ...props });
    const config = (this.config = props.config);
    const production = config.stage === 'prod';
    Tags.of(this).add('project', 'cloudcard');
    Tags.of(this).add('stage', config.stage);

    this.data = new CloudcardData(this, 'Data', { production });
    // Certificate login: the context gives both or neither (lib/config.ts).
    const cert =
      config.certDomainName && config.certCertificateArn ? { domainName: config.certDomainName, certificateArn: config.certCertificateArn } : undefined;
    const truststore = (this.truststore = cert ? new CloudcardTruststore(this, 'Truststore', { certDomainName: cert.domainName }) : undefined);
    this.keys = new CloudcardKeys(this, 'Keys', { stage: config.stage, production, customKeyStoreId: config.customKeyStoreId });
    this.functions = new CloudcardFunctions(this, 'Functions', {
      stage: config.stage,
      production,
      data: this.data,
      keys: this.keys,
      defaultCustody: config.custody,
      logRetentionDays: config.logRetentionDays,
      publicBaseUrl: config.domainName ? `https://${config.domainName}` : undefined,
      trustedLocationHeaders: config.trustedLocationHeaders,
      ...(cert && truststore
        ? { certBaseUrl: `https://${cert.domainName}`, truststore: { bucket: truststore.bucket.bucketName, key: truststore.key, domainName: cert.domainName } }
        : {}),
    });
    // The admin path publishes the truststore: put that one object, patch that one domain.
    truststore?.grantPublish(this.functions.byContext.admin.role);
    const functions = mapValues(this.functions.byContext, (f) => f.function);
    this.api = new CloudcardApi(this, 'Api', {
      stage: config.stage,
      production,
      functions,
      throttleRate: config.throttleRate,
      throttleBurst: config.throttleBurst,
      wafRateLimit: config.wafRateLimit,
      adminAllowedCidrs: config.adminAllowedCidrs,
      logRetentionDays: config.logRetentionDays,
      domainName: config.domainName,
      certificateArn: config.certificateArn,
      ...(cert && truststore
        ? { certDomain: { ...cert, truststore: { bucket: truststore.bucket, key: truststore.key, version: truststore.initialVersion } } }
        : {}),
    });
    this.monitoring = new CloudcardMonitoring(this, 'Monitoring', {
      stage: config.stage,
      production,
      functions,
      apiStage: this.api.stage,
      keys: [this.keys.cardKek, this.keys.signingKey],
      alarmEmail: config.alarmEmail,
    });

    if (!config.domainName) {
      // Issuers ({ApiUrl}/t/{tenant}) are in every token, client registration, SP's metadata and card
      // certificate: they cannot change later without re-federating everything.
      Annotations.of(this).addWarningV2(
        'cloudcard:issuer-fixed',
        'No domainName: tenant issuers will be the API Gateway URL with its stage path ({ApiUrl}/t/{tenant}) and are fixed forever once relying parties and SPs federate. Choose a custom domain (domainName, certificateArn) before the first tenant goes live.',
      );
    }
    // The operator CLI finds a deployment through these outputs: keep the names.
    const output = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    output('ApiUrl', this.api.url, 'Public base URL (a tenant issuer is {ApiUrl}/t/{tenant})');
    output('DirectoryTableName', this.data.directoryTable.tableName, 'Directory table');
    output('StateTableName', this.data.stateTable.tableName, 'Short-lived state table');
    output('CardKekKeyArn', this.keys.cardKek.keyArn, 'Card key-encryption key');
    output('CardPinKeyArn', this.keys.macKeys.cardPin.keyArn, 'Card PIN and PUK hash key (HMAC)');
    output('SigningKeyArn', this.keys.signingKey.keyArn, 'Token and assertion signing key');
    output('Stage', config.stage, 'Deployment stage');
    output('DefaultCustody', config.custody, 'Default card key custody for new tenants (DEFAULT_CUSTODY)');
    if (config.operatorRoleArns.length > 0) {
      this.operators = new CloudcardOperatorAccess(this, 'Operators', {
        operatorRoleArns: config.operatorRoleArns,
        data: this.data,
        keys: this.keys,
        ...(truststore ? { truststore } : {}),
      });
      output(
        'OperatorPolicyArn',
        this.operators.policy.managedPolicyArn,
        'Managed policy with what the operator CLI needs (attached to the operatorRoleArns roles)',
      );
    }
    if (this.api.certDomain && this.api.certUrl && truststore) {
      // The CLI's --stack reads CertUrl and TruststoreBucketName to publish the truststore: keep the names.
      output('CertUrl', this.api.certUrl, 'Certificate-login (mutual TLS) base URL: the same API, asking clients for a certificate');
      output('CertDomainTarget', this.api.certDomain.domainNameAliasDomainName, 'DNS target (CNAME or alias) for the certificate-login domain');
      output('TruststoreBucketName', truststore.bucket.bucketName, `Bucket of the mutual-TLS truststore (object ${truststore.key})`);
    }
    if (this.api.domain) {
      output('CustomDomainTarget', this.api.domain.domainNameAliasDomainName, 'DNS target (CNAME or alias) for the custom domain');
    }
  }
}

function mapValues<K extends string, A, B>(record: Readonly<Record<K, A>>, f: (a: A) => B): Record<K, B> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v as A)])) as Record<K, B>;
}
