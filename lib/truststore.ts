import { Arn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { TRUSTSTORE_OBJECT_KEY, TRUSTSTORE_PLACEHOLDER_PEM } from '../lambdas/core/pki/truststore.ts';
import { acknowledge } from './nag.ts';

/** Construct id of the singleton provider function behind every AwsCustomResource (fixed by CDK). */
const AWS_CUSTOM_RESOURCE_PROVIDER_ID = 'AWS679f53fac002430cb0da5b7982bd2287';

export interface CloudcardTruststoreProps {
  /** The mutual-TLS custom domain whose truststore this is (the admin function may patch only it). */
  readonly certDomainName: string;
}

/**
 * The mutual-TLS truststore: a versioned S3 bucket (TLS only, no public access, S3-managed encryption,
 * kept on stack deletion) holding `truststore.pem`. A deploy-time custom resource puts the first version
 * (the keyless placeholder CA: API Gateway refuses a domain whose truststore is missing or empty); from
 * then on the admin function publishes every tenant's card CA and trusted CAs (the admin path,
 * lambdas/core/pki/truststore.ts) and switches the domain to each new version.
 */
export class CloudcardTruststore extends Construct {
  readonly bucket: s3.Bucket;
  readonly key = TRUSTSTORE_OBJECT_KEY;
  /** The object version the template gives the domain: the first one (later ones are set by the admin function). */
  readonly initialVersion: string;
  readonly certDomainName: string;

  constructor(scope: Construct, id: string, props: CloudcardTruststoreProps) {
    super(scope, id);
    this.certDomainName = props.certDomainName;
    this.bucket = new s3.Bucket(this, 'Bucket', {
      versioned: true,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Versioned objects would make a DESTROY fail on a non-empty bucket; the bundle holds only public
      // certificates, so keeping it costs nothing and keeps the domain's version history explainable.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.bucket, {
      'AwsSolutions-S1':
        'The bucket holds one object of public CA certificates, written only by the admin function (whose invocations are logged) and by the deploy-time seed; every write is a new object version, kept, so the history is in the bucket itself. Server access logs would need a second bucket to log reads made only by API Gateway.',
    });

    const seed = new cr.AwsCustomResource(this, 'Seed', {
      installLatestAwsSdk: false,
      // Only on create: an update must never put the placeholder over a published bundle.
      onCreate: {
        service: 'S3',
        action: 'putObject',
        parameters: { Bucket: this.bucket.bucketName, Key: this.key, Body: TRUSTSTORE_PLACEHOLDER_PEM, ContentType: 'application/x-pem-file' },
        physicalResourceId: cr.PhysicalResourceId.of('cloudcard-truststore-seed'),
        outputPaths: ['VersionId'],
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [this.bucket.arnForObjects(this.key)] }),
      ]),
    });
    this.initialVersion = seed.getResponseField('VersionId');
    const provider = Stack.of(this).node.tryFindChild(AWS_CUSTOM_RESOURCE_PROVIDER_ID);
    if (provider) {
      acknowledge(provider, {
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]':
          "CDK's AwsCustomResource provider function writes its logs through the AWS basic execution policy; it runs only at deploy time.",
      });
    }
  }

  /** The domain's ARN as API Gateway's IAM actions name it (`/domainnames/{name}`). */
  get domainArn(): string {
    return Arn.format({ service: 'apigateway', account: '', resource: '/domainnames', resourceName: this.certDomainName }, Stack.of(this));
  }

  /**
   * What publishing takes, and nothing more: put (and read back, as API Gateway does with the caller's
   * rights when the domain's truststore version changes) this one object, and PATCH this one domain.
   */
  grantPublish(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:GetObject', 's3:GetObjectVersion'], resources: [this.bucket.arnForObjects(this.key)] }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['apigateway:PATCH'], resources: [this.domainArn] }));
  }
}
