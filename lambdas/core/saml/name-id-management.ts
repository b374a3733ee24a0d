import type { Element } from '@xmldom/xmldom';
import type { Federations } from './federations.ts';
import type { InboundMessage } from './inbound.ts';
import { NAMEID_FORMAT } from './metadata.ts';
import { SUCCESS, type SamlStatus } from './outbound.ts';
import { child, NS, SamlError, textOf } from './xml.ts';

const REQUESTER = 'urn:oasis:names:tc:SAML:2.0:status:Requester';
const UNKNOWN_PRINCIPAL = 'urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal';
/** SAML Core §3.6.1: NewID "MUST NOT exceed 256 characters". */
const MAX_NEW_ID = 256;

export type NameIdChange = { readonly kind: 'new-id'; readonly newId: string } | { readonly kind: 'terminate' };

/** The principal a request from an SP names: the plaintext NameID we issued it (EncryptedID is not supported). */
export interface NamedPrincipal {
  readonly value: string;
  readonly format: string;
}

/** Reads the NameID of a ManageNameIDRequest or LogoutRequest, checking its qualifiers name us and that SP. */
export function namedPrincipal(element: Element, spEntityId: string, idpEntityId: string): NamedPrincipal {
  if (child(element, NS.assertion, 'EncryptedID')) throw new SamlError('encrypted identifiers are not supported here');
  const nameId = child(element, NS.assertion, 'NameID');
  if (!nameId) throw new SamlError(`the ${element.localName} names no NameID`);
  const spQualifier = nameId.getAttribute('SPNameQualifier');
  if (spQualifier !== null && spQualifier !== spEntityId) throw new SamlError('the NameID belongs to another service provider');
  const qualifier = nameId.getAttribute('NameQualifier');
  if (qualifier !== null && qualifier !== idpEntityId) throw new SamlError('the NameID was issued by another identity provider');
  return { value: textOf(nameId), format: nameId.getAttribute('Format') ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified' };
}

/** NewID or Terminate: exactly one (SAML Core §3.6.1). */
export function nameIdChange(element: Element): NameIdChange {
  const newId = child(element, NS.protocol, 'NewID');
  const terminate = child(element, NS.protocol, 'Terminate');
  if (child(element, NS.protocol, 'NewEncryptedID')) throw new SamlError('NewEncryptedID is not supported');
  if (Boolean(newId) === Boolean(terminate)) throw new SamlError('a ManageNameIDRequest carries exactly one of NewID and Terminate');
  if (terminate) return { kind: 'terminate' };
  const value = textOf(newId!);
  if (!value || value.length > MAX_NEW_ID) throw new SamlError(`NewID must be 1 to ${MAX_NEW_ID} characters`);
  return { kind: 'new-id', newId: value };
}

export interface NameIdManagementContext {
  readonly tenant: string;
  readonly idpEntityId: string;
  readonly now: number;
  readonly federations: Federations;
}

/**
 * The Name Identifier Management protocol (SAML Core §3.6) for persistent identifiers, on a request
 * that already passed verifyInbound: NewID records the SP's own identifier and confirms the link;
 * Terminate ends the federation, so the next login makes a new alias. Returns the response status.
 */
export async function manageNameId(message: InboundMessage, context: NameIdManagementContext): Promise<SamlStatus> {
  let principal: NamedPrincipal;
  let change: NameIdChange;
  try {
    principal = namedPrincipal(message.element, message.sp.entityId, context.idpEntityId);
    change = nameIdChange(message.element);
  } catch (error) {
    if (error instanceof SamlError) return { code: REQUESTER, message: error.message };
    throw error;
  }
  if (principal.format !== NAMEID_FORMAT.persistent) return { code: REQUESTER, subCode: UNKNOWN_PRINCIPAL, message: 'only persistent identifiers are managed' };
  const federation = await context.federations.findByAlias(context.tenant, message.sp.entityId, principal.value);
  if (!federation) return { code: REQUESTER, subCode: UNKNOWN_PRINCIPAL, message: 'no federation with this identifier' };
  const done =
    change.kind === 'terminate'
      ? await context.federations.terminate(context.tenant, federation)
      : await context.federations.link(context.tenant, federation, context.now, change.newId);
  return done ? SUCCESS : { code: REQUESTER, subCode: UNKNOWN_PRINCIPAL, message: 'the federation changed meanwhile' };
}
