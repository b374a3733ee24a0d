import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DIRECTORY_TABLE, STATE_TABLE, type TableSchema } from '../lambdas/adapters/dynamodb/schema.ts';
import type { TableAccess } from './grants.ts';
import { acknowledge } from './nag.ts';

/** The item operations a table grant can allow: nothing that reads without naming a partition (Scan), no batches. */
export const ITEM_READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'] as const;
export const ITEM_WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'] as const;

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

  grantDirectory(grantee: iam.IGrantable, access: TableAccess): void {
    grantItems(this.directoryTable, grantee, access);
  }

  grantState(grantee: iam.IGrantable, access: TableAccess): void {
    grantItems(this.stateTable, grantee, access);
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
        'AwsSolutions-DDB3':
          'Development state table: every item expires within hours (sessions, codes, artifacts) and a lost dev session costs a new sign-in; PITR is on in prod.',
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

/**
 * Item access by partition-key pattern: GetItem and Query on the table and Query on its indexes (the
 * patterns then match the index's own partition key) for `read`, PutItem/UpdateItem/DeleteItem for
 * `write`, each bound to `ForAllValues:StringLike` on `dynamodb:LeadingKeys`. Only actions whose request
 * always names its partition are granted: ForAllValues holds vacuously for a request without the key.
 */
function grantItems(table: dynamodb.Table, grantee: iam.IGrantable, access: TableAccess): void {
  const leadingKeys = (patterns: readonly string[]) => ({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...patterns] } });
  const statements: iam.PolicyStatement[] = [];
  if (access.read.length > 0) {
    statements.push(new iam.PolicyStatement({ actions: [...ITEM_READ_ACTIONS], resources: [table.tableArn], conditions: leadingKeys(access.read) }));
    statements.push(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${table.tableArn}/index/*`], conditions: leadingKeys(access.read) }));
  }
  if (access.write.length > 0) {
    statements.push(new iam.PolicyStatement({ actions: [...ITEM_WRITE_ACTIONS], resources: [table.tableArn], conditions: leadingKeys(access.write) }));
  }
  for (const statement of statements) grantee.grantPrincipal.addToPrincipalPolicy(statement);
}
