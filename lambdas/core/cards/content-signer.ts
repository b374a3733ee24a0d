import type { DirectoryStore, Item, ResidentKeys } from '../../ports.ts';
import type { ContentSigner } from '../piv/content-signing.ts';
import { cardPartition } from './card-item.ts';

/**
 * The tenant's PIV content signer: the card-list key (already the tenant's signer of what it publishes
 * about its cards) with a second certificate from the card CA carrying id-PIV-content-signing, as SP
 * 800-73-4 wants of the CHUID and Security Object signer. The admin function makes it with the CA and
 * signs at enrolment; the card function only reads it, to re-sign the Security Object when the holder
 * writes an object it hashes.
 */
export interface StoredContentSigner {
  readonly keyId: string;
  readonly certificatePem: string;
}

export type ContentSignerItem = Item & StoredContentSigner & { createdAt: string };
export const contentSignerKey = (tenant: string) => ({ PK: cardPartition(tenant), SK: 'CONTENTSIGNER' });

export async function readContentSigner(directory: DirectoryStore, tenant: string): Promise<StoredContentSigner | undefined> {
  const item = await directory.get<ContentSignerItem>(contentSignerKey(tenant));
  return item ? { keyId: item.keyId, certificatePem: item.certificatePem } : undefined;
}

/** Signs with the resident card-list key (ECDSA P-256, SHA-256; the signed attributes are far below 4 KiB). */
export function residentContentSigner(keys: ResidentKeys, stored: StoredContentSigner): ContentSigner {
  const base64 = stored.certificatePem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return {
    certificate: new Uint8Array(Buffer.from(base64, 'base64')),
    sign: (toBeSigned) => keys.signMessage(stored.keyId, 'ECDSA_SHA_256', toBeSigned, 'card-list'),
  };
}
