import type { Element } from '@xmldom/xmldom';
import { NS, SamlError } from './xml.ts';

/**
 * Structural schema check of the SAML protocol messages the IdP consumes, derived by hand from the OASIS
 * SAML 2.0 protocol and assertion schemas and the XML Signature and Encryption schemas (the XSDs cannot ship in
 * a Lambda bundle, and no XSD engine is a dependency). Each element we model lists its attributes with
 * their XSD types and its content: empty, simple (typed text), or a content model of sequences, choices
 * and wildcards with their cardinality, matched in schema order. Wildcards follow the schema: `lax` ones
 * validate children we model and let others through unread; `strict` ones accept only what we model.
 * SP metadata (`checkMetadataSchema`) is checked the same way against the metadata schema: EntityDescriptor
 * with SPSSODescriptor roles only (other roles and EntitiesDescriptor refused), md:Extensions and endpoint
 * content as ##other lax wildcards, anyAttribute ##other where the schema has it (xml:lang, which the
 * metadata schema imports, still checked wherever it appears); saml:AttributeValue (xs:anyType) takes any
 * attribute and xsi:nil, but xsi:type only as xs:string.
 * Not modelled (accepted unread where a lax wildcard allows them, refused elsewhere): samlp:Response,
 * saml:Assertion and the other messages we never consume; the inside of ds:KeyValue, RetrievalMethod,
 * PGPData, SPKIData and xenc:EncryptionProperties is not checked.
 */

const XENC = 'http://www.w3.org/2001/04/xmlenc#';
const XMLNS = 'http://www.w3.org/2000/xmlns/';
const XML = 'http://www.w3.org/XML/1998/namespace';
const REQUESTER = 'urn:oasis:names:tc:SAML:2.0:status:Requester';
const VERSION_MISMATCH = 'urn:oasis:names:tc:SAML:2.0:status:VersionMismatch';

// ---- XSD simple types (lexical space as libxml2 checks it; whitespace handling per type) ----

type SimpleType =
  | 'string'
  | 'anyURI'
  | 'dateTime'
  | 'boolean'
  | 'ID'
  | 'NCName'
  | 'unsignedShort'
  | 'nonNegativeInteger'
  | 'integer'
  | 'base64Binary'
  | 'comparison'
  // Metadata schema types: md:anyURIListType, xs:duration, md:KeyTypes, md:ContactTypeType, md:entityIDType, xml:lang.
  | 'anyURIList'
  | 'duration'
  | 'keyUse'
  | 'contactType'
  | 'entityID'
  | 'language';

const collapse = (value: string): string => value.replace(/[\t\n\r ]+/g, ' ').trim();
const NAME_START =
  'A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD';
// eslint-disable-next-line no-misleading-character-class -- XML's NameChar ranges, code unit by code unit
const NCNAME = new RegExp(`^[${NAME_START}][${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040]*$`);

// RFC 3986 URI-reference, after characters a URI may not hold literally are escaped (as libxml2 does).
const PCHAR = "(?:[A-Za-z0-9\\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})";
const SEGMENT_NC = "(?:[A-Za-z0-9\\-._~!$&'()*+,;=@]|%[0-9A-Fa-f]{2})";
const USERINFO = "(?:[A-Za-z0-9\\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})";
const AUTHORITY = `(?:${USERINFO}*@)?(?:\\[[0-9A-Fa-f:.]+\\]|\\[v[0-9A-Fa-f]+\\.[A-Za-z0-9\\-._~!$&'()*+,;=:]+\\]|(?:[A-Za-z0-9\\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?`;
const TAIL = `(?:\\?(?:${PCHAR}|[/?])*)?(?:#(?:${PCHAR}|[/?])*)?`;
const SEGMENTS = `(?:/${PCHAR}*)*`;
/** Authority or absolute path, shared by both forms; then what each form allows without a leading slash. */
const NETWORK_OR_ABSOLUTE = `//${AUTHORITY}${SEGMENTS}|/(?:${PCHAR}+${SEGMENTS})?`;
const ABSOLUTE_URI = `[A-Za-z][A-Za-z0-9+.\\-]*:(?:${NETWORK_OR_ABSOLUTE}|${PCHAR}+${SEGMENTS})?`;
const RELATIVE_REF = `(?:${NETWORK_OR_ABSOLUTE}|${SEGMENT_NC}+${SEGMENTS})?`;
const URI_REFERENCE = new RegExp(`^(?:${ABSOLUTE_URI}|${RELATIVE_REF})${TAIL}$`);
// Percent-encoded, not replaced by a letter: an escaped character can no longer be part of a scheme.
const escapeUnsafe = (value: string): string => value.replace(/[^A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]/g, '%20');

const DATE_TIME = /^(-?)(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;
function isDateTime(value: string): boolean {
  const m = DATE_TIME.exec(value);
  if (!m) return false;
  const [, , yearText, month, day, hour, minute, second, fraction, zone] = m as unknown as string[];
  if (/^0+$/.test(yearText!) || (yearText!.length > 4 && yearText!.startsWith('0'))) return false;
  const year = Number(yearText);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][Number(month) - 1];
  if (days === undefined || Number(day) < 1 || Number(day) > days) return false;
  const endOfDay = hour === '24' && minute === '00' && second === '00' && (!fraction || /^\.0+$/.test(fraction));
  if ((Number(hour) > 23 && !endOfDay) || Number(minute) > 59 || Number(second) > 59) return false;
  if (zone && zone !== 'Z') {
    const [zh, zm] = zone.slice(1).split(':').map(Number) as [number, number];
    if (zh > 14 || zm > 59 || (zh === 14 && zm !== 0)) return false;
  }
  return true;
}

