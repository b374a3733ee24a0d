import { ConflictError } from '../errors.ts';
import type { DirectoryStore, Item, Random } from '../../ports.ts';
import { tenantPartition } from '../directory/keys.ts';
import { NAMEID_FORMAT } from './metadata.ts';
import { entityHash } from './service-providers.ts';
import { signEnveloped, type SigningKey } from './signature.ts';
import { NS, parseXml, samlId, samlInstant, serialize, xmlEscape } from './xml.ts';

export const STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  noPassive: 'urn:oasis:names:tc:SAML:2.0:status:NoPassive',
  invalidNameIdPolicy: 'urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy',
} as const;

export const AUTHN_CONTEXT = {
  password: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
  totp: 'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken',
} as const;

/** Lifetime of an assertion's bearer confirmation and conditions. */
export const ASSERTION_SECONDS = 300;

type AliasItem = Item & { alias: string; username: string; spEntityId: string; createdAt: string };
const aliasKey = (tenant: string, spEntityId: string, username: string) => ({ PK: tenantPartition(tenant), SK: `NAMEID#${entityHash(spEntityId)}#${username}` });

/**
 * Persistent NameIDs (SAML Core §8.3.7): an opaque pseudonym per (user, SP), made on first use by one
 * put-if-absent, so two concurrent first logins agree on the same alias.
 */
export class PersistentNameIds {
  readonly #directory: DirectoryStore;
  readonly #random: Random;

  constructor(directory: DirectoryStore, random: Random) {
    this.#directory = directory;
    this.#random = random;
  }

  async aliasFor(tenant: string, spEntityId: string, username: string, now: number): Promise<string> {
    const key = aliasKey(tenant, spEntityId, username);
    const existing = await this.#directory.get<AliasItem>(key);
    if (existing) return existing.alias;
    const alias = Buffer.from(this.#random.bytes(32)).toString('base64url');
    try {
      await this.#directory.put({ ...key, alias, username, spEntityId, createdAt: new Date(now).toISOString() }, { absent: true });
      return alias;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      return (await this.#directory.get<AliasItem>(key))!.alias;
    }
  }
}

export interface ResponseSubject {
  readonly nameId: string;
  readonly nameIdFormat: string;
  readonly sessionIndex: string;
  readonly authnInstant: number;
  readonly authnContextClassRef: string;
  readonly attributes: Readonly<Record<string, string | undefined>>;
}

export interface ResponseInput {
  readonly idpEntityId: string;
  readonly spEntityId: string;
  readonly acsUrl: string;
  /** Absent for an unsolicited (IdP-initiated) response. */
  readonly inResponseTo?: string;
  readonly now: number;
  readonly random: Random;
  readonly key: SigningKey;
  /** Success carries a subject; an error status none. */
  readonly subject?: ResponseSubject;
  readonly status?: { code: string; subCode?: string; message?: string };
}

const timestamp = (ms: number) => samlInstant(ms);

/**
 * A signed SAML Response (Core §3.2.2) for the Web Browser SSO profile: on success one assertion with
 * bearer subject confirmation, audience restriction, authentication statement and attributes. The
 * assertion is signed, then the response around it (both enveloped, RSA-SHA256, exclusive C14N, the
 * Signature after each Issuer). Values that come from users (NameID, attributes) enter as DOM text nodes.
 */
export function buildResponse(input: ResponseInput): string {
  const responseId = samlId(input.random.bytes(20));
  const issueInstant = timestamp(input.now);
  const inResponseTo = input.inResponseTo ? ` InResponseTo="${xmlEscape(input.inResponseTo)}"` : '';
  const issuer = `<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">${xmlEscape(input.idpEntityId)}</saml:Issuer>`;
  const status = input.status ?? { code: STATUS.success };
  const statusXml =
    `<samlp:Status><samlp:StatusCode Value="${xmlEscape(status.code)}">${status.subCode ? `<samlp:StatusCode Value="${xmlEscape(status.subCode)}"/>` : ''}</samlp:StatusCode>` +
    `${status.message ? `<samlp:StatusMessage>${xmlEscape(status.message)}</samlp:StatusMessage>` : ''}</samlp:Status>`;
  let assertion = '';
  const subject = status.code === STATUS.success ? input.subject : undefined;
  if (subject) {
    const assertionId = samlId(input.random.bytes(20));
    const notOnOrAfter = timestamp(input.now + ASSERTION_SECONDS * 1000);
    const attributeNames = Object.entries(subject.attributes).filter(([, value]) => value !== undefined && value !== '');
    assertion =
      `<saml:Assertion xmlns:xs="${NS.xs}" xmlns:xsi="${NS.xsi}" ID="${assertionId}" Version="2.0" IssueInstant="${issueInstant}">${issuer}` +
      `<saml:Subject><saml:NameID Format="${xmlEscape(subject.nameIdFormat)}" SPNameQualifier="${xmlEscape(input.spEntityId)}"/>` +
      `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData${inResponseTo} NotOnOrAfter="${notOnOrAfter}" Recipient="${xmlEscape(input.acsUrl)}"/></saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions NotBefore="${timestamp(input.now - 60_000)}" NotOnOrAfter="${notOnOrAfter}"><saml:AudienceRestriction><saml:Audience>${xmlEscape(input.spEntityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
      `<saml:AuthnStatement AuthnInstant="${timestamp(subject.authnInstant)}" SessionIndex="${xmlEscape(subject.sessionIndex)}" SessionNotOnOrAfter="${timestamp(input.now + 8 * 3600_000)}">` +
      `<saml:AuthnContext><saml:AuthnContextClassRef>${xmlEscape(subject.authnContextClassRef)}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
      (attributeNames.length
        ? `<saml:AttributeStatement>${attributeNames
            .map(([name]) => `<saml:Attribute Name="${xmlEscape(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string"/></saml:Attribute>`)
            .join('')}</saml:AttributeStatement>`
        : '') +
      `</saml:Assertion>`;
  }
  const skeleton =
    `<samlp:Response xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${responseId}" Version="2.0" IssueInstant="${issueInstant}" Destination="${xmlEscape(input.acsUrl)}"${inResponseTo}>` +
    `${issuer}${statusXml}${assertion}</samlp:Response>`;
  if (!subject) return signEnveloped(skeleton, "/*[local-name()='Response']", input.key);

  // User-controlled values go in as text nodes: the serializer escapes them, no markup can be injected.
  const document = parseXml(skeleton, 1024 * 1024);
  const nameId = document.getElementsByTagNameNS(NS.assertion, 'NameID')[0]!;
  nameId.appendChild(document.createTextNode(subject.nameId));
  const values = Object.values(subject.attributes).filter((value): value is string => value !== undefined && value !== '');
  const valueElements = document.getElementsByTagNameNS(NS.assertion, 'AttributeValue');
  values.forEach((value, index) => valueElements[index]!.appendChild(document.createTextNode(value)));
  const filled = serialize(document);
  const assertionSigned = signEnveloped(filled, "/*[local-name()='Response']/*[local-name()='Assertion']", input.key);
  return signEnveloped(assertionSigned, "/*[local-name()='Response']", input.key);
}

export { NAMEID_FORMAT };
