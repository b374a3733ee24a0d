import type { DirectoryStore, Item } from '../../ports.ts';
import { cardPartition } from './card-item.ts';

/**
 * The tenant's card-list signing key: a resident key of purpose `card-list` (not the CA key, which only
 * the admin function may sign with) and its certificate, issued by the tenant's card CA. The admin
 * function makes it together with the CA, at the tenant's first enrolment; the card function only reads
 * this item and signs card lists with the key.
 */
export interface ListSigner {
  readonly keyId: string;
  /** The signer's certificate then the CA's, PEM: the list's `x5c` chain. */
  readonly certificatePem: string;
  readonly caCertificatePem: string;
}

export type ListSignerItem = Item & ListSigner & { createdAt: string };
export const listSignerKey = (tenant: string) => ({ PK: cardPartition(tenant), SK: 'CARDLIST' });

/** The tenant's card-list signer, or undefined when the tenant has not enrolled a card since it exists. */
export async function readListSigner(directory: DirectoryStore, tenant: string): Promise<ListSigner | undefined> {
  const item = await directory.get<ListSignerItem>(listSignerKey(tenant));
  return item ? { keyId: item.keyId, certificatePem: item.certificatePem, caCertificatePem: item.caCertificatePem } : undefined;
}