function isBase64(value: string): boolean {
  const compact = value.replace(/[\t\n\r ]+/g, '');
  // The bits padding leaves over must be zero (XSD's B04 and B16 character sets), as libxml2 checks.
  return /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$/.test(compact);
}

const SIMPLE: Readonly<Record<SimpleType, (value: string) => boolean>> = {
  string: () => true,
  anyURI: (value) => URI_REFERENCE.test(escapeUnsafe(collapse(value))),
  dateTime: isDateTime,
  boolean: (value) => /^(?:true|false|1|0)$/.test(collapse(value)),
  ID: (value) => NCNAME.test(collapse(value)),
  NCName: (value) => NCNAME.test(collapse(value)),
  unsignedShort: (value) => /^\d+$/.test(value) && Number(value) <= 65535,
  // libxml2 takes "-0" (value zero) for a nonNegativeInteger, but no sign at all on an unsignedShort.
  nonNegativeInteger: (value) => /^(?:\+?\d+|-0+)$/.test(collapse(value)),
  integer: (value) => /^[+-]?\d+$/.test(collapse(value)),
  base64Binary: isBase64,
  comparison: (value) => ['exact', 'minimum', 'maximum', 'better'].includes(value),
  anyURIList: (value) =>
    collapse(value)
      .split(' ')
      .every((item) => item === '' || URI_REFERENCE.test(escapeUnsafe(item))),
  duration: (value) => /^-?P(?=\d|T\d)(?:\d+Y)?(?:\d+M)?(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$/.test(collapse(value)),
  keyUse: (value) => ['signing', 'encryption'].includes(value),
  contactType: (value) => ['technical', 'support', 'administrative', 'billing', 'other'].includes(value),
  entityID: (value) => collapse(value).length <= 1024 && URI_REFERENCE.test(escapeUnsafe(collapse(value))),
  // xml:lang is xs:language or the empty string.
  language: (value) => /^(?:[a-zA-Z]{1,8}(?:-[a-zA-Z0-9]{1,8})*)?$/.test(collapse(value)),
};

/** An xs:boolean attribute's value as the schema reads it (whitespace collapsed; "1"/"0" too); undefined when absent or invalid. */
export function xsBoolean(value: string | null | undefined): boolean | undefined {
  const collapsed = collapse(value ?? '');
  return collapsed === 'true' || collapsed === '1' ? true : collapsed === 'false' || collapsed === '0' ? false : undefined;
}

// ---- Element declarations ----

type Occurs = { readonly min?: number; readonly max?: number };
/** A particle of a content model: an element (by `ns|name` key), a choice of sequences, or a wildcard. */
type Particle =
  | (Occurs & { readonly element: string })
  | (Occurs & { readonly choice: readonly (readonly Particle[])[] })
  | (Occurs & { readonly any: 'other' | 'any'; readonly of?: string; readonly process: 'lax' | 'strict' });

type Content =
  | { readonly kind: 'empty' }
  | { readonly kind: 'simple'; readonly type: SimpleType }
  | { readonly kind: 'elements'; readonly model: readonly Particle[]; readonly mixed?: boolean }
  /** Contents not checked here (encrypted data we refuse to process anyway). */
  | { readonly kind: 'opaque' };

interface Declaration {
  readonly attributes: Readonly<Record<string, { readonly type: SimpleType; readonly required?: boolean }>>;
  readonly content: Content;
  /** anyAttribute namespace="##other": attributes in another (non-absent) namespace are allowed. */
  readonly anyOtherAttribute?: string;
  /** Declared with an abstract type: only valid with an xsi:type we do not accept. */
  readonly abstract?: boolean;
  /** A local element declaration: not a candidate for a wildcard's lax/strict lookup. */
  readonly local?: boolean;
  /** Declares xml:lang (md:localizedNameType and localizedURIType require it). */
  readonly xmlLang?: 'required';
  /** xs:anyType, nillable (saml:AttributeValue): any attributes; xsi:nil empties it; xsi:type only xs:string. */
  readonly anyType?: true;
}

const P = (name: string): string => `${NS.protocol}|${name}`;
const A = (name: string): string => `${NS.assertion}|${name}`;
const D = (name: string): string => `${NS.dsig}|${name}`;
const X = (name: string): string => `${XENC}|${name}`;
const opt = (element: string): Particle => ({ element, min: 0 });
const many = (element: string, min = 0): Particle => ({ element, min, max: Infinity });
const one = (element: string): Particle => ({ element });
const elements = (...model: Particle[]): Content => ({ kind: 'elements', model });
const mixed = (...model: Particle[]): Content => ({ kind: 'elements', model, mixed: true });
const text = (type: SimpleType = 'string'): Content => ({ kind: 'simple', type });
const EMPTY: Content = { kind: 'empty' };
const identifier: Particle = { choice: [[one(A('BaseID'))], [one(A('NameID'))], [one(A('EncryptedID'))]] };

const REQUEST_ATTRIBUTES = {
  ID: { type: 'ID', required: true },
  Version: { type: 'string', required: true },
  IssueInstant: { type: 'dateTime', required: true },
  Destination: { type: 'anyURI' },
  Consent: { type: 'anyURI' },
} as const;
const RESPONSE_ATTRIBUTES = { ...REQUEST_ATTRIBUTES, InResponseTo: { type: 'NCName' } } as const;
const REQUEST_HEAD: readonly Particle[] = [opt(A('Issuer')), opt(D('Signature')), opt(P('Extensions'))];
const RESPONSE_HEAD: readonly Particle[] = [...REQUEST_HEAD, one(P('Status'))];
const NAME_ID_ATTRIBUTES = {
  NameQualifier: { type: 'string' },
  SPNameQualifier: { type: 'string' },
  Format: { type: 'anyURI' },
  SPProvidedID: { type: 'string' },
} as const;
const ALGORITHM = { Algorithm: { type: 'anyURI', required: true } } as const;
const ENCRYPTED: Declaration = { attributes: {}, content: elements(one(X('EncryptedData')), many(X('EncryptedKey'))) };

const ENCRYPTED_TYPE: readonly Particle[] = [opt(X('EncryptionMethod')), opt(D('KeyInfo')), one(X('CipherData')), opt(X('EncryptionProperties'))];
const ENCRYPTED_TYPE_ATTRIBUTES = { Id: { type: 'ID' }, Type: { type: 'anyURI' }, MimeType: { type: 'string' }, Encoding: { type: 'anyURI' } } as const;
const XENC_REFERENCE: Declaration = {
  attributes: { URI: { type: 'anyURI', required: true } },
  content: elements({ any: 'other', of: XENC, process: 'strict', min: 0, max: Infinity }),
  local: true,
};

const DECLARATIONS: ReadonlyMap<string, Declaration> = new Map<string, Declaration>([
  // Protocol messages we consume (SAML Core §3.2-3.7).
  [
    P('AuthnRequest'),
    {
      attributes: {
        ...REQUEST_ATTRIBUTES,
        ForceAuthn: { type: 'boolean' },
        IsPassive: { type: 'boolean' },
        ProtocolBinding: { type: 'anyURI' },
        AssertionConsumerServiceIndex: { type: 'unsignedShort' },
        AssertionConsumerServiceURL: { type: 'anyURI' },
        AttributeConsumingServiceIndex: { type: 'unsignedShort' },
        ProviderName: { type: 'string' },
      },
      content: elements(...REQUEST_HEAD, opt(A('Subject')), opt(P('NameIDPolicy')), opt(A('Conditions')), opt(P('RequestedAuthnContext')), opt(P('Scoping'))),
    },
  ],
  [P('ArtifactResolve'), { attributes: REQUEST_ATTRIBUTES, content: elements(...REQUEST_HEAD, one(P('Artifact'))) }],
  [P('ArtifactResponse'), { attributes: RESPONSE_ATTRIBUTES, content: elements(...RESPONSE_HEAD, { any: 'any', process: 'lax', min: 0 }) }],
  [
    P('ManageNameIDRequest'),
    {
      attributes: REQUEST_ATTRIBUTES,
      content: elements(
        ...REQUEST_HEAD,
        { choice: [[one(A('NameID'))], [one(A('EncryptedID'))]] },
        { choice: [[one(P('NewID'))], [one(P('NewEncryptedID'))], [one(P('Terminate'))]] },
      ),
    },
  ],
  [P('ManageNameIDResponse'), { attributes: RESPONSE_ATTRIBUTES, content: elements(...RESPONSE_HEAD) }],
  [
    P('LogoutRequest'),
    {
      attributes: { ...REQUEST_ATTRIBUTES, Reason: { type: 'string' }, NotOnOrAfter: { type: 'dateTime' } },
      content: elements(...REQUEST_HEAD, identifier, many(P('SessionIndex'))),
    },
  ],
  [P('LogoutResponse'), { attributes: RESPONSE_ATTRIBUTES, content: elements(...RESPONSE_HEAD) }],
  // Their parts.
  [P('Extensions'), { attributes: {}, content: elements({ any: 'other', of: NS.protocol, process: 'lax', min: 1, max: Infinity }) }],
  [P('Status'), { attributes: {}, content: elements(one(P('StatusCode')), opt(P('StatusMessage')), opt(P('StatusDetail'))) }],
  [P('StatusCode'), { attributes: { Value: { type: 'anyURI', required: true } }, content: elements(opt(P('StatusCode'))) }],
  [P('StatusMessage'), { attributes: {}, content: text() }],
  [P('StatusDetail'), { attributes: {}, content: elements({ any: 'any', process: 'lax', min: 0, max: Infinity }) }],
  [P('Artifact'), { attributes: {}, content: text() }],
  [P('NewID'), { attributes: {}, content: text() }],
  [P('NewEncryptedID'), ENCRYPTED],
  [P('Terminate'), { attributes: {}, content: EMPTY }],
  [P('SessionIndex'), { attributes: {}, content: text() }],
  [P('NameIDPolicy'), { attributes: { Format: { type: 'anyURI' }, SPNameQualifier: { type: 'string' }, AllowCreate: { type: 'boolean' } }, content: EMPTY }],
  [
    P('RequestedAuthnContext'),
    {
      attributes: { Comparison: { type: 'comparison' } },
      content: elements({ choice: [[many(A('AuthnContextClassRef'), 1)], [many(A('AuthnContextDeclRef'), 1)]] }),
    },
  ],
  [P('Scoping'), { attributes: { ProxyCount: { type: 'nonNegativeInteger' } }, content: elements(opt(P('IDPList')), many(P('RequesterID'))) }],
  [P('IDPList'), { attributes: {}, content: elements(many(P('IDPEntry'), 1), opt(P('GetComplete'))) }],
  [P('IDPEntry'), { attributes: { ProviderID: { type: 'anyURI', required: true }, Name: { type: 'string' }, Loc: { type: 'anyURI' } }, content: EMPTY }],
  [P('GetComplete'), { attributes: {}, content: text('anyURI') }],
  [P('RequesterID'), { attributes: {}, content: text('anyURI') }],
  // Assertion-schema elements that occur in them.
  [A('Issuer'), { attributes: NAME_ID_ATTRIBUTES, content: text() }],
  [A('NameID'), { attributes: NAME_ID_ATTRIBUTES, content: text() }],
  [A('BaseID'), { attributes: { NameQualifier: { type: 'string' }, SPNameQualifier: { type: 'string' } }, content: EMPTY, abstract: true }],
  [A('EncryptedID'), ENCRYPTED],
  [
    A('Subject'),
    {
      attributes: {},
      content: elements({ choice: [[identifier, many(A('SubjectConfirmation'))], [many(A('SubjectConfirmation'), 1)]] }),
    },
  ],
  [
    A('SubjectConfirmation'),
    { attributes: { Method: { type: 'anyURI', required: true } }, content: elements({ ...identifier, min: 0 }, opt(A('SubjectConfirmationData'))) },
  ],
  [
    A('SubjectConfirmationData'),
    {
      attributes: {
        NotBefore: { type: 'dateTime' },
        NotOnOrAfter: { type: 'dateTime' },
        Recipient: { type: 'anyURI' },
        InResponseTo: { type: 'NCName' },
        Address: { type: 'string' },
      },
      anyOtherAttribute: NS.assertion,
      content: mixed({ any: 'any', process: 'lax', min: 0, max: Infinity }),
    },
  ],
  [
    A('Conditions'),
    {
      attributes: { NotBefore: { type: 'dateTime' }, NotOnOrAfter: { type: 'dateTime' } },
      content: elements({
        choice: [[one(A('Condition'))], [one(A('AudienceRestriction'))], [one(A('OneTimeUse'))], [one(A('ProxyRestriction'))]],
        min: 0,
        max: Infinity,
      }),
    },
  ],
  [A('Condition'), { attributes: {}, content: EMPTY, abstract: true }],
  [A('AudienceRestriction'), { attributes: {}, content: elements(many(A('Audience'), 1)) }],
  [A('Audience'), { attributes: {}, content: text('anyURI') }],
  [A('OneTimeUse'), { attributes: {}, content: EMPTY }],
  [A('ProxyRestriction'), { attributes: { Count: { type: 'nonNegativeInteger' } }, content: elements(many(A('Audience'))) }],
  [A('AuthnContextClassRef'), { attributes: {}, content: text('anyURI') }],
  [A('AuthnContextDeclRef'), { attributes: {}, content: text('anyURI') }],
  // XML Signature (enveloped signatures on the messages).
  [
    D('Signature'),
    { attributes: { Id: { type: 'ID' } }, content: elements(one(D('SignedInfo')), one(D('SignatureValue')), opt(D('KeyInfo')), many(D('Object'))) },
  ],
  [
    D('SignedInfo'),
    { attributes: { Id: { type: 'ID' } }, content: elements(one(D('CanonicalizationMethod')), one(D('SignatureMethod')), many(D('Reference'), 1)) },
  ],
  [D('CanonicalizationMethod'), { attributes: ALGORITHM, content: mixed({ any: 'any', process: 'strict', min: 0, max: Infinity }) }],
  [
    D('SignatureMethod'),
    { attributes: ALGORITHM, content: mixed(opt(D('HMACOutputLength')), { any: 'other', of: NS.dsig, process: 'strict', min: 0, max: Infinity }) },
  ],
  [D('HMACOutputLength'), { attributes: {}, content: text('integer'), local: true }],
  [
    D('Reference'),
    {
      attributes: { Id: { type: 'ID' }, URI: { type: 'anyURI' }, Type: { type: 'anyURI' } },
      content: elements(opt(D('Transforms')), one(D('DigestMethod')), one(D('DigestValue'))),
    },
  ],
  [D('Transforms'), { attributes: {}, content: elements(many(D('Transform'), 1)) }],
  [
    D('Transform'),
    { attributes: ALGORITHM, content: mixed({ choice: [[{ any: 'other', of: NS.dsig, process: 'lax' }], [one(D('XPath'))]], min: 0, max: Infinity }) },
  ],
  [D('XPath'), { attributes: {}, content: text(), local: true }],
  [D('DigestMethod'), { attributes: ALGORITHM, content: mixed({ any: 'other', of: NS.dsig, process: 'lax', min: 0, max: Infinity }) }],
  [D('DigestValue'), { attributes: {}, content: text('base64Binary') }],
  [D('SignatureValue'), { attributes: { Id: { type: 'ID' } }, content: text('base64Binary') }],
  [
    D('KeyInfo'),
    {
      attributes: { Id: { type: 'ID' } },
      content: mixed({
        choice: [
          [one(D('KeyName'))],
          [one(D('KeyValue'))],
          [one(D('RetrievalMethod'))],
          [one(D('X509Data'))],
          [one(D('PGPData'))],
          [one(D('SPKIData'))],
          [one(D('MgmtData'))],
          [{ any: 'other', of: NS.dsig, process: 'lax' }],
        ],
        max: Infinity,
      }),
    },
  ],
  [D('KeyName'), { attributes: {}, content: text() }],
  [D('MgmtData'), { attributes: {}, content: text() }],
  [D('KeyValue'), { attributes: {}, content: { kind: 'opaque' } }],
  [D('RetrievalMethod'), { attributes: { URI: { type: 'anyURI' }, Type: { type: 'anyURI' } }, content: { kind: 'opaque' } }],
  [D('PGPData'), { attributes: {}, content: { kind: 'opaque' } }],
  [D('SPKIData'), { attributes: {}, content: { kind: 'opaque' } }],
  [
    D('X509Data'),
    {
      attributes: {},
      content: elements({
        choice: [
          [one(D('X509IssuerSerial'))],
          [one(D('X509SKI'))],
          [one(D('X509SubjectName'))],
          [one(D('X509Certificate'))],
          [one(D('X509CRL'))],
          [{ any: 'other', of: NS.dsig, process: 'lax' }],
        ],
        min: 1,
        max: Infinity,
      }),
    },
  ],
  [D('X509IssuerSerial'), { attributes: {}, content: elements(one(D('X509IssuerName')), one(D('X509SerialNumber'))), local: true }],
  [D('X509IssuerName'), { attributes: {}, content: text(), local: true }],
  [D('X509SerialNumber'), { attributes: {}, content: text('integer'), local: true }],
  [D('X509SKI'), { attributes: {}, content: text('base64Binary'), local: true }],
  [D('X509SubjectName'), { attributes: {}, content: text(), local: true }],
  [D('X509Certificate'), { attributes: {}, content: text('base64Binary'), local: true }],
  [D('X509CRL'), { attributes: {}, content: text('base64Binary'), local: true }],
  [
    D('Object'),
    {
      attributes: { Id: { type: 'ID' }, MimeType: { type: 'string' }, Encoding: { type: 'anyURI' } },
      content: mixed({ any: 'any', process: 'lax', min: 0, max: Infinity }),
    },
  ],
  // XML Encryption (EncryptedID, NewEncryptedID).
  [X('EncryptedData'), { attributes: ENCRYPTED_TYPE_ATTRIBUTES, content: elements(...ENCRYPTED_TYPE) }],
  [
    X('EncryptedKey'),
    {
      attributes: { ...ENCRYPTED_TYPE_ATTRIBUTES, Recipient: { type: 'string' } },
      content: elements(...ENCRYPTED_TYPE, opt(X('ReferenceList')), opt(X('CarriedKeyName'))),
    },
  ],
  [
    X('EncryptionMethod'),
    {
      attributes: ALGORITHM,
      content: mixed(opt(X('KeySize')), opt(X('OAEPparams')), { any: 'other', of: XENC, process: 'strict', min: 0, max: Infinity }),
      local: true,
    },
  ],
  [X('KeySize'), { attributes: {}, content: text('integer'), local: true }],
  [X('OAEPparams'), { attributes: {}, content: text('base64Binary'), local: true }],
  [X('CipherData'), { attributes: {}, content: elements({ choice: [[one(X('CipherValue'))], [one(X('CipherReference'))]] }) }],
  [X('CipherValue'), { attributes: {}, content: text('base64Binary'), local: true }],
  [X('CipherReference'), { attributes: { URI: { type: 'anyURI', required: true } }, content: elements(opt(X('Transforms'))) }],
  [X('Transforms'), { attributes: {}, content: elements(many(D('Transform'), 1)), local: true }],
  [X('ReferenceList'), { attributes: {}, content: elements({ choice: [[one(X('DataReference'))], [one(X('KeyReference'))]], max: Infinity }) }],
  [X('DataReference'), XENC_REFERENCE],
  [X('KeyReference'), XENC_REFERENCE],
  [X('CarriedKeyName'), { attributes: {}, content: text(), local: true }],
  [X('EncryptionProperties'), { attributes: {}, content: { kind: 'opaque' } }],
]);

/** The protocol messages the IdP consumes: the only roots accepted. */
export const CONSUMED_MESSAGES = [
  'AuthnRequest',
  'ArtifactResolve',
  'ArtifactResponse',
  'ManageNameIDRequest',
  'ManageNameIDResponse',
  'LogoutRequest',
  'LogoutResponse',
] as const;

// ---- SAML metadata (SAML Metadata §2): the parts an SP's EntityDescriptor uses ----

const M = (name: string): string => `${NS.metadata}|${name}`;
/** md:Extensions and endpoint content: any element of another namespace, validated where we model it. */
const OTHER_LAX = (min: number): Particle => ({ any: 'other', of: NS.metadata, process: 'lax', min, max: Infinity });
const DESCRIPTOR_ATTRIBUTES = { ID: { type: 'ID' }, validUntil: { type: 'dateTime' }, cacheDuration: { type: 'duration' } } as const;
const ENDPOINT: Declaration = {
  attributes: { Binding: { type: 'anyURI', required: true }, Location: { type: 'anyURI', required: true }, ResponseLocation: { type: 'anyURI' } },
  anyOtherAttribute: NS.metadata,
  content: elements(OTHER_LAX(0)),
  local: true,
};
const INDEXED_ENDPOINT: Declaration = {
  ...ENDPOINT,
  attributes: { ...ENDPOINT.attributes, index: { type: 'unsignedShort', required: true }, isDefault: { type: 'boolean' } },
};
const LOCALIZED_NAME: Declaration = { attributes: {}, xmlLang: 'required', content: text() };
const LOCALIZED_URI: Declaration = { attributes: {}, xmlLang: 'required', content: text('anyURI') };
/** md:RoleDescriptorType's head, then md:SSODescriptorType's endpoints. */
const SSO_DESCRIPTOR_HEAD: readonly Particle[] = [
  opt(D('Signature')),
  opt(M('Extensions')),
  many(M('KeyDescriptor')),
  opt(M('Organization')),
  many(M('ContactPerson')),
  many(M('ArtifactResolutionService')),
  many(M('SingleLogoutService')),
  many(M('ManageNameIDService')),
  many(M('NameIDFormat')),
];

/**
 * The metadata declarations, with the signature, encryption and assertion ones they reference. The
 * protocol messages are left out: the metadata schema does not import them, so a lax wildcard lets them
 * through unread, as an XSD validator would. Of the role descriptors only SPSSODescriptor is modelled: an
 * entity that registers as an SP but also describes an IdP, attribute authority or affiliation is refused.
 */
const METADATA_DECLARATIONS: ReadonlyMap<string, Declaration> = new Map<string, Declaration>([
  ...[...DECLARATIONS].filter(([key]) => !key.startsWith(`${NS.protocol}|`)),
  [
    M('EntityDescriptor'),
    {
      attributes: { entityID: { type: 'entityID', required: true }, ...DESCRIPTOR_ATTRIBUTES },
      anyOtherAttribute: NS.metadata,
      content: elements(
        opt(D('Signature')),
        opt(M('Extensions')),
        many(M('SPSSODescriptor'), 1),
        opt(M('Organization')),
        many(M('ContactPerson')),
        many(M('AdditionalMetadataLocation')),
      ),
    },
  ],
  [M('Extensions'), { attributes: {}, content: elements(OTHER_LAX(1)) }],
  [
    M('SPSSODescriptor'),
    {
      attributes: {
        ...DESCRIPTOR_ATTRIBUTES,
        protocolSupportEnumeration: { type: 'anyURIList', required: true },
        errorURL: { type: 'anyURI' },
        AuthnRequestsSigned: { type: 'boolean' },
        WantAssertionsSigned: { type: 'boolean' },
      },
      anyOtherAttribute: NS.metadata,
      content: elements(...SSO_DESCRIPTOR_HEAD, many(M('AssertionConsumerService'), 1), many(M('AttributeConsumingService'))),
    },
  ],
  [M('KeyDescriptor'), { attributes: { use: { type: 'keyUse' } }, content: elements(one(D('KeyInfo')), many(M('EncryptionMethod'))) }],
  // md:EncryptionMethod has xenc:EncryptionMethodType.
  [M('EncryptionMethod'), DECLARATIONS.get(X('EncryptionMethod'))!],
  [
    M('Organization'),
    {
      attributes: {},
      anyOtherAttribute: NS.metadata,
      content: elements(opt(M('Extensions')), many(M('OrganizationName'), 1), many(M('OrganizationDisplayName'), 1), many(M('OrganizationURL'), 1)),
    },
  ],
  [M('OrganizationName'), LOCALIZED_NAME],
  [M('OrganizationDisplayName'), LOCALIZED_NAME],
  [M('OrganizationURL'), LOCALIZED_URI],
  [
    M('ContactPerson'),
    {
      attributes: { contactType: { type: 'contactType', required: true } },
      anyOtherAttribute: NS.metadata,
      content: elements(opt(M('Extensions')), opt(M('Company')), opt(M('GivenName')), opt(M('SurName')), many(M('EmailAddress')), many(M('TelephoneNumber'))),
    },
  ],
  [M('Company'), { attributes: {}, content: text() }],
  [M('GivenName'), { attributes: {}, content: text() }],
  [M('SurName'), { attributes: {}, content: text() }],
  [M('EmailAddress'), { attributes: {}, content: text('anyURI') }],
  [M('TelephoneNumber'), { attributes: {}, content: text() }],
  [M('AdditionalMetadataLocation'), { attributes: { namespace: { type: 'anyURI', required: true } }, content: text('anyURI') }],
  [M('ArtifactResolutionService'), INDEXED_ENDPOINT],
  [M('SingleLogoutService'), ENDPOINT],
  [M('ManageNameIDService'), ENDPOINT],
  [M('NameIDFormat'), { attributes: {}, content: text('anyURI') }],
  [M('AssertionConsumerService'), INDEXED_ENDPOINT],
  [
    M('AttributeConsumingService'),
    {
      attributes: { index: { type: 'unsignedShort', required: true }, isDefault: { type: 'boolean' } },
      content: elements(many(M('ServiceName'), 1), many(M('ServiceDescription')), many(M('RequestedAttribute'), 1)),
    },
  ],
  [M('ServiceName'), LOCALIZED_NAME],
  [M('ServiceDescription'), LOCALIZED_NAME],
  [
    M('RequestedAttribute'),
    {
      attributes: {
        Name: { type: 'string', required: true },
        NameFormat: { type: 'anyURI' },
        FriendlyName: { type: 'string' },
        isRequired: { type: 'boolean' },
      },
      anyOtherAttribute: NS.assertion,
      content: elements(many(A('AttributeValue'))),
    },
  ],
  [A('AttributeValue'), { attributes: {}, anyType: true, content: mixed({ any: 'any', process: 'lax', min: 0, max: Infinity }) }],
]);

// ---- Validation ----

const keyOf = (element: Element): string => `${element.namespaceURI ?? ''}|${element.localName}`;
const fail = (message: string): never => {
  throw new SamlError(`schema check: ${message}`, REQUESTER);
};

/** Deepest element nesting checked: real messages nest about ten deep; this keeps recursion bounded. */
const MAX_DEPTH = 64;

class Validator {
  private readonly ids = new Set<string>();
  private depth = 0;

  private readonly declarations: ReadonlyMap<string, Declaration>;
  /** Whether the schema imports xml.xsd (the metadata schema does): then a lax xml:lang attribute is checked. */
  private readonly knowsXmlLang: boolean;

  constructor(declarations: ReadonlyMap<string, Declaration>, knowsXmlLang = false) {
    this.declarations = declarations;
    this.knowsXmlLang = knowsXmlLang;
  }

  element(element: Element, declaration: Declaration): void {
    if (++this.depth > MAX_DEPTH) fail(`elements are nested more than ${MAX_DEPTH} deep`);
    this.checkElement(element, declaration);
    this.depth--;
  }

  private checkElement(element: Element, declaration: Declaration): void {
    const name = element.localName ?? '';
    if (declaration.abstract) fail(`${name} has an abstract type (an xsi:type extension is not accepted)`);
    if (declaration.anyType) this.anyTypeAttributes(element);
    else this.attributes(element, declaration);
    const content = declaration.content;
    if (content.kind === 'opaque') return;
    const childElements: Element[] = [];
    let characters = '';
    for (let node = element.firstChild; node; node = node.nextSibling) {
      if (node.nodeType === 1) childElements.push(node as Element);
      else if (node.nodeType === 3 || node.nodeType === 4) {
        const value = node.nodeValue ?? '';
        characters += value;
        // Element-only and empty content: whitespace text between elements only (no CDATA at all).
        const elementOnly = content.kind === 'empty' || (content.kind === 'elements' && !content.mixed);
        if (elementOnly && (node.nodeType === 4 || value.trim() !== '' || content.kind === 'empty')) fail(`${name} may not contain text`);
      } else if (node.nodeType !== 8) fail(`${name} has unexpected content`);
    }
    if (content.kind === 'empty') {
      if (childElements.length) fail(`${name} must be empty`);
    } else if (content.kind === 'simple') {
      if (childElements.length) fail(`${name} must contain text only, not ${childElements[0]!.localName}`);
      if (!SIMPLE[content.type](characters)) fail(`${name} is not a valid ${content.type}`);
    } else {
      const end = this.sequence(content.model, childElements, 0, name);
      if (end < childElements.length) fail(`${childElements[end]!.localName} is not allowed at this place in ${name} (out of order, repeated or unknown)`);
    }
  }

  /**
   * An xs:anyType element: any attribute (xml:lang still a language); xsi:nil="true" leaves it empty;
   * xsi:type is accepted only as xs:string (text only), as other types would need their own model.
   */
  private anyTypeAttributes(element: Element): void {
    const name = element.localName ?? '';
    let nil = false;
    let textOnly = false;
    for (let i = 0; i < element.attributes.length; i++) {
      const attribute = element.attributes.item(i)!;
      if (attribute.namespaceURI === XML && attribute.localName === 'lang' && this.knowsXmlLang && !SIMPLE.language(attribute.value))
        fail(`${name}/@xml:lang is not a valid language`);
      if (attribute.namespaceURI !== NS.xsi) continue;
      if (attribute.localName === 'nil' && SIMPLE.boolean(attribute.value)) nil = xsBoolean(attribute.value)!;
      else if (attribute.localName === 'type' && isXsString(element, attribute.value)) textOnly = true;
      else fail(`attribute ${attribute.name}="${attribute.value}" is not accepted on ${name}`);
    }
    const hasElement = Array.from({ length: element.childNodes.length }, (_, i) => element.childNodes.item(i)!).some((node) => node.nodeType === 1);
    if (nil && (hasElement || (element.textContent ?? '') !== '')) fail(`${name} is nil but not empty`);
    if (textOnly && hasElement) fail(`${name} is an xs:string and may not contain elements`);
  }

  /**
   * An element a lax wildcard admits without a declaration: its attributes and text are free, but an
   * element we do declare anywhere inside it is still validated (as XSD lax assessment does), so a
   * message hidden in a foreign wrapper is checked like any other (its IDs included).
   */
  private laxUnknown(element: Element): void {
    if (++this.depth > MAX_DEPTH) fail(`elements are nested more than ${MAX_DEPTH} deep`);
    // A global attribute the schema knows is still assessed on an unknown element (xml:lang, metadata only).
    const lang = this.knowsXmlLang ? element.getAttributeNodeNS(XML, 'lang') : null;
    if (lang && !SIMPLE.language(lang.value)) fail(`${element.localName}/@xml:lang is not a valid language`);
    for (let node = element.firstChild; node; node = node.nextSibling) {
      if (node.nodeType !== 1) continue;
      const child = node as Element;
      const declaration = this.declarations.get(keyOf(child));
      if (declaration && !declaration.local) this.element(child, declaration);
      else this.laxUnknown(child);
    }
    this.depth--;
  }

  private attributes(element: Element, declaration: Declaration): void {
    const name = element.localName ?? '';
    const seen = new Set<string>();
    for (let i = 0; i < element.attributes.length; i++) {
      const attribute = element.attributes.item(i)!;
      if (attribute.namespaceURI === XMLNS || attribute.name === 'xmlns') continue;
      if (attribute.namespaceURI === XML && attribute.localName === 'lang' && (declaration.xmlLang || (this.knowsXmlLang && declaration.anyOtherAttribute))) {
        if (!SIMPLE.language(attribute.value)) fail(`${name}/@xml:lang is not a valid language`);
        seen.add('xml:lang');
        continue;
      }
      if (attribute.namespaceURI) {
        // anyAttribute ##other (lax): another namespace than the schema's; xsi:* never (no xsi:type games).
        if (declaration.anyOtherAttribute && attribute.namespaceURI !== declaration.anyOtherAttribute && attribute.namespaceURI !== NS.xsi) continue;
        fail(`attribute ${attribute.name} is not allowed on ${name}`);
      }
      const local = attribute.localName ?? attribute.name;
      // Own properties only: an attribute called "constructor" or "__proto__" is just unknown.
      const spec = Object.hasOwn(declaration.attributes, local) ? declaration.attributes[local] : undefined;
      if (!spec) fail(`attribute ${attribute.name} is not allowed on ${name}`);
      if (!SIMPLE[spec!.type](attribute.value)) fail(`${name}/@${attribute.name} is not a valid ${spec!.type}`);
      if (spec!.type === 'ID') {
        const id = collapse(attribute.value);
        if (this.ids.has(id)) fail(`the ID ${id} occurs more than once`);
        this.ids.add(id);
      }
      seen.add(local);
    }
    for (const [attribute, spec] of Object.entries(declaration.attributes)) if (spec.required && !seen.has(attribute)) fail(`${name} has no ${attribute}`);
    if (declaration.xmlLang === 'required' && !seen.has('xml:lang')) fail(`${name} has no xml:lang`);
  }

  /** Matches particles in order from `position`, greedily (the schemas are deterministic); returns the end. */
  private sequence(model: readonly Particle[], children: readonly Element[], position: number, parent: string): number {
    for (const particle of model) position = this.particle(particle, children, position, parent);
    return position;
  }

  private particle(particle: Particle, children: readonly Element[], position: number, parent: string): number {
    const min = particle.min ?? 1;
    const max = particle.max ?? 1;
    let count = 0;
    while (count < max && position < children.length) {
      const next = this.step(particle, children, position, parent);
      if (next === undefined) break;
      position = next;
      count++;
    }
    if (count < min) {
      const found = children[position] ? `found ${children[position]!.localName}` : 'found nothing';
      fail(`${parent} is missing ${describe(particle)} (${found})`);
    }
    return position;
  }

  /** One occurrence of a particle at `position`, or undefined when it does not start there. */
  private step(particle: Particle, children: readonly Element[], position: number, parent: string): number | undefined {
    const child = children[position]!;
    if ('element' in particle) {
      if (keyOf(child) !== particle.element) return undefined;
      this.element(child, this.declarations.get(particle.element)!);
      return position + 1;
    }
    if ('any' in particle) {
      const ns = child.namespaceURI ?? '';
      if (particle.any === 'other' && (ns === '' || ns === particle.of)) return undefined;
      const declaration = this.declarations.get(keyOf(child));
      const global = declaration && !declaration.local ? declaration : undefined;
      if (global) this.element(child, global);
      else if (particle.process === 'strict') fail(`${child.localName} is not an element the schema declares (in ${parent})`);
      else this.laxUnknown(child);
      return position + 1;
    }
    const option = particle.choice.find((sequence) => starts(sequence, child));
    return option ? this.sequence(option, children, position, parent) : undefined;
  }
}

/** Whether an xsi:type value names xs:string (its prefix resolved where it is used). */
function isXsString(element: Element, value: string): boolean {
  const [prefix, local] = collapse(value).includes(':') ? collapse(value).split(':') : [null, collapse(value)];
  return local === 'string' && element.lookupNamespaceURI(prefix ?? null) === NS.xs;
}

/** Whether a sequence can begin with this element (its first particle; every option here begins with a required one). */
function starts(sequence: readonly Particle[], child: Element): boolean {
  const first = sequence[0]!;
  if ('element' in first) return keyOf(child) === first.element;
  if ('any' in first) return first.any === 'any' || ((child.namespaceURI ?? '') !== '' && child.namespaceURI !== first.of);
  return first.choice.some((option) => starts(option, child));
}

function describe(particle: Particle): string {
  if ('element' in particle) return particle.element.split('|')[1]!;
  if ('any' in particle) return 'an element';
  return particle.choice.map((option) => describe(option[0]!)).join(' or ');
}

/**
 * SAML Core rules the schemas cannot say: Version is 2.0 (§3.2.1, answered with VersionMismatch), and an
 * AuthnRequest's AssertionConsumerServiceIndex excludes AssertionConsumerServiceURL and ProtocolBinding (§3.4.1).
 */
function checkCoreRules(root: Element): void {
  if (root.getAttribute('Version') !== '2.0') throw new SamlError(`schema check: the ${root.localName} is not SAML 2.0`, VERSION_MISMATCH);
  if (
    root.localName === 'AuthnRequest' &&
    root.hasAttribute('AssertionConsumerServiceIndex') &&
    (root.hasAttribute('AssertionConsumerServiceURL') || root.hasAttribute('ProtocolBinding'))
  ) {
    fail('AssertionConsumerServiceIndex excludes AssertionConsumerServiceURL and ProtocolBinding');
  }
}

/**
 * Checks a consumed SAML message (the document's root) against the protocol schema, then (unless
 * `coreRules` is false, for comparing with an XSD validator) the SAML Core rules above. Throws SamlError
 * (Requester, or VersionMismatch) so each endpoint answers as for any other refused message.
 */
export function checkSchema(root: Element, options: { readonly coreRules?: boolean } = {}): void {
  const declaration =
    root.namespaceURI === NS.protocol && (CONSUMED_MESSAGES as readonly string[]).includes(root.localName ?? '') ? DECLARATIONS.get(keyOf(root)) : undefined;
  if (!declaration) fail(`${root.localName} is not a message this identity provider consumes`);
  new Validator(DECLARATIONS).element(root, declaration!);
  if (options.coreRules !== false) checkCoreRules(root);
}

/**
 * Checks SP metadata (the document's root) against the SAML metadata schema as modelled above: one
 * md:EntityDescriptor with one or more SPSSODescriptors. Throws SamlError naming the first violation.
 */
export function checkMetadataSchema(root: Element): void {
  if (root.namespaceURI !== NS.metadata || root.localName !== 'EntityDescriptor') fail(`${root.localName} is not an md:EntityDescriptor`);
  new Validator(METADATA_DECLARATIONS, true).element(root, METADATA_DECLARATIONS.get(keyOf(root))!);
}
