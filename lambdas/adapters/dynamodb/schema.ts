/**
 * Key schema of the two tables, shared by the CDK data construct, the local gateway (which creates the
 * tables in the embedded store) and the test harness, so all three agree by construction.
 */
export interface TableSchema {
  readonly partitionKey: string;
  readonly sortKey: string;
  readonly indexes: readonly { readonly name: 'GSI1' | 'GSI2'; readonly partitionKey: string; readonly sortKey: string }[];
  readonly ttlAttribute?: string;
}

const index = (name: 'GSI1' | 'GSI2') => ({ name, partitionKey: `${name}PK`, sortKey: `${name}SK` });

export const DIRECTORY_TABLE: TableSchema = {
  partitionKey: 'PK',
  sortKey: 'SK',
  // GSI1: look-ups by an alternate key (SP by SHA-1 of entityID, card by serial, user by email).
  // GSI2: listings across partitions (every tenant).
  indexes: [index('GSI1'), index('GSI2')],
};

export const STATE_TABLE: TableSchema = {
  partitionKey: 'PK',
  sortKey: 'SK',
  // GSI1: items grouped by owner (everything of an SSO session, every token of a refresh family).
  indexes: [index('GSI1')],
  ttlAttribute: 'expiresAt',
};
