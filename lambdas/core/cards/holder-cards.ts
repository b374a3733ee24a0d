import { X509Certificate } from 'node:crypto';
import type { DirectoryStore } from '../../ports.ts';
import type { PivSlot } from '../piv/card-port.ts';
import { cardKeys, objectsOf, slotsOf, type CardItem } from './card-item.ts';
import { certificateOf } from './card-objects.ts';

/** A card as its holder sees it on the account page: state and certificates, nothing else. */
export interface HolderCard {
  readonly id: string;
  readonly label: string;
  readonly connected: boolean;
  readonly pin: { readonly remaining: number; readonly blocked: boolean };
  readonly certificates: ReadonlyArray<{ readonly slot: PivSlot; readonly subject: string; readonly notAfter: string }>;
}

export function holderCardOf(item: CardItem): HolderCard {
  const objects = objectsOf(item);
  const certificates = slotsOf(item).flatMap(([slot]) => {
    const der = certificateOf(objects, slot);
    if (!der) return [];
    try {
      const parsed = new X509Certificate(Buffer.from(der));
      return [{ slot, subject: parsed.subject.replace(/\n/g, ', '), notAfter: new Date(parsed.validTo).toISOString() }];
    } catch {
      return []; // an object the holder wrote that is not X.509 DER
    }
  });
  return {
    id: item.id,
    label: item.label,
    connected: Boolean(item.activeSession),
    pin: { remaining: item.pinRemaining, blocked: item.pinRemaining <= 0 },
    certificates,
  };
}

/** A user's cards (the card partition's user index: read only, as the portal may). */
export async function holderCards(directory: DirectoryStore, tenant: string, username: string): Promise<HolderCard[]> {
  const cards: HolderCard[] = [];
  let cursor: string | undefined;
  do {
    const page = await directory.query<CardItem>({
      index: 'GSI1',
      partition: cardKeys.userPartition(tenant, username),
      limit: 100,
      ...(cursor ? { cursor } : {}),
    });
    cards.push(...page.items.map(holderCardOf));
    cursor = page.cursor;
  } while (cursor);
  return cards;
}
