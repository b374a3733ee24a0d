import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import { DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom';
import { SAML, type Profile } from '@node-saml/node-saml';
import saml2 from 'saml2-js';
import xmlenc from 'xml-encryption';
import type { ReplayCache } from '../../lambdas/core/oidc/replay.ts';
import { validateAuthnRequest } from '../../lambdas/core/saml/authn-request.ts';
import { verifyInbound } from '../../lambdas/core/saml/inbound.ts';
import { artifactResolveXml, signMessage, statusResponseXml } from '../../lambdas/core/saml/outbound.ts';
import { checkSchema } from '../../lambdas/core/saml/schema-check.ts';
import { parseSpMetadata, type ServiceProvider } from '../../lambdas/core/saml/service-providers.ts';
import { parseXml, SamlError } from '../../lambdas/core/saml/xml.ts';
import { ArtifactSp, PERSISTENT } from '../support/saml-artifact-sp.ts';
import { haveTool, spCredentials } from '../support/saml-sp.ts';
import { mutateOnce, seededRandom, xmllintVerdicts } from '../support/schema-corpus.ts';

/**
 * The runtime schema check of consumed SAML messages: real messages from node-saml, saml2-js, the
 * artifact test SP and xml-encryption are accepted; targeted mutations are refused with a SAML status;
 * and on the whole corpus the verdict agrees with `xmllint --schema` and the OASIS XSDs.
 */

const P = 'urn:oasis:names:tc:SAML:2.0:protocol';
const A = 'urn:oasis:names:tc:SAML:2.0:assertion';
const IDP = 'https://idp.example.test/t/demo/saml/metadata';
const SSO = 'https://idp.example.test/t/demo/saml/sso';
const SLO = 'https://idp.example.test/t/demo/saml/slo';
const NAMEID = 'https://idp.example.test/t/demo/saml/nameid';
const REQUESTER = 'urn:oasis:names:tc:SAML:2.0:status:Requester';
const VERSION_MISMATCH = 'urn:oasis:names:tc:SAML:2.0:status:VersionMismatch';
const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const id = () => `_${randomBytes(12).toString('hex')}`;

/** A sample and what must become of it: accepted, refused by the schema, or schema-valid but refused by a SAML Core rule. */
type Verdict =
  | { readonly kind: 'valid' }
  | { readonly kind: 'schema'; readonly pattern: RegExp }
  | { readonly kind: 'core'; readonly pattern: RegExp; readonly status: string };
interface Sample {
  readonly name: string;
  readonly xml: string;
  readonly verdict: Verdict;
}

/** The message a Redirect-binding URL carries (inflated). */
const fromRedirect = (url: string, parameter = 'SAMLRequest'): string =>
  inflateRawSync(Buffer.from(new URL(url).searchParams.get(parameter)!, 'base64')).toString('utf8');
/** Replaces exactly one occurrence, so a mutation that no longer applies fails loudly instead of testing nothing. */
function verdictOf(xml: string, coreRules: boolean): SamlError | undefined {
  try {
    checkSchema(parseXml(xml).documentElement!, { coreRules });
    return undefined;
  } catch (error) {
    if (error instanceof SamlError) return error;
    throw error;
  }
}

/** Lexical edge cases for attribute values: valid and invalid for each XSD type the messages use. */
const TRICKY_VALUES = [
  '',
  ' ',
  '2.0',
  'true',
  ' false ',
  '1',
  '0',
  '-1',
  '+1',
  '65535',
  '65536',
  '007',
  '_x',
  '1x',
  'a:b',
  'x y',
  '::',
  'http://[x',
  'http://a/%zz',
  'urn:x',
  '#f',
  '2026-02-29T00:00:00Z',
  '2028-02-29T00:00:00Z',
  '2026-11-23T24:00:00Z',
  '2026-11-23T10:00:00',
  '2026-11-23T10:00:00+14:30',
  'exact',
  'better',
  'QR==',
  'QQ==',
  'x http://a',
  'é',
  'http://é/x y',
];

/** One random structural or lexical change to a message; undefined when the change does not apply. */
function randomMutation(xml: string, random: (n: number) => number): string | undefined {
  const document = new DOMParser().parseFromString(xml, 'text/xml');
  const all: Element[] = [];
  const walk = (element: Element) => {
    all.push(element);
    for (let node = element.firstChild; node; node = node.nextSibling) if (node.nodeType === 1) walk(node as Element);
  };
  walk(document.documentElement!);
  const target = all[random(all.length)]!;
  const attributes = Array.from({ length: target.attributes.length }, (_, i) => target.attributes.item(i)!).filter(
    (attribute) => !attribute.name.startsWith('xmlns'),
  );
  const elementChildren = Array.from({ length: target.childNodes.length }, (_, i) => target.childNodes.item(i)!).filter(
    (node) => node.nodeType === 1,
  ) as Element[];
  switch (random(8)) {
    case 0:
      if (!attributes.length) return undefined;
      target.removeAttribute(attributes[random(attributes.length)]!.name);
      break;
    case 1:
      if (!attributes.length) return undefined;
      target.setAttribute(attributes[random(attributes.length)]!.name, TRICKY_VALUES[random(TRICKY_VALUES.length)]!);
      break;
    case 2:
      if (target === document.documentElement) return undefined;
      target.parentNode!.removeChild(target);
      break;
    case 3:
      if (target === document.documentElement) return undefined;
      target.parentNode!.insertBefore(target.cloneNode(true), target);
      break;
    case 4: {
      if (elementChildren.length < 2) return undefined;
      const at = random(elementChildren.length - 1);
      target.insertBefore(elementChildren[at + 1]!, elementChildren[at]!);
      break;
    }
    case 5: {
      const text = ['x', ' ', '\n  '][random(3)]!;
      target.insertBefore(random(4) === 0 ? document.createCDATASection(text) : document.createTextNode(text), target.firstChild);
      break;
    }
    case 6: {
      const names = [
        [P, 'samlp:NewID'],
        [A, 'saml:Audience'],
        [P, 'samlp:Bogus'],
        ['urn:example:ext', 'x:Foo'],
        [P, 'samlp:Extensions'],
        [A, 'saml:Issuer'],
      ] as const;
      const [ns, name] = names[random(names.length)]!;
      target.insertBefore(document.createElementNS(ns, name), elementChildren[random(elementChildren.length + 1)] ?? null);
      break;
    }
    default:
      target.setAttribute(['Foo', 'Format', 'Value', 'Id', 'ID', 'Method', 'Algorithm'][random(7)]!, TRICKY_VALUES[random(TRICKY_VALUES.length)]!);
  }
  return new XMLSerializer().serializeToString(document);
}

describe('SAML schema check of consumed messages', () => {
  const samples: Sample[] = [];
  const valid = (name: string, xml: string) => samples.push({ name, xml, verdict: { kind: 'valid' } });
  const schema = (name: string, xml: string, pattern: RegExp) => samples.push({ name, xml, verdict: { kind: 'schema', pattern } });
  const core = (name: string, xml: string, pattern: RegExp, status = REQUESTER) => samples.push({ name, xml, verdict: { kind: 'core', pattern, status } });
  let artifactSp: ArtifactSp;
  let spRecord: ServiceProvider;

  beforeAll(async () => {
    // --- Real service providers ---
    const nodeSamlKeys = await spCredentials('node-saml SP');
    const nodeSaml = new SAML({
      entryPoint: SSO,
      logoutUrl: SLO,
      issuer: 'https://node-saml.example.test/metadata',
      callbackUrl: 'https://node-saml.example.test/acs',
      idpCert: nodeSamlKeys.certPem,
      privateKey: nodeSamlKeys.keyPem,
      publicCert: nodeSamlKeys.certPem,
      signatureAlgorithm: 'sha256',
      identifierFormat: PERSISTENT,
      audience: 'https://node-saml.example.test/metadata',
    });
    valid('node-saml AuthnRequest (Redirect)', fromRedirect(await nodeSaml.getAuthorizeUrlAsync('relay', undefined, {})));
    const postSaml = new SAML({ ...nodeSaml.options, authnRequestBinding: 'HTTP-POST', skipRequestCompression: true, idpCert: nodeSamlKeys.certPem });
    const message = await postSaml.getAuthorizeMessageAsync('relay');
    valid('node-saml AuthnRequest (POST, enveloped signature)', Buffer.from(String(message['SAMLRequest']), 'base64').toString('utf8'));
    const profile = {
      issuer: 'https://node-saml.example.test/metadata',
      nameID: 'alias-1',
      nameIDFormat: PERSISTENT,
      sessionIndex: '_session1',
      ID: '_their_logout_request',
    } as Profile;
    valid('node-saml LogoutRequest', fromRedirect(await nodeSaml.getLogoutUrlAsync(profile, '', {})));
    valid('node-saml LogoutResponse', fromRedirect(await nodeSaml.getLogoutResponseUrlAsync(profile, '', {}, true), 'SAMLResponse'));

    const saml2Keys = await spCredentials('saml2-js SP');
    const saml2Sp = new saml2.ServiceProvider({
      entity_id: 'https://saml2-js.example.test/metadata',
      private_key: saml2Keys.keyPem,
      certificate: saml2Keys.certPem,
      assert_endpoint: 'https://saml2-js.example.test/acs',
      sign_get_request: true,
    });
    const saml2Idp = new saml2.IdentityProvider({ sso_login_url: SSO, sso_logout_url: SLO, certificates: [saml2Keys.certPem] });
    const loose = saml2Sp as unknown as Record<
      string,
      (idp: unknown, options: Record<string, unknown>, callback: (error: Error | null, url: string) => void) => void
    >;
    const call = (method: string, options: Record<string, unknown>) =>
      new Promise<string>((resolve, reject) => loose[method]!.call(saml2Sp, saml2Idp, options, (error, url) => (error ? reject(error) : resolve(url))));
    valid('saml2-js AuthnRequest', fromRedirect(await call('create_login_request_url', { relay_state: 'rs' })));
    valid('saml2-js LogoutRequest', fromRedirect(await call('create_logout_request_url', { name_id: 'alias-2', session_index: '_s2' })));
    valid('saml2-js LogoutResponse', fromRedirect(await call('create_logout_response_url', { in_response_to: '_their_request' }), 'SAMLResponse'));

    // --- The artifact/SOAP test SP (xml-crypto signatures) ---
    artifactSp = await ArtifactSp.start('https://artifact-sp.example.test/metadata');
    spRecord = parseSpMetadata(artifactSp.metadata(), new Date().toISOString());
    const authn = artifactSp.sign(artifactSp.authnRequest(SSO));
    const newIdRequest = artifactSp.sign(artifactSp.manageNameIdRequest(NAMEID, 'alias-3', { newId: 'sp-42' }));
    const terminate = artifactSp.manageNameIdRequest(NAMEID, 'alias-3', 'terminate');
    const logout = artifactSp.sign(artifactSp.logoutRequest(SLO, 'alias-3', '_session3'));
    const logoutResponse = artifactSp.sign(artifactSp.logoutResponse(SLO, '_our_request'));
    valid('test SP AuthnRequest (signed)', authn);
    valid('test SP ManageNameIDRequest NewID (signed)', newIdRequest);
    valid('test SP ManageNameIDRequest Terminate', terminate);
    valid('test SP LogoutRequest (signed)', logout);
    valid('test SP LogoutResponse (signed)', logoutResponse);
    const artifactResponse = (carried: string, extra = '') =>
      artifactSp.sign(
        `<samlp:ArtifactResponse xmlns:samlp="${P}" xmlns:saml="${A}" ID="${id()}" Version="2.0" IssueInstant="${now()}" InResponseTo="_our_resolve"><saml:Issuer>${artifactSp.entityId}</saml:Issuer>${extra}` +
          `<samlp:Status><samlp:StatusCode Value="${SUCCESS}"/></samlp:Status>${carried}</samlp:ArtifactResponse>`,
      );
    valid('ArtifactResponse carrying a signed ManageNameIDRequest', artifactResponse(newIdRequest));
    valid(
      'ArtifactResponse carrying an AuthnRequest, with Extensions',
      artifactResponse(artifactSp.authnRequest(SSO), '<samlp:Extensions><x:Hint xmlns:x="urn:example:ext" x:a="1">t<x:Inner/></x:Hint></samlp:Extensions>'),
    );
    valid('ArtifactResponse carrying nothing', artifactResponse(''));
    const resolve = `<samlp:ArtifactResolve xmlns:samlp="${P}" xmlns:saml="${A}" ID="${id()}" Version="2.0" IssueInstant="${now()}" Destination="${IDP}/ars"><saml:Issuer>${artifactSp.entityId}</saml:Issuer><samlp:Artifact>AAQAAMh48/1oXIM+sDo7Dh2qMp1HM4IF5DaRNmDj6RdUmllwn9jJHyEgIi8=</samlp:Artifact></samlp:ArtifactResolve>`;
    valid('ArtifactResolve (signed by the SP)', artifactSp.sign(resolve));
    const idpKey = await spCredentials('idp');
    valid(
      'ArtifactResolve as the IdP builds it (signed)',
      signMessage(artifactResolveXml({ id: id(), issuer: IDP, now: Date.now(), destination: 'https://sp.example.test/ars' }, 'AAQAAA=='), 'ArtifactResolve', {
        privateKey: createPrivateKey(idpKey.keyPem),
        certificatePem: idpKey.certPem,
      }),
    );

    const manageResponse = signMessage(
      statusResponseXml('ManageNameIDResponse', { id: id(), issuer: IDP, now: Date.now(), destination: NAMEID }, '_their_request', {
        code: REQUESTER,
        subCode: 'urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal',
        message: 'no such <federation>',
      }),
      'ManageNameIDResponse',
      { privateKey: createPrivateKey(idpKey.keyPem), certificatePem: idpKey.certPem },
    );
    valid('ManageNameIDResponse (the StatusResponseType, as the IdP builds it, signed)', manageResponse);
    schema(
      'ManageNameIDResponse with a NameID after Status',
      manageResponse.replace('</samlp:Status>', '</samlp:Status><saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">x</saml:NameID>'),
      /NameID is not allowed at this place in ManageNameIDResponse/,
    );

    // --- Every optional part the schema allows ---
    const rich =
      `<samlp:AuthnRequest xmlns:samlp="${P}" xmlns:saml="${A}" ID="_rich" Version="2.0" IssueInstant="2026-11-23T07:00:00.123+01:00" Destination="${SSO}" Consent="urn:oasis:names:tc:SAML:2.0:consent:obtained" ` +
      `ForceAuthn="1" IsPassive="false" AssertionConsumerServiceIndex="2" AttributeConsumingServiceIndex="0" ProviderName="Rich &amp; Co">\n` +
      `  <saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">https://rich.example.test</saml:Issuer>\n` +
      `  <samlp:Extensions><x:Hint xmlns:x="urn:example:ext">hint</x:Hint></samlp:Extensions>\n` +
      `  <saml:Subject><saml:NameID SPNameQualifier="https://rich.example.test" NameQualifier="${IDP}" Format="${PERSISTENT}" SPProvidedID="sp-1">alias</saml:NameID>` +
      `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="2026-11-23T08:00:00Z" Recipient="${SSO}" x:extra="1" xmlns:x="urn:example:ext">free <x:Any/> text</saml:SubjectConfirmationData></saml:SubjectConfirmation></saml:Subject>\n` +
      `  <samlp:NameIDPolicy Format="${PERSISTENT}" SPNameQualifier="https://rich.example.test" AllowCreate="true"/>\n` +
      `  <saml:Conditions NotBefore="2026-11-23T07:00:00Z" NotOnOrAfter="2026-11-23T08:00:00Z"><saml:AudienceRestriction><saml:Audience>${IDP}</saml:Audience></saml:AudienceRestriction><saml:OneTimeUse/><saml:ProxyRestriction Count="1"/></saml:Conditions>\n` +
      `  <samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>\n` +
      `  <samlp:Scoping ProxyCount="0"><samlp:IDPList><samlp:IDPEntry ProviderID="${IDP}" Name="us" Loc="${SSO}"/><samlp:GetComplete>https://rich.example.test/idps</samlp:GetComplete></samlp:IDPList><samlp:RequesterID>https://rich.example.test</samlp:RequesterID></samlp:Scoping>\n` +
      `</samlp:AuthnRequest>`;
    valid('AuthnRequest with every optional element', rich);
    valid('AuthnRequest with a Subject of SubjectConfirmation only', mutateOnce(rich, /<saml:NameID SPNameQualifier[^>]*>alias<\/saml:NameID>/, ''));
    valid(
      'AuthnRequest with AuthnContextDeclRef',
      mutateOnce(
        rich,
        /<samlp:RequestedAuthnContext[\s\S]*<\/samlp:RequestedAuthnContext>/,
        '<samlp:RequestedAuthnContext><saml:AuthnContextDeclRef>urn:example:decl</saml:AuthnContextDeclRef></samlp:RequestedAuthnContext>',
      ),
    );

    const encrypt = promisify(xmlenc.encrypt) as unknown as (content: string, options: Record<string, unknown>) => Promise<string>;
    const encrypted = async (plain: string) =>
      encrypt(plain, {
        rsa_pub: createPublicKey(idpKey.certPem).export({ type: 'spki', format: 'pem' }),
        pem: idpKey.certPem,
        encryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
        keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
      });
    const encryptedId = `<saml:EncryptedID>${await encrypted(`<saml:NameID xmlns:saml="${A}" Format="${PERSISTENT}">alias-3</saml:NameID>`)}</saml:EncryptedID>`;
    const newEncryptedId = `<samlp:NewEncryptedID>${await encrypted(`<samlp:NewID xmlns:samlp="${P}">sp-42</samlp:NewID>`)}</samlp:NewEncryptedID>`;
    const plainLogout = artifactSp.logoutRequest(SLO, 'alias-3', '_session3');
    valid(
      'LogoutRequest with an EncryptedID (xml-encryption), a Reason and two SessionIndexes',
      mutateOnce(
        mutateOnce(plainLogout, /<saml:NameID[^>]*>alias-3<\/saml:NameID>/, encryptedId),
        '</samlp:SessionIndex>',
        '</samlp:SessionIndex><samlp:SessionIndex>_session4</samlp:SessionIndex>',
      ).replace(' NotOnOrAfter=', ' Reason="urn:oasis:names:tc:SAML:2.0:logout:user" NotOnOrAfter='),
    );
    valid(
      'ManageNameIDRequest with EncryptedID and NewEncryptedID',
      mutateOnce(
        mutateOnce(artifactSp.manageNameIdRequest(NAMEID, 'alias-3', { newId: 'sp-42' }), /<saml:NameID[^>]*>alias-3<\/saml:NameID>/, encryptedId),
        '<samlp:NewID>sp-42</samlp:NewID>',
        newEncryptedId,
      ),
    );
    const plainResponse = artifactSp.logoutResponse(SLO, '_our_request');
    valid(
      'LogoutResponse with a nested StatusCode, StatusMessage and StatusDetail',
      mutateOnce(
        plainResponse,
        /<samlp:Status>[\s\S]*<\/samlp:Status>/,
        `<samlp:Status><samlp:StatusCode Value="${SUCCESS}"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:PartialLogout"/></samlp:StatusCode><samlp:StatusMessage>partly</samlp:StatusMessage><samlp:StatusDetail><x:Why xmlns:x="urn:example:ext">one SP</x:Why></samlp:StatusDetail></samlp:Status>`,
      ),
    );

    // --- Targeted mutations ---
    const authnPlain = artifactSp.authnRequest(SSO, { id: '_authn1' });
    schema('AuthnRequest without ID', mutateOnce(authnPlain, ' ID="_authn1"', ''), /has no ID/);
    schema('ID that is not an NCName', mutateOnce(authnPlain, ' ID="_authn1"', ' ID="1abc"'), /@ID is not a valid ID/);
    schema(
      'IssueInstant that is not a dateTime',
      mutateOnce(authnPlain, /IssueInstant="[^"]+"/, 'IssueInstant="yesterday"'),
      /IssueInstant is not a valid dateTime/,
    );
    schema(
      'IssueInstant on 30 February',
      mutateOnce(authnPlain, /IssueInstant="[^"]+"/, 'IssueInstant="2026-02-30T10:00:00Z"'),
      /IssueInstant is not a valid dateTime/,
    );
    schema(
      'IssueInstant with surrounding spaces',
      mutateOnce(authnPlain, /IssueInstant="([^"]+)"/, 'IssueInstant=" 2026-11-23T10:00:00Z "'),
      /IssueInstant is not a valid dateTime/,
    );
    core('Version 1.1 (schema-valid: Version is an xs:string)', mutateOnce(authnPlain, 'Version="2.0"', 'Version="1.1"'), /not SAML 2\.0/, VERSION_MISMATCH);
    core(
      'AssertionConsumerServiceIndex with AssertionConsumerServiceURL',
      mutateOnce(authnPlain, ' ProtocolBinding=', ' AssertionConsumerServiceIndex="1" ProtocolBinding='),
      /AssertionConsumerServiceIndex excludes/,
    );
    core(
      'AssertionConsumerServiceIndex with ProtocolBinding only',
      mutateOnce(authnPlain, / AssertionConsumerServiceURL="[^"]+"/, ' AssertionConsumerServiceIndex="1"'),
      /AssertionConsumerServiceIndex excludes/,
    );
    schema(
      'NameIDPolicy before Issuer (out of order)',
      mutateOnce(
        mutateOnce(authnPlain, /<saml:Issuer>[^<]+<\/saml:Issuer>/, ''),
        '</samlp:AuthnRequest>',
        `<saml:Issuer>${artifactSp.entityId}</saml:Issuer></samlp:AuthnRequest>`,
      ),
      /Issuer is not allowed at this place/,
    );
    schema(
      'Scoping before RequestedAuthnContext (out of order)',
      mutateOnce(rich, /(<samlp:RequestedAuthnContext[\s\S]*<\/samlp:RequestedAuthnContext>)\n {2}(<samlp:Scoping[\s\S]*<\/samlp:Scoping>)/, '$2$1'),
      /RequestedAuthnContext is not allowed at this place/,
    );
    schema(
      'Signature before Issuer (out of order)',
      authn.replace(/(<saml:Issuer>[^<]+<\/saml:Issuer>)(<ds:Signature[\s\S]*<\/ds:Signature>)/, '$2$1'),
      /Issuer is not allowed at this place/,
    );
    schema('duplicate Issuer', mutateOnce(authnPlain, /(<saml:Issuer>[^<]+<\/saml:Issuer>)/, '$1$1'), /Issuer is not allowed at this place/);
    schema('unknown SAML element', mutateOnce(authnPlain, '<samlp:NameIDPolicy', '<samlp:Bogus/><samlp:NameIDPolicy'), /Bogus is not allowed/);
    schema(
      'foreign element outside Extensions',
      mutateOnce(authnPlain, '<samlp:NameIDPolicy', '<x:Foo xmlns:x="urn:example:ext"/><samlp:NameIDPolicy'),
      /Foo is not allowed/,
    );
    schema('empty Extensions', mutateOnce(authnPlain, '<samlp:NameIDPolicy', '<samlp:Extensions/><samlp:NameIDPolicy'), /Extensions is missing an element/);
    schema(
      'a SAML protocol element inside Extensions',
      mutateOnce(authnPlain, '<samlp:NameIDPolicy', '<samlp:Extensions><samlp:Terminate/></samlp:Extensions><samlp:NameIDPolicy'),
      /Extensions is missing an element/,
    );
    schema(
      'an invalid SAML element hidden in a foreign wrapper in Extensions',
      mutateOnce(
        authnPlain,
        '<samlp:NameIDPolicy',
        `<samlp:Extensions><x:W xmlns:x="urn:example:ext"><samlp:AuthnRequest ID="_hidden" Version="2.0"/></x:W></samlp:Extensions><samlp:NameIDPolicy`,
      ),
      /AuthnRequest has no IssueInstant/,
    );
    schema(
      'the root ID repeated inside a foreign wrapper (XSW shape)',
      mutateOnce(
        authnPlain,
        '<samlp:NameIDPolicy',
        `<samlp:Extensions><x:W xmlns:x="urn:example:ext">${artifactSp.authnRequest(SSO, { id: '_authn1' })}</x:W></samlp:Extensions><samlp:NameIDPolicy`,
      ),
      /ID _authn1 occurs more than once/,
    );
    schema('unknown attribute', mutateOnce(authnPlain, ' Version=', ' Foo="1" Version='), /attribute Foo is not allowed on AuthnRequest/);
    schema(
      'an attribute named after an Object property (constructor)',
      mutateOnce(authnPlain, ' Version=', ' constructor="x" Version='),
      /attribute constructor is not allowed/,
    );
    schema('an attribute named __proto__', mutateOnce(authnPlain, ' Version=', ' __proto__="x" Version='), /attribute __proto__ is not allowed/);
    schema('xml:lang attribute', mutateOnce(authnPlain, ' Version=', ' xml:lang="en" Version='), /attribute xml:lang is not allowed/);
    schema('a namespace-qualified ID', mutateOnce(authnPlain, ' ID="_authn1"', ' samlp:ID="_authn1"'), /attribute samlp:ID is not allowed/);
    schema(
      'xsi:type on the message',
      mutateOnce(authnPlain, ' Version=', ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="samlp:LogoutRequestType" Version='),
      /attribute xsi:type is not allowed/,
    );
    schema('text in element-only content', mutateOnce(authnPlain, '<samlp:NameIDPolicy', 'hello<samlp:NameIDPolicy'), /AuthnRequest may not contain text/);
    schema(
      'CDATA in element-only content',
      mutateOnce(authnPlain, '<samlp:NameIDPolicy', '<![CDATA[ ]]><samlp:NameIDPolicy'),
      /AuthnRequest may not contain text/,
    );
    schema('a bad boolean', mutateOnce(authnPlain, ' Version=', ' ForceAuthn="yes" Version='), /ForceAuthn is not a valid boolean/);
    schema('AllowCreate "TRUE"', mutateOnce(authnPlain, /AllowCreate="true"/, 'AllowCreate="TRUE"'), /AllowCreate is not a valid boolean/);
    schema(
      'AssertionConsumerServiceIndex out of unsignedShort range',
      mutateOnce(rich, 'AssertionConsumerServiceIndex="2"', 'AssertionConsumerServiceIndex="70000"'),
      /AssertionConsumerServiceIndex is not a valid unsignedShort/,
    );
    schema(
      'Destination with a space before a scheme (escaped, the scheme is no longer one)',
      mutateOnce(authnPlain, /Destination="[^"]+"/, 'Destination="x https://idp.example.test/"'),
      /Destination is not a valid anyURI/,
    );
    valid(
      'Destination with a space in a relative reference (escaped, still a URI reference)',
      mutateOnce(authnPlain, /Destination="[^"]+"/, 'Destination="x y"'),
    );
    schema('Destination that is not a URI', mutateOnce(authnPlain, /Destination="[^"]+"/, 'Destination="http://a b/%zz"'), /Destination is not a valid anyURI/);
    schema('Comparison outside its enumeration', mutateOnce(rich, 'Comparison="minimum"', 'Comparison="most"'), /Comparison is not a valid comparison/);
    schema(
      'AuthnContextClassRef and AuthnContextDeclRef mixed',
      mutateOnce(rich, '</samlp:RequestedAuthnContext>', '<saml:AuthnContextDeclRef>urn:example:decl</saml:AuthnContextDeclRef></samlp:RequestedAuthnContext>'),
      /AuthnContextDeclRef is not allowed/,
    );
    valid('ProxyCount "-0" (zero, which libxml2 accepts)', mutateOnce(rich, 'ProxyCount="0"', 'ProxyCount="-0"'));
    schema('ProxyCount negative', mutateOnce(rich, 'ProxyCount="0"', 'ProxyCount="-1"'), /ProxyCount is not a valid nonNegativeInteger/);
    schema('IDPList without IDPEntry', mutateOnce(rich, /<samlp:IDPEntry[^>]*\/>/, ''), /IDPList is missing IDPEntry/);
    schema(
      'Subject with SubjectConfirmation before NameID',
      mutateOnce(rich, /(<saml:NameID SPNameQualifier[^>]*>alias<\/saml:NameID>)(<saml:SubjectConfirmation [\s\S]*<\/saml:SubjectConfirmation>)/, '$2$1'),
      /NameID is not allowed at this place in Subject/,
    );
    schema('SubjectConfirmation without Method', mutateOnce(rich, ' Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"', ''), /SubjectConfirmation has no Method/);
    schema('an abstract Condition', mutateOnce(rich, '<saml:OneTimeUse/>', '<saml:Condition/>'), /Condition has an abstract type/);
    schema(
      'NameID with a child element',
      mutateOnce(rich, '>alias</saml:NameID>', '>ali<x:b xmlns:x="urn:example:ext"/>as</saml:NameID>'),
      /NameID must contain text only/,
    );
    schema('unknown attribute on NameID', mutateOnce(rich, ' SPProvidedID="sp-1"', ' SPProvidedID="sp-1" Foo="x"'), /attribute Foo is not allowed on NameID/);
    schema(
      'Issuer Format that is not a URI',
      mutateOnce(rich, 'Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity"', 'Format="::"'),
      /Issuer\/@Format is not a valid anyURI/,
    );
    schema('Signature without SignatureValue', authn.replace(/<ds:SignatureValue>[^<]*<\/ds:SignatureValue>/, ''), /Signature is missing SignatureValue/);
    schema(
      'DigestValue that is not base64',
      authn.replace(/<ds:DigestValue>[^<]*<\/ds:DigestValue>/, '<ds:DigestValue>not*base64</ds:DigestValue>'),
      /DigestValue is not a valid base64Binary/,
    );
    schema(
      'DigestValue with padding bits set (QR==)',
      authn.replace(/<ds:DigestValue>[^<]*<\/ds:DigestValue>/, '<ds:DigestValue>QR==</ds:DigestValue>'),
      /DigestValue is not a valid base64Binary/,
    );
    valid(
      'DigestValue with spaces inside (base64Binary allows them)',
      authn.replace(/<ds:DigestValue>[^<]*<\/ds:DigestValue>/, '<ds:DigestValue> QU I= </ds:DigestValue>'),
    );
    schema('text inside SignedInfo', authn.replace('<ds:SignedInfo>', '<ds:SignedInfo>x'), /SignedInfo may not contain text/);
    schema(
      'Signature Id equal to the message ID',
      authn.replace('<ds:Signature ', `<ds:Signature Id="${/ ID="([^"]+)"/.exec(authn)![1]}" `),
      /occurs more than once/,
    );
    schema('two signatures', authn.replace(/(<ds:Signature[\s\S]*<\/ds:Signature>)/, '$1$1'), /Signature is not allowed at this place/);

    const logoutPlain = artifactSp.logoutRequest(SLO, 'alias-3', '_session3', { id: '_logout1' });
    schema(
      'LogoutRequest without an identifier',
      mutateOnce(logoutPlain, /<saml:NameID[^>]*>alias-3<\/saml:NameID>/, ''),
      /LogoutRequest is missing BaseID or NameID or EncryptedID/,
    );
    schema(
      'LogoutRequest with a BaseID (abstract)',
      mutateOnce(logoutPlain, /<saml:NameID[^>]*>alias-3<\/saml:NameID>/, '<saml:BaseID NameQualifier="x"/>'),
      /BaseID has an abstract type/,
    );
    schema(
      'LogoutRequest with two NameIDs',
      mutateOnce(logoutPlain, /(<saml:NameID[^>]*>alias-3<\/saml:NameID>)/, '$1$1'),
      /NameID is not allowed at this place/,
    );
    schema(
      'SessionIndex before NameID',
      mutateOnce(logoutPlain, /(<saml:NameID[^>]*>alias-3<\/saml:NameID>)(<samlp:SessionIndex>_session3<\/samlp:SessionIndex>)/, '$2$1'),
      /LogoutRequest is missing BaseID or NameID or EncryptedID \(found SessionIndex\)/,
    );
    schema('NotOnOrAfter without a date', mutateOnce(logoutPlain, /NotOnOrAfter="[^"]+"/, 'NotOnOrAfter="T10:00:00Z"'), /NotOnOrAfter is not a valid dateTime/);
    schema(
      'EncryptedID without EncryptedData',
      mutateOnce(logoutPlain, /<saml:NameID[^>]*>alias-3<\/saml:NameID>/, '<saml:EncryptedID/>'),
      /EncryptedID is missing EncryptedData/,
    );
    schema(
      'EncryptedData without CipherData',
      mutateOnce(
        logoutPlain,
        /<saml:NameID[^>]*>alias-3<\/saml:NameID>/,
        encryptedId.replace(/<xenc:CipherData>[\s\S]*?<\/xenc:CipherData>(?![\s\S]*<xenc:CipherData>)/, ''),
      ),
      /EncryptedData is missing CipherData/,
    );

    const manage = artifactSp.manageNameIdRequest(NAMEID, 'alias-3', 'terminate');
    schema(
      'ManageNameIDRequest with NewID and Terminate',
      mutateOnce(manage, '<samlp:Terminate/>', '<samlp:NewID>x</samlp:NewID><samlp:Terminate/>'),
      /Terminate is not allowed at this place/,
    );
    schema(
      'ManageNameIDRequest with neither NewID nor Terminate',
      mutateOnce(manage, '<samlp:Terminate/>', ''),
      /missing NewID or NewEncryptedID or Terminate/,
    );
    schema(
      'text inside Terminate (empty content)',
      mutateOnce(manage, '<samlp:Terminate/>', '<samlp:Terminate>now</samlp:Terminate>'),
      /Terminate may not contain text/,
    );
    schema(
      'NewID with a child element',
      mutateOnce(
        artifactSp.manageNameIdRequest(NAMEID, 'alias-3', { newId: 'sp-42' }),
        '<samlp:NewID>sp-42</samlp:NewID>',
        '<samlp:NewID><samlp:Terminate/></samlp:NewID>',
      ),
      /NewID must contain text only/,
    );

    schema('ArtifactResolve without Artifact', mutateOnce(resolve, /<samlp:Artifact>[^<]*<\/samlp:Artifact>/, ''), /ArtifactResolve is missing Artifact/);
    schema(
      'ArtifactResolve with two Artifacts',
      mutateOnce(resolve, /(<samlp:Artifact>[^<]*<\/samlp:Artifact>)/, '$1$1'),
      /Artifact is not allowed at this place/,
    );
    schema('LogoutResponse without Status', mutateOnce(plainResponse, /<samlp:Status>[\s\S]*<\/samlp:Status>/, ''), /LogoutResponse is missing Status/);
    schema('Status without StatusCode', mutateOnce(plainResponse, /<samlp:StatusCode[^>]*\/>/, ''), /Status is missing StatusCode/);
    schema('StatusCode without Value', mutateOnce(plainResponse, /<samlp:StatusCode[^>]*\/>/, '<samlp:StatusCode/>'), /StatusCode has no Value/);
    schema(
      'InResponseTo that is not an NCName',
      mutateOnce(plainResponse, 'InResponseTo="_our_request"', 'InResponseTo="our:request"'),
      /InResponseTo is not a valid NCName/,
    );
    schema(
      'StatusMessage before StatusCode',
      mutateOnce(plainResponse, /(<samlp:StatusCode[^>]*\/>)/, '<samlp:StatusMessage>m</samlp:StatusMessage>$1'),
      /Status is missing StatusCode/,
    );
    schema(
      'ArtifactResponse carrying two messages',
      artifactResponse(newIdRequest + terminate),
      /ManageNameIDRequest is not allowed at this place in ArtifactResponse/,
    );
    schema(
      'ArtifactResponse carrying an invalid message (checked as the lax wildcard requires)',
      artifactResponse(mutateOnce(terminate, /IssueInstant="[^"]+"/, 'IssueInstant="soon"')),
      /IssueInstant is not a valid dateTime/,
    );
    schema(
      'ArtifactResponse with the message before Status',
      artifactSp.sign(
        `<samlp:ArtifactResponse xmlns:samlp="${P}" xmlns:saml="${A}" ID="${id()}" Version="2.0" IssueInstant="${now()}"><saml:Issuer>${artifactSp.entityId}</saml:Issuer>${terminate}<samlp:Status><samlp:StatusCode Value="${SUCCESS}"/></samlp:Status></samlp:ArtifactResponse>`,
      ),
      /ArtifactResponse is missing Status/,
    );
  }, 60_000);

  afterAll(async () => {
    await artifactSp?.close();
  });

  it('has a corpus of every consumed message type from real SPs, plus targeted mutations', () => {
    const roots = new Set(samples.filter((sample) => sample.verdict.kind === 'valid').map((sample) => parseXml(sample.xml).documentElement!.localName));
    expect([...roots].sort()).toEqual([
      'ArtifactResolve',
      'ArtifactResponse',
      'AuthnRequest',
      'LogoutRequest',
      'LogoutResponse',
      'ManageNameIDRequest',
      'ManageNameIDResponse',
    ]);
    expect(samples.filter((sample) => sample.verdict.kind !== 'valid').length).toBeGreaterThanOrEqual(60);
  });

  it('accepts every valid message', () => {
    const refused = samples
      .filter((sample) => sample.verdict.kind === 'valid')
      .map((sample) => [sample.name, verdictOf(sample.xml, true)?.message])
      .filter(([, message]) => message);
    expect(refused).toEqual([]);
  });

  it('refuses every mutation with the expected reason and SAML status', () => {
    for (const sample of samples) {
      if (sample.verdict.kind === 'valid') continue;
      const error = verdictOf(sample.xml, true);
      expect([sample.name, error?.message]).toEqual([sample.name, expect.stringMatching(sample.verdict.pattern)]);
      expect([sample.name, error?.status]).toEqual([sample.name, sample.verdict.kind === 'core' ? sample.verdict.status : REQUESTER]);
    }
  });

  it('SAML Core rules are separate from the schema: without them the core-only mutations pass', () => {
    for (const sample of samples.filter((candidate) => candidate.verdict.kind === 'core'))
      expect([sample.name, verdictOf(sample.xml, false)]).toEqual([sample.name, undefined]);
  });

  it('refuses absurdly deep nesting (even inside a lax wildcard) with a SamlError, not a stack overflow', () => {
    const deep = (depth: number) =>
      `<samlp:LogoutResponse xmlns:samlp="${P}" ID="_deep" Version="2.0" IssueInstant="${now()}"><samlp:Extensions><x:r xmlns:x="urn:example:ext">${'<x:a>'.repeat(depth)}${'</x:a>'.repeat(depth)}</x:r></samlp:Extensions>` +
      `<samlp:Status><samlp:StatusCode Value="${SUCCESS}"/></samlp:Status></samlp:LogoutResponse>`;
    expect(verdictOf(deep(20), true)).toBeUndefined();
    expect(verdictOf(deep(5000), true)?.message).toMatch(/nested more than 64 deep/);
  });

  it('refuses a root that is not a consumed message', () => {
    expect(verdictOf(`<samlp:Response xmlns:samlp="${P}" ID="_r" Version="2.0" IssueInstant="${now()}"/>`, true)?.message).toMatch(
      /not a message this identity provider consumes/,
    );
  });

  it('agrees with xmllint and the OASIS schemas on every sample, valid and mutated', () => {
    if (!haveTool('xmllint')) return;
    const lint = xmllintVerdicts(samples, 'saml-schema-protocol-2.0.xsd');
    const disagreements = samples
      .map((sample) => ({ name: sample.name, xmllint: lint.get(sample.name)!, ours: verdictOf(sample.xml, false)?.message }))
      .filter((row) => row.xmllint.ok !== (row.ours === undefined))
      .map((row) => `${row.name}: xmllint ${row.xmllint.ok ? 'valid' : `invalid (${row.xmllint.output})`}, ours ${row.ours ?? 'valid'}`);
    expect(disagreements).toEqual([]);
    // And the expectations themselves match the reference: schema mutations are invalid for xmllint, the rest valid.
    for (const sample of samples) expect([sample.name, lint.get(sample.name)!.ok]).toEqual([sample.name, sample.verdict.kind !== 'schema']);
  });

  it('agrees with xmllint on 400 seeded random mutations of the valid messages', () => {
    if (!haveTool('xmllint')) return;
    const random = seededRandom(0x5a41);
    const bases = samples.filter((sample) => sample.verdict.kind === 'valid');
    const generated: Sample[] = [];
    while (generated.length < 400) {
      const base = bases[random(bases.length)]!;
      const xml = randomMutation(base.xml, random);
      if (xml !== undefined && xml !== base.xml) generated.push({ name: `random #${generated.length} of ${base.name}`, xml, verdict: { kind: 'valid' } });
    }
    const lint = xmllintVerdicts(generated, 'saml-schema-protocol-2.0.xsd');
    const disagreements = generated
      .map((sample) => ({ sample, xmllint: lint.get(sample.name)!, ours: verdictOf(sample.xml, false)?.message }))
      .filter((row) => row.xmllint.ok !== (row.ours === undefined))
      .map(
        (row) => `${row.sample.name}: xmllint ${row.xmllint.ok ? 'valid' : `invalid (${row.xmllint.output})`}, ours ${row.ours ?? 'valid'}\n${row.sample.xml}`,
      );
    expect(disagreements).toEqual([]);
    // The mutations are not all harmless: most of them must be refused.
    expect(generated.filter((sample) => !lint.get(sample.name)!.ok).length).toBeGreaterThan(200);
  });

  describe('at the endpoints', () => {
    const replay = (seen: Set<string>) =>
      ({
        firstUse: async (scope: string, value: string) => (seen.has(`${scope}|${value}`) ? false : (seen.add(`${scope}|${value}`), true)),
      }) as unknown as ReplayCache;

    it('verifyInbound refuses a correctly signed but schema-invalid message before the replay cache sees its ID', async () => {
      const seen = new Set<string>();
      const context = {
        tenant: 'demo',
        destination: NAMEID,
        now: Date.now(),
        findSp: async () => spRecord,
        replay: replay(seen),
        expected: ['ManageNameIDRequest'],
      };
      const bad = artifactSp.sign(
        artifactSp.manageNameIdRequest(NAMEID, 'alias-3', 'terminate', { id: '_once' }).replace('<samlp:Terminate/>', '<samlp:Terminate/><samlp:Terminate/>'),
      );
      const error = await verifyInbound({ kind: 'soap', xml: bad }, context).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(SamlError);
      expect((error as SamlError).message).toMatch(/schema check: Terminate is not allowed/);
      expect((error as SamlError).status).toBe(REQUESTER);
      expect(seen.size).toBe(0);
      const good = await verifyInbound(
        { kind: 'soap', xml: artifactSp.sign(artifactSp.manageNameIdRequest(NAMEID, 'alias-3', 'terminate', { id: '_once' })) },
        context,
      );
      expect(good.id).toBe('_once');
    });

    it('validateAuthnRequest answers Version 1.1 with VersionMismatch and an ACS index beside a URL with Requester', async () => {
      const context = { destination: SSO, now: Date.now(), tenant: 'demo', replay: replay(new Set()), findSp: async () => spRecord };
      const post = (xml: string) => ({ binding: 'post' as const, samlRequest: Buffer.from(xml).toString('base64') });
      const version = await validateAuthnRequest(post(artifactSp.sign(artifactSp.authnRequest(SSO).replace('Version="2.0"', 'Version="1.1"'))), context).catch(
        (caught: unknown) => caught,
      );
      expect((version as SamlError).status).toBe(VERSION_MISMATCH);
      const both = await validateAuthnRequest(
        post(artifactSp.sign(artifactSp.authnRequest(SSO).replace(' ProtocolBinding=', ' AssertionConsumerServiceIndex="1" ProtocolBinding='))),
        context,
      ).catch((caught: unknown) => caught);
      expect((both as SamlError).message).toMatch(/AssertionConsumerServiceIndex excludes/);
      expect((both as SamlError).status).toBe(REQUESTER);
      await expect(validateAuthnRequest(post(artifactSp.sign(artifactSp.authnRequest(SSO))), context)).resolves.toMatchObject({
        spEntityId: artifactSp.entityId,
      });
    });

    it('validateAuthnRequest reads booleans as the schema does (whitespace collapsed, 1/0)', async () => {
      const context = { destination: SSO, now: Date.now(), tenant: 'demo', replay: replay(new Set()), findSp: async () => spRecord };
      const post = (xml: string) => ({ binding: 'post' as const, samlRequest: Buffer.from(xml).toString('base64') });
      const request = artifactSp
        .authnRequest(SSO, { allowCreate: false })
        .replace('AllowCreate="false"', 'AllowCreate=" false "')
        .replace(' ProtocolBinding=', ' ForceAuthn=" true " IsPassive="1" ProtocolBinding=');
      await expect(validateAuthnRequest(post(artifactSp.sign(request)), context)).resolves.toMatchObject({
        forceAuthn: true,
        isPassive: true,
        allowCreate: false,
      });
      await expect(
        validateAuthnRequest(
          post(artifactSp.sign(artifactSp.authnRequest(SSO).replace(' ProtocolBinding=', ' ForceAuthn="0" IsPassive="false" ProtocolBinding='))),
          context,
        ),
      ).resolves.toMatchObject({ forceAuthn: false, isPassive: false });
    });
  });
});
