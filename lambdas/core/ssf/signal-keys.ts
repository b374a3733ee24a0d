/** Where a CAEP signal about a user or device is kept (the state table): the latest value wins. */
export const ssfSignalKey = (tenant: string, what: `USER#${string}#${'riskLevel' | 'assuranceLevel'}` | `DEVICE#${string}#compliance`) => ({
  PK: `SSF#${tenant}`,
  SK: what,
});
