import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DIRECTORY_TABLE, STATE_TABLE, type TableSchema } from '../lambdas/adapters/dynamodb/schema.ts';
import { acknowledge } from './nag.ts';

export interface CloudcardDataProps {
  /** prod keeps the tables (RETAIN, deletion protection, PITR on both); dev can be torn down. */
  readonly production: boolean;
}

/**
 * The two DynamoDB tables. Keys and indexes come from the schema the adapters and the local gateway use,
 * so the three agree by construction.
 *
 * Encryption: AWS-managed key (aws/dynamodb). Everything secret in the items is already protected at the
 * application layer (card keys wrapped under the KMS KEK, passwords/PINs hashed, tokens stored as hashes),
 * so a customer-managed key would add a key policy to keep in step with every grant without protecting
 * anything more; the AWS-managed key still puts table key usage in CloudTrail.
 */
export class CloudcardData extends Construct {
  readonly directoryTable: dynamodb.Table;
  readonly stateTable: dynamodb.Table;

  constructor(scope: Construct, id: string, props: CloudcardDataProps) {
    super(scope, id);
    this.directoryTable = this.table('DirectoryTable', DIRECTORY_TABLE, props.production, true);
    // Short-lived state is worth restoring in prod (live sessions, refresh-token families), not in dev.
    this.stateTable = this.table('StateTable', STATE_TABLE, props.production, props.production);
  }

  grantDirectoryRead(grantee: iam.IGrantable): iam.Grant {
    return this.directoryTable.grantReadData(grantee);
  }

  grantDirectoryReadWrite(grantee: iam.IGrantable): iam.Grant {
    return this.directoryTable.grantReadWriteData(grantee);
  }

  grantStateRead(grantee: iam.IGrantable): iam.Grant {
    return this.stateTable.grantReadData(grantee);
  }

  grantStateReadWrite(grantee: iam.IGrantable): iam.Grant {
    return this.stateTable.grantReadWriteData(grantee);
  }

  private table(id: string, schema: TableSchema, production: boolean, pitr: boolean): dynamodb.Table {
    const string = (name: string) => ({ name, type: dynamodb.AttributeType.STRING });
    const table = new dynamodb.Table(this, id, {
      partitionKey: string(schema.partitionKey),
      sortKey: string(schema.sortKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: pitr },
      deletionProtection: production,
      removalPolicy: production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      ...(schema.ttlAttribute ? { timeToLiveAttribute: schema.ttlAttribute } : {}),
    });
    if (!pitr) {
      acknowledge(table, {
        'AwsSolutions-DDB3': 'Development state table: every item expires within hours (sessions, codes, artifacts) and a lost dev session costs a new sign-in; PITR is on in prod.',
      });
    }
    for (const index of schema.indexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: string(index.partitionKey),
        sortKey: string(index.sortKey),
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    return table;
  }
}
