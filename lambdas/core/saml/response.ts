import type { Random } from '../../ports.ts';
import { NAMEID_FORMAT } from './metadata.ts';
import { signEnveloped, type SigningKey } from './signature.ts';
import type { ReleasedAttribute } from './attribute-mapping.ts';
import { encryptAssertion } from './encryption.ts';
import { NS, parseXml, samlId, samlInstant, serialize, xmlEscape } from './xml.ts';

export const STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  noPassive: 'urn:oasis:names:tc:SAML:2.0:status:NoPassive',
  invalidNameIdPolicy: 'urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy',
  noAuthnContext: 'urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext',
  requestDenied: 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied',
} as const;

export const AUTHN_CONTEXT = {
  password: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
  totp: 'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken',
} as const;

/** Lifetime of an assertion's bearer confirmation and conditions. */
export const ASSERTION_SECONDS = 300;

export interface ResponseSubject {
  readonly nameId: string;
  readonly nameIdFormat: string;
  /** The SP's own identifier for a persistent NameID, set by its ManageNameIDRequest NewID (Core §3.6). */
  readonly spProvidedId?: string;
  readonly sessionIndex: string;
  readonly authnInstant: number;
  readonly authnContextClassRef: string;
  readonly attributes: readonly ReleasedAttribute[];
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
  /** Which elements to sign (default both); an error response is always signed. */
  readonly sign?: { readonly response: boolean; readonly assertion: boolean };
  /** The SP's encryption certificate (PEM): when given, the assertion goes out as an EncryptedAssertion. */
  readonly encryptFor?: string;
}

const timestamp = (ms: number) => samlInstant(ms);

/**
 * The assertion (Core §2.3.3) as a standalone element: bearer subject confirmation, audience restriction,
 * authentication statement and attributes. Values that come from users (NameID, attribute values) enter as
 * DOM text nodes, so the serializer escapes them and no markup can be injected.
 */
function assertionXml(input: ResponseInput, subject: ResponseSubject, issuer: string): string {
  const assertionId = samlId(input.random.bytes(20));
  const notOnOrAfter = timestamp(input.now + ASSERTION_SECONDS * 1000);
  const inResponseTo = input.inResponseTo ? ` InResponseTo="${xmlEscape(input.inResponseTo)}"` : '';
  const attributes = subject.attributes.filter((attribute) => attribute.values.length > 0);
  const skeleton =
    `<saml:Assertion xmlns:saml="${NS.assertion}" xmlns:xs="${NS.xs}" xmlns:xsi="${NS.xsi}" ID="${assertionId}" Version="2.0" IssueInstant="${timestamp(input.now)}">${issuer}` +
    `<saml:Subject><saml:NameID Format="${xmlEscape(subject.nameIdFormat)}" SPNameQualifier="${xmlEscape(input.spEntityId)}"${subject.spProvidedId ? ` SPProvidedID="${xmlEscape(subject.spProvidedId)}"` : ''}/>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData${inResponseTo} NotOnOrAfter="${notOnOrAfter}" Recipient="${xmlEscape(input.acsUrl)}"/></saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${timestamp(input.now - 60_000)}" NotOnOrAfter="${notOnOrAfter}"><saml:AudienceRestriction><saml:Audience>${xmlEscape(input.spEntityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${timestamp(subject.authnInstant)}" SessionIndex="${xmlEscape(subject.sessionIndex)}" SessionNotOnOrAfter="${timestamp(input.now + 8 * 3600_000)}">` +
    `<saml:AuthnContext><saml:AuthnContextClassRef>${xmlEscape(subject.authnContextClassRef)}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    (attributes.length
      ? `<saml:AttributeStatement>${attributes
          .map(
            (attribute) =>
              `<saml:Attribute Name="${xmlEscape(attribute.name)}" NameFormat="${xmlEscape(attribute.nameFormat)}"${attribute.friendlyName ? ` FriendlyName="${xmlEscape(attribute.friendlyName)}"` : ''}>` +
              attribute.values.map(() => `<saml:AttributeValue xsi:type="xs:string"/>`).join('') +
              `</saml:Attribute>`,
          )
          .join('')}</saml:AttributeStatement>`
      : '') +
    `</saml:Assertion>`;
  const document = parseXml(skeleton, 1024 * 1024);
  document.getElementsByTagNameNS(NS.assertion, 'NameID')[0]!.appendChild(document.createTextNode(subject.nameId));
  const values = attributes.flatMap((attribute) => attribute.values);
  const valueElements = document.getElementsByTagNameNS(NS.assertion, 'AttributeValue');
  values.forEach((value, index) => valueElements[index]!.appendChild(document.createTextNode(value)));
  return serialize(document);
}

/**
 * A SAML Response (Core §3.2.2) for the Web Browser SSO profile. The assertion is signed first (when the
 * SP wants it signed), then encrypted (when the SP has an encryption key), then the Response around it is
 * signed; every signature enveloped, RSA-SHA256, exclusive C14N, right after its Issuer.
 */
export async function buildResponse(input: ResponseInput): Promise<string> {
  const responseId = samlId(input.random.bytes(20));
  const inResponseTo = input.inResponseTo ? ` InResponseTo="${xmlEscape(input.inResponseTo)}"` : '';
  const issuer = `<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">${xmlEscape(input.idpEntityId)}</saml:Issuer>`;
  const status = input.status ?? { code: STATUS.success };
  const statusXml =
    `<samlp:Status><samlp:StatusCode Value="${xmlEscape(status.code)}">${status.subCode ? `<samlp:StatusCode Value="${xmlEscape(status.subCode)}"/>` : ''}</samlp:StatusCode>` +
    `${status.message ? `<samlp:StatusMessage>${xmlEscape(status.message)}</samlp:StatusMessage>` : ''}</samlp:Status>`;
  const subject = status.code === STATUS.success ? input.subject : undefined;
  const sign = subject ? (input.sign ?? { response: true, assertion: true }) : { response: true, assertion: false };
  let assertion = '';
  if (subject) {
    assertion = assertionXml(input, subject, issuer);
    if (sign.assertion) assertion = signEnveloped(assertion, "/*[local-name()='Assertion']", input.key);
    if (input.encryptFor) assertion = await encryptAssertion(assertion, input.encryptFor);
  }
  const response =
    `<samlp:Response xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${responseId}" Version="2.0" IssueInstant="${timestamp(input.now)}" Destination="${xmlEscape(input.acsUrl)}"${inResponseTo}>` +
    `${issuer}${statusXml}${assertion}</samlp:Response>`;
  return sign.response ? signEnveloped(response, "/*[local-name()='Response']", input.key) : response;
}

export { NAMEID_FORMAT };
