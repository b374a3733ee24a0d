/** Item keys of the directory table, in one place so the access patterns read at a glance. */
export const tenantPartition = (tenant: string): string => `T#${tenant}`;

export const directoryKeys = {
  tenant: (tenant: string) => ({ PK: tenantPartition(tenant), SK: 'TENANT' }),
  /** GSI2 lists every tenant. */
  tenantListing: (tenant: string) => ({ GSI2PK: 'TENANTS', GSI2SK: tenant }),
  user: (tenant: string, username: string) => ({ PK: tenantPartition(tenant), SK: `USER#${username}` }),
  userPrefix: 'USER#',
  /** GSI1 finds a user by e-mail address within a tenant. */
  userByEmail: (tenant: string, email: string) => ({ GSI1PK: `${tenantPartition(tenant)}#EMAIL`, GSI1SK: email }),
  adminClient: (clientId: string) => ({ PK: 'PLATFORM', SK: `ADMINCLIENT#${clientId}` }),
  /** The fingerprints in the mutual-TLS truststore last published (core/pki/truststore.ts). */
  truststore: () => ({ PK: 'PLATFORM', SK: 'TRUSTSTORE' }),
};
