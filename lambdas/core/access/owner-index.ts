/**
 * The state table's owner index (GSI1) for what a user holds: SSO sessions, grants (refresh-token
 * families) and card sessions carry `GSI1PK = SUBJECT#{tenant}#{username}`, so disabling the user finds
 * them all with one query. The sort key starts with the kind; card sessions also name their card, so
 * deleting a card finds its sessions.
 */
export type OwnedKind = 'AGENTDEV' | 'CARDSESS' | 'GRANT' | 'SSO';

export const ownerPartition = (tenant: string, username: string): string => `SUBJECT#${tenant}#${username}`;

export const ownedBy = (tenant: string, username: string, kind: OwnedKind, id: string) => ({
  GSI1PK: ownerPartition(tenant, username),
  GSI1SK: `${kind}#${id}`,
});

/** The sort-key prefix of one card's sessions under its holder. */
export const cardSessionPrefix = (card: string): string => `CARDSESS#${card}#`;

/** Why a card session item became a tombstone (its PIV state scrubbed), answered to the agent until it expires. */
export type SessionEnd = 'access-revoked' | 'card-deleted';
