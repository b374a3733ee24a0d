import type { DirectoryStore, Item } from '../../ports.ts';
import { tenantPartition } from '../directory/keys.ts';

type ConsentItem = Item & { scopes: string[] };
const consentKey = (tenant: string, sub: string, clientId: string) => ({ PK: tenantPartition(tenant), SK: `CONSENT#${sub}#${clientId}` });

/** Scopes a user has granted a third-party client, so consent is asked again only for new ones. */
export class Consents {
  readonly #directory: DirectoryStore;

  constructor(directory: DirectoryStore) {
    this.#directory = directory;
  }

  async covers(tenant: string, sub: string, clientId: string, scope: string): Promise<boolean> {
    const item = await this.#directory.get<ConsentItem>(consentKey(tenant, sub, clientId));
    const granted = new Set(item?.scopes ?? []);
    return scope.split(' ').every((s) => granted.has(s));
  }

  async grant(tenant: string, sub: string, clientId: string, scope: string): Promise<void> {
    const item = await this.#directory.get<ConsentItem>(consentKey(tenant, sub, clientId));
    const scopes = [...new Set([...(item?.scopes ?? []), ...scope.split(' ')])];
    await this.#directory.put({ ...consentKey(tenant, sub, clientId), type: 'consent', scopes });
  }
}
