import type { Saml } from '../../../core/saml/provider.ts';

/**
 * The persistent NameID for (user, SP): the existing federation (with the SP's own identifier, when it
 * sent a NewID), or a new alias made on first use, except when the request said AllowCreate="false"
 * (then undefined: InvalidNameIDPolicy).
 */
export async function persistentNameId(
  saml: Saml,
  tenant: string,
  spEntityId: string,
  username: string,
  now: number,
  allowCreate?: false,
): Promise<{ alias: string; spProvidedId?: string } | undefined> {
  const existing = await saml.federations.find(tenant, spEntityId, username);
  if (existing) return { alias: existing.alias, ...(existing.spProvidedId ? { spProvidedId: existing.spProvidedId } : {}) };
  if (allowCreate === false) return undefined;
  return { alias: await saml.federations.aliasFor(tenant, spEntityId, username, now) };
}
