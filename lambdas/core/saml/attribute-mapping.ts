import type { User } from '../directory/user.ts';
import { SamlError } from './xml.ts';

/** The directory fields an SP may receive as SAML attributes. */
export const USER_FIELDS = ['email', 'name', 'given_name', 'family_name', 'username', 'groups'] as const;
export type UserField = (typeof USER_FIELDS)[number];

export const ATTRNAME_FORMAT = {
  basic: 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
  uri: 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri',
  unspecified: 'urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified',
} as const;

/** One released attribute: its SAML Name (with NameFormat and FriendlyName) and the user field it carries. */
export interface AttributeRule {
  readonly name: string;
  readonly nameFormat: string;
  readonly friendlyName?: string;
  readonly field: UserField;
}

/** An attribute as it goes into the assertion: one or more values (groups are multi-valued). */
export interface ReleasedAttribute {
  readonly name: string;
  readonly nameFormat: string;
  readonly friendlyName?: string;
  readonly values: readonly string[];
}

/** What an SP gets when nothing is configured for it: the e-mail address and display name. */
export const DEFAULT_ATTRIBUTE_MAP: readonly AttributeRule[] = [
  { name: 'mail', nameFormat: ATTRNAME_FORMAT.basic, field: 'email' },
  { name: 'displayName', nameFormat: ATTRNAME_FORMAT.basic, field: 'name' },
];

/** A user's value(s) for a field; fields the directory does not hold (yet) release nothing. */
function valuesOf(user: User, field: UserField): string[] {
  const extra = user as User & { givenName?: unknown; familyName?: unknown; groups?: unknown };
  const one = (value: unknown): string[] => (typeof value === 'string' && value !== '' ? [value] : []);
  switch (field) {
    case 'email':
      return one(user.email);
    case 'name':
      return one(user.displayName);
    case 'username':
      return one(user.username);
    case 'given_name':
      return one(extra.givenName);
    case 'family_name':
      return one(extra.familyName);
    case 'groups':
      return Array.isArray(extra.groups) ? extra.groups.filter((group): group is string => typeof group === 'string' && group !== '') : [];
  }
}

/** The attributes an SP receives for a user, per its map (or the default one); empty values are left out. */
export function releaseAttributes(user: User, map: readonly AttributeRule[] | undefined): ReleasedAttribute[] {
  return (map && map.length ? map : DEFAULT_ATTRIBUTE_MAP).flatMap((rule) => {
    const values = valuesOf(user, rule.field);
    if (!values.length) return [];
    return [{ name: rule.name, nameFormat: rule.nameFormat, ...(rule.friendlyName ? { friendlyName: rule.friendlyName } : {}), values }];
  });
}

const NAME = /^[^\s<>&"']{1,256}$/;

/**
 * Parses one CLI rule `NAME=field[;friendly=FriendlyName][;format=basic|uri|unspecified]`. Without
 * `format`, a `urn:` or `http(s):` NAME is a URI name, anything else a basic one.
 */
export function parseAttributeRule(text: string): AttributeRule {
  const [assignment, ...options] = text.split(';');
  const equals = assignment!.lastIndexOf('=');
  if (equals <= 0) throw new SamlError(`attribute rule "${text}" is not NAME=field`);
  const name = assignment!.slice(0, equals).trim();
  const field = assignment!.slice(equals + 1).trim();
  if (!NAME.test(name)) throw new SamlError(`attribute name "${name}" is empty, too long or has spaces or markup characters`);
  if (!(USER_FIELDS as readonly string[]).includes(field)) throw new SamlError(`attribute field "${field}" is not one of ${USER_FIELDS.join(', ')}`);
  let nameFormat: string = /^(urn:|https?:)/i.test(name) ? ATTRNAME_FORMAT.uri : ATTRNAME_FORMAT.basic;
  let friendlyName: string | undefined;
  for (const option of options) {
    const [key, value = ''] = option.split('=', 2).map((part) => part.trim());
    if (key === 'friendly' && NAME.test(value)) friendlyName = value;
    else if (key === 'format' && value in ATTRNAME_FORMAT) nameFormat = ATTRNAME_FORMAT[value as keyof typeof ATTRNAME_FORMAT];
    else throw new SamlError(`attribute option "${option}" is not friendly=NAME or format=basic|uri|unspecified`);
  }
  if (nameFormat === ATTRNAME_FORMAT.basic && !/^[A-Za-z_][\w.-]*$/.test(name))
    throw new SamlError(`attribute name "${name}" is not a basic name (an XML NCName); use format=uri`);
  return { name, nameFormat, ...(friendlyName ? { friendlyName } : {}), field: field as UserField };
}

/** Checks a whole map: one rule per (Name, NameFormat), so an SP never gets two attributes of one name. */
export function validateAttributeMap(rules: readonly AttributeRule[]): readonly AttributeRule[] {
  const seen = new Set<string>();
  for (const rule of rules) {
    const key = `${rule.nameFormat} ${rule.name}`;
    if (seen.has(key)) throw new SamlError(`attribute ${rule.name} is mapped twice`);
    seen.add(key);
  }
  return rules;
}
