import type { Saml } from '../../../core/saml/provider.ts';

/**
 * The persistent NameID for (user, SP): the existing federation's alias, or a new one made on first
 * use, except when the request said AllowCreate="false" (then undefined: InvalidNameIDPolicy).
 */
export async function persistentNameId(saml: Saml, tenant: string, spEntityId: string, username: string, now: number, allowCreate?: false): Promise<string | undefined> {
  if (allowCreate === false) return (await saml.federations.find(tenant, spEntityId, username))?.alias;
  return saml.federations.aliasFor(tenant, spEntityId, username, now);
}
