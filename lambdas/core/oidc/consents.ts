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

  /** Every consent the user gave (a deleted user's: a new user of the same name starts with none). */
  async forget(tenant: string, sub: string): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await this.#directory.query({ partition: tenantPartition(tenant), sortPrefix: `CONSENT#${sub}#`, ...(cursor ? { cursor } : {}) });
      for (const item of page.items) await this.#directory.delete({ PK: item.PK, SK: item.SK });
      cursor = page.cursor;
    } while (cursor);
  }
}
