import { ConflictError } from '../errors.ts';
import type { DirectoryStore, Item, WrappedKey } from '../../ports.ts';
import type { ManagementAlgorithm, PivAlgorithm, PivSlot, SlotInfo } from '../piv/card-port.ts';
import type { SlotKeyRecord } from './slot-keys.ts';

/** A slot as stored: its public half in clear, its private half only as a custody record. */
export interface StoredSlot {
  readonly algorithm: PivAlgorithm;
  /** SubjectPublicKeyInfo, base64 DER. */
  readonly publicKey: string;
  readonly pinPolicy: SlotInfo['pinPolicy'];
  readonly origin: SlotInfo['origin'];
  readonly key: SlotKeyRecord;
}

/**
 * One card, one directory item: identity, PIN/PUK hashes and counters, the wrapped management key, the
 * slots and the data objects. Everything an APDU needs is one read; each counter or object change is one
 * guarded update of this item. Attributes are flat (`slot_9a`, `obj_5fc105`) so an update names exactly
 * what it changes. `activeSession` names the card's only active session (last opener wins).
 */
export type CardItem = Item & {
  type: 'card';
  tenant: string;
  id: string;
  username: string;
  label: string;
  serial: number;
  custody: SlotKeyRecord['custody'];
  createdAt: string;
  updatedAt: string;
  pinHash: string;
  pinRemaining: number;
  pinMaxTries: number;
  pinMustChange: boolean;
  pukHash: string;
  pukRemaining: number;
  pukMaxTries: number;
  managementAlgorithm: ManagementAlgorithm;
  managementKey: WrappedKey;
  activeSession?: string | null;
  /** Serial numbers (hex) of the certificates the tenant CA issued for this card: revoked when it is deleted. */
  issuedSerials?: string[];
} & { [slot: `slot_${string}`]: StoredSlot | null | undefined } & { [object: `obj_${string}`]: string | null | undefined };

/**
 * Cards and the card CA sit in a partition of their own per tenant (`CARDS#{tenant}`), not under the
 * tenant's `T#{tenant}` partition: IAM can grant items only by partition key (dynamodb:LeadingKeys), and
 * only the card and admin functions may reach cards (lib/grants.ts). The GSI1 partition listing a user's
 * cards starts the same way, so the same patterns hold for index queries.
 */
export const cardPartition = (tenant: string): string => `CARDS#${tenant}`;

export const cardKeys = {
  card: (tenant: string, card: string) => ({ PK: cardPartition(tenant), SK: `CARD#${card}` }),
  cardPrefix: 'CARD#',
  /** GSI1 lists a user's cards. */
  byUser: (tenant: string, username: string, card: string) => ({ GSI1PK: `${cardPartition(tenant)}#USER#${username}`, GSI1SK: card }),
  userPartition: (tenant: string, username: string) => `${cardPartition(tenant)}#USER#${username}`,
};

/** The tenant card CA's item (its certificate PEM and resident key id), beside the cards. */
export const cardAuthorityKey = (tenant: string) => ({ PK: cardPartition(tenant), SK: 'CARDCA' });

export const slotAttribute = (slot: PivSlot) => `slot_${slot}` as const;
export const objectAttribute = (tag: number) => `obj_${tag.toString(16).padStart(2, '0')}` as const;

export const CARD_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** The slots a card item holds, in slot order. */
export function slotsOf(item: CardItem): Array<[PivSlot, StoredSlot]> {
  return (['9a', '9c', '9d', '9e', 'f9'] as const).flatMap((slot) => {
    const stored = item[slotAttribute(slot)];
    return stored ? [[slot, stored] as [PivSlot, StoredSlot]] : [];
  });
}

/** The data objects a card item holds, as tag → bytes. */
export function objectsOf(item: CardItem): Map<number, Uint8Array> {
  const objects = new Map<number, Uint8Array>();
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith('obj_') && typeof value === 'string') objects.set(Number.parseInt(name.slice(4), 16), Buffer.from(value, 'base64'));
  }
  return objects;
}

/** Clears the card's active session if it is still this one (a newer opener keeps the card; a deleted card has none). */
export async function clearActiveSession(directory: DirectoryStore, tenant: string, card: string, sessionId: string): Promise<void> {
  await directory
    .update(cardKeys.card(tenant, card), { activeSession: null }, { present: true, equals: { activeSession: sessionId } })
    .catch((error: unknown) => {
      if (!(error instanceof ConflictError)) throw error;
    });
}
