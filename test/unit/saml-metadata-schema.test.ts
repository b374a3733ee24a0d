import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import { DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom';
import { SAML } from '@node-saml/node-saml';
import saml2 from 'saml2-js';
import { checkMetadataSchema } from '../../lambdas/core/saml/schema-check.ts';
import { parseSpMetadata } from '../../lambdas/core/saml/service-providers.ts';
import { parseXml, SamlError } from '../../lambdas/core/saml/xml.ts';
import { ArtifactSp, PERSISTENT } from '../support/saml-artifact-sp.ts';
import { haveTool, spCredentials } from '../support/saml-sp.ts';
import { mutateOnce, seededRandom, xmllintVerdicts } from '../support/schema-corpus.ts';

/**
 * The schema check of SP metadata: real metadata from node-saml, saml2-js, samlify and the artifact test
 * SP, and a hand-written one with every optional part, is accepted; targeted mutations are refused with
 * a SamlError (so registration answers 400); and every verdict agrees with `xmllint --schema` and the
 * OASIS metadata XSD.
 */

const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';

/** samlify's SP, loaded untyped (its typings pull an old @xmldom/xmldom into the type check), as bench/saml.ts does. */
interface Samlify {
  setSchemaValidator(validator: { validate: (xml: string) => Promise<string> }): void;
  ServiceProvider(settings: Record<string, unknown>): { getMetadata(): string };
}
const samlify = createRequire(import.meta.url)('samlify') as Samlify;

interface Sample {
  readonly name: string;
  readonly xml: string;
  /** undefined: valid; otherwise the refusal's message must match. */
  readonly refusal?: RegExp;
  /** Schema-valid, refused by our policy (not an SP's single EntityDescriptor): xmllint must call it valid. */
  readonly policy?: true;
}

function verdictOf(xml: string): SamlError | undefined {
  try {
    checkMetadataSchema(parseXml(xml).documentElement!);
    return undefined;
  } catch (error) {
    if (error instanceof SamlError) return error;
    throw error;
  }
}

/** Valid and invalid lexical forms of the metadata's attribute types (boolean, unsignedShort, duration, enums, URI lists, language). */
const EDGE_VALUES = [
  '',
  ' ',
  'true',
  ' 0 ',
  'TRUE',
  'yes',
  '65535',
  '65536',
  '-1',
  '+1',
  '007',
  'signing',
  'encryption',
  'sign',
  'technical',
  'other',
  'sales',
  'P1D',
  'PT1.5S',
  'P',
  'PT',
  '-P1Y',
  'P1H',
  'en',
  'en-GB',
  'english-language',
  'urn:a urn:b',
  'http://[x',
  'x y',
  '_id',
  '1id',
  '2030-02-30T00:00:00Z',
  'é',
];

/** One random change (attribute removed or set to an edge value, element removed, duplicated or swapped, text inserted); undefined when it does not apply. */
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
  const kids = Array.from({ length: target.childNodes.length }, (_, i) => target.childNodes.item(i)!).filter((node) => node.nodeType === 1) as Element[];
  const isRoot = target === document.documentElement;
  switch (random(6)) {
    case 0:
      if (!attributes.length) return undefined;
      target.removeAttribute(attributes[random(attributes.length)]!.name);
      break;
    case 1:
      if (!attributes.length) return undefined;
      target.setAttribute(attributes[random(attributes.length)]!.name, EDGE_VALUES[random(EDGE_VALUES.length)]!);
      break;
    case 2:
      if (isRoot) return undefined;
      target.parentNode!.removeChild(target);
      break;
    case 3:
      if (isRoot) return undefined;
      target.parentNode!.insertBefore(target.cloneNode(true), target);
      break;
    case 4: {
      if (kids.length < 2) return undefined;
      const at = random(kids.length - 1);
      target.insertBefore(kids[at + 1]!, kids[at]!);
      break;
    }
    default:
      target.insertBefore(document.createTextNode('text'), target.firstChild);
  }
  return new XMLSerializer().serializeToString(document);
}

/** Metadata using every optional part of the modelled schema (and foreign extensions where it allows them). */
function everyPart(certBase64: string): string {
  return (
    '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"' +
    ' xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:alg="urn:oasis:names:tc:SAML:metadata:algsupport" xmlns:idpdisc="urn:oasis:names:tc:SAML:profiles:SSO:idp-discovery-protocol" xmlns:x="urn:example:ext"' +
    ' entityID="https://full.example.test/metadata" ID="_meta1" validUntil="2030-01-01T00:00:00Z" cacheDuration="P1DT12H" x:note="foreign attribute">\n' +
    '  <md:Extensions><alg:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><x:Anything><x:Deep/></x:Anything></md:Extensions>\n' +
    '  <md:SPSSODescriptor ID="_sp1" validUntil="2030-01-01T00:00:00Z" cacheDuration="PT1H" errorURL="https://full.example.test/error" AuthnRequestsSigned="1" WantAssertionsSigned="false"' +
    ' protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol urn:oasis:names:tc:SAML:1.1:protocol" x:flag="yes">\n' +
    '    <md:Extensions><mdui:UIInfo><mdui:DisplayName xml:lang="en">Full SP</mdui:DisplayName></mdui:UIInfo>' +
    '<idpdisc:DiscoveryResponse Binding="urn:oasis:names:tc:SAML:profiles:SSO:idp-discovery-protocol" Location="https://full.example.test/disco" index="0"/></md:Extensions>\n' +
    `    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:KeyName>sp-signing</ds:KeyName><ds:X509Data><ds:X509Certificate>${certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n` +
    `    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>` +
    '<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/><md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></md:EncryptionMethod></md:KeyDescriptor>\n' +
    `    <md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n` +
    '    <md:Organization><md:OrganizationName xml:lang="en">Full</md:OrganizationName><md:OrganizationDisplayName xml:lang="en">Full Inc.</md:OrganizationDisplayName><md:OrganizationURL xml:lang="en">https://full.example.test/</md:OrganizationURL></md:Organization>\n' +
    '    <md:ContactPerson contactType="technical"><md:Company>Full</md:Company><md:GivenName>Ada</md:GivenName><md:SurName>Admin</md:SurName><md:EmailAddress>mailto:ada@full.example.test</md:EmailAddress><md:TelephoneNumber>+1 555 0100</md:TelephoneNumber></md:ContactPerson>\n' +
    '    <md:ArtifactResolutionService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://full.example.test/ars" index="0" isDefault="true"/>\n' +
    `    <md:SingleLogoutService Binding="${REDIRECT}" Location="https://full.example.test/slo" ResponseLocation="https://full.example.test/slo-response" x:weight="1"/>\n` +
    `    <md:ManageNameIDService Binding="${REDIRECT}" Location="https://full.example.test/mnid"><x:Hint/></md:ManageNameIDService>\n` +
    `    <md:NameIDFormat>${PERSISTENT}</md:NameIDFormat>\n` +
    `    <md:AssertionConsumerService Binding="${POST}" Location="https://full.example.test/acs" index="0" isDefault="true"/>\n` +
    '    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://full.example.test/acs-artifact" index="65535" isDefault="0"/>\n' +
    '    <md:AttributeConsumingService index="0" isDefault="true"><md:ServiceName xml:lang="en">Full</md:ServiceName><md:ServiceName xml:lang="fr-CA">Complet</md:ServiceName><md:ServiceDescription xml:lang="en">Everything</md:ServiceDescription>' +
    '<md:RequestedAttribute Name="mail" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic" FriendlyName="mail" isRequired="true"/>' +
    '<md:RequestedAttribute Name="eduPersonAffiliation"><saml:AttributeValue>member</saml:AttributeValue><saml:AttributeValue>staff</saml:AttributeValue></md:RequestedAttribute></md:AttributeConsumingService>\n' +
    '  </md:SPSSODescriptor>\n' +
    '  <md:Organization><md:OrganizationName xml:lang="en">Full</md:OrganizationName><md:OrganizationDisplayName xml:lang="en">Full Inc.</md:OrganizationDisplayName><md:OrganizationURL xml:lang="en">https://full.example.test/</md:OrganizationURL></md:Organization>\n' +
    '  <md:ContactPerson contactType="support"><md:EmailAddress>mailto:help@full.example.test</md:EmailAddress></md:ContactPerson>\n' +
    '  <md:AdditionalMetadataLocation namespace="urn:oasis:names:tc:SAML:2.0:metadata">https://full.example.test/more.xml</md:AdditionalMetadataLocation>\n' +
    '</md:EntityDescriptor>'
  );
}

describe('SAML metadata schema check', () => {
  const samples: Sample[] = [];
  const valid = (name: string, xml: string) => samples.push({ name, xml });
  const refused = (name: string, xml: string, refusal: RegExp) => samples.push({ name, xml, refusal });
  const policy = (name: string, xml: string, refusal: RegExp) => samples.push({ name, xml, refusal, policy: true });
  let artifactSp: ArtifactSp;
  let full = '';
  let nodeSamlMetadata = '';

  beforeAll(async () => {
    const keys = await spCredentials('metadata SP');
    const nodeSaml = new SAML({
      entryPoint: 'https://idp.example.test/t/demo/saml/sso',
      issuer: 'https://node-saml.example.test/metadata',
      callbackUrl: 'https://node-saml.example.test/acs',
      idpCert: keys.certPem,
      privateKey: keys.keyPem,
      publicCert: keys.certPem,
      signatureAlgorithm: 'sha256',
      identifierFormat: PERSISTENT,
      logoutCallbackUrl: 'https://node-saml.example.test/slo',
    });
    nodeSamlMetadata = nodeSaml.generateServiceProviderMetadata(null, keys.certPem);
    valid('node-saml SP metadata', nodeSamlMetadata);
    valid('node-saml SP metadata (with an encryption key)', nodeSaml.generateServiceProviderMetadata(keys.certPem, keys.certPem));

    const saml2Sp = new saml2.ServiceProvider({
      entity_id: 'https://saml2-js.example.test/metadata',
      private_key: keys.keyPem,
      certificate: keys.certPem,
      assert_endpoint: 'https://saml2-js.example.test/acs',
      sign_get_request: true,
    });
    valid('saml2-js SP metadata', saml2Sp.create_metadata());

    samlify.setSchemaValidator({ validate: async () => 'skipped: only metadata is generated here' });
    const samlifySettings = {
      entityID: 'https://samlify.example.test/metadata',
      authnRequestsSigned: true,
      wantAssertionsSigned: true,
      signingCert: keys.certPem,
      encryptCert: keys.certPem,
      nameIDFormat: [PERSISTENT],
      assertionConsumerService: [{ Binding: POST, Location: 'https://samlify.example.test/acs' }],
    };
    valid('samlify SP metadata', samlify.ServiceProvider(samlifySettings).getMetadata());
    // samlify 2.13.1 writes NameIDFormat (always present, emailAddress by default) before SingleLogoutService,
    // which the schema's sequence forbids (xmllint agrees): its metadata with an SLO service is refused.
    const withSlo = { ...samlifySettings, singleLogoutService: [{ Binding: REDIRECT, Location: 'https://samlify.example.test/slo' }] };
    refused(
      'samlify SP metadata with an SLO service (real, schema-invalid)',
      samlify.ServiceProvider(withSlo).getMetadata(),
      /SPSSODescriptor is missing AssertionConsumerService \(found SingleLogoutService\)/,
    );

    artifactSp = await ArtifactSp.start('https://artifact-sp.example.test/metadata');
    valid('artifact test SP metadata', artifactSp.metadata());
    valid('artifact test SP metadata (POST front-channel SLO, no SOAP SLO)', artifactSp.metadata({ soapSlo: false, frontSlo: 'post' }));

    full = everyPart(keys.certBase64);
    valid('hand-written metadata with every optional part', full);
    // saml:AttributeValue is xs:anyType and nillable: any attribute, xsi:nil, xsi:type="xs:string".
    const XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema"';
    const anyTypeValues = (values: string) =>
      mutateOnce(full, '<saml:AttributeValue>member</saml:AttributeValue><saml:AttributeValue>staff</saml:AttributeValue>', values);
    valid(
      'AttributeValue with xsi:type xs:string, xsi:nil and a free attribute',
      anyTypeValues(
        `<saml:AttributeValue ${XSI} xsi:type="xs:string">member</saml:AttributeValue><saml:AttributeValue ${XSI} xsi:nil="true"/><saml:AttributeValue scope="x" xml:lang="en">staff</saml:AttributeValue>`,
      ),
    );
    valid('xml:lang on a descriptor (anyAttribute ##other)', mutateOnce(full, ' x:flag="yes"', ' x:flag="yes" xml:lang="en-GB"'));

    // Targeted mutations of the hand-written and real metadata.
    refused('no entityID', mutateOnce(full, ' entityID="https://full.example.test/metadata"', ''), /EntityDescriptor has no entityID/);
    refused(
      'no AssertionConsumerService',
      artifactSp.metadata().replace(/<md:AssertionConsumerService [^>]*\/>/g, ''),
      /SPSSODescriptor is missing AssertionConsumerService/,
    );
    refused('ACS without index', mutateOnce(full, ' index="65535"', ''), /AssertionConsumerService has no index/);
    refused(
      'ACS index over an unsigned short',
      mutateOnce(full, ' index="65535"', ' index="65536"'),
      /AssertionConsumerService\/@index is not a valid unsignedShort/,
    );
    refused('ACS index negative', mutateOnce(full, ' index="65535"', ' index="-1"'), /index is not a valid unsignedShort/);
    refused('bad boolean (isDefault="yes")', mutateOnce(full, ' isDefault="0"', ' isDefault="yes"'), /isDefault is not a valid boolean/);
    refused(
      'bad boolean (AuthnRequestsSigned="TRUE")',
      mutateOnce(full, 'AuthnRequestsSigned="1"', 'AuthnRequestsSigned="TRUE"'),
      /AuthnRequestsSigned is not a valid boolean/,
    );
    refused(
      'NameIDFormat after the ACS (out of order)',
      mutateOnce(
        mutateOnce(full, `    <md:NameIDFormat>${PERSISTENT}</md:NameIDFormat>\n`, ''),
        '  </md:SPSSODescriptor>',
        `<md:NameIDFormat>${PERSISTENT}</md:NameIDFormat></md:SPSSODescriptor>`,
      ),
      /NameIDFormat is not allowed at this place/,
    );
    refused(
      'KeyDescriptor after the Organization (out of order)',
      mutateOnce(full, /<md:KeyDescriptor><ds:KeyInfo>.*?<\/md:KeyDescriptor>\n/, '').replace(
        '<md:ContactPerson contactType="technical">',
        `<md:KeyDescriptor><ds:KeyInfo><ds:KeyName>late</ds:KeyName></ds:KeyInfo></md:KeyDescriptor><md:ContactPerson contactType="technical">`,
      ),
      /SPSSODescriptor is missing AssertionConsumerService \(found KeyDescriptor\)/,
    );
    refused(
      'Organization before the SPSSODescriptor (out of order)',
      mutateOnce(
        full,
        '<md:SPSSODescriptor ID',
        '<md:Organization><md:OrganizationName xml:lang="en">x</md:OrganizationName><md:OrganizationDisplayName xml:lang="en">x</md:OrganizationDisplayName><md:OrganizationURL xml:lang="en">https://x.test/</md:OrganizationURL></md:Organization><md:SPSSODescriptor ID',
      ),
      /SPSSODescriptor/,
    );
    refused(
      'KeyDescriptor use="sign"',
      mutateOnce(full, '<md:KeyDescriptor use="signing">', '<md:KeyDescriptor use="sign">'),
      /KeyDescriptor\/@use is not a valid keyUse/,
    );
    refused(
      'unknown md element',
      mutateOnce(full, `    <md:NameIDFormat>`, '<md:Unknown/><md:NameIDFormat>'),
      /SPSSODescriptor is missing AssertionConsumerService \(found Unknown\)/,
    );
    refused(
      'metadata-namespace element in Extensions',
      mutateOnce(full, '<md:Extensions><alg:DigestMethod', '<md:Extensions><md:NameIDFormat>x</md:NameIDFormat><alg:DigestMethod'),
      /Extensions is missing an element \(found NameIDFormat\)/,
    );
    refused(
      'empty Extensions',
      mutateOnce(full, /<md:Extensions><mdui:UIInfo>.*?<\/md:Extensions>/, '<md:Extensions></md:Extensions>'),
      /Extensions is missing an element/,
    );
    refused(
      'text in element-only content (SPSSODescriptor)',
      mutateOnce(full, `    <md:NameIDFormat>`, 'hello<md:NameIDFormat>'),
      /SPSSODescriptor may not contain text/,
    );
    refused(
      'text in element-only content (KeyDescriptor)',
      mutateOnce(full, '<md:KeyDescriptor use="signing">', '<md:KeyDescriptor use="signing">text'),
      /KeyDescriptor may not contain text/,
    );
    refused('no protocolSupportEnumeration', mutateOnce(full, / protocolSupportEnumeration="[^"]*"/, ''), /SPSSODescriptor has no protocolSupportEnumeration/);
    refused('ACS without Location', mutateOnce(full, ' Location="https://full.example.test/acs"', ''), /AssertionConsumerService has no Location/);
    refused(
      'bad validUntil',
      mutateOnce(full, ' validUntil="2030-01-01T00:00:00Z" cacheDuration="P1DT12H"', ' validUntil="tomorrow" cacheDuration="P1DT12H"'),
      /validUntil is not a valid dateTime/,
    );
    refused('bad cacheDuration', mutateOnce(full, 'cacheDuration="PT1H"', 'cacheDuration="1 hour"'), /cacheDuration is not a valid duration/);
    refused('bad contactType', mutateOnce(full, 'contactType="support"', 'contactType="sales"'), /contactType is not a valid contactType/);
    refused(
      'OrganizationName without xml:lang',
      mutateOnce(
        full,
        '<md:OrganizationName xml:lang="en">Full</md:OrganizationName><md:OrganizationDisplayName xml:lang="en">Full Inc.</md:OrganizationDisplayName><md:OrganizationURL xml:lang="en">https://full.example.test/</md:OrganizationURL></md:Organization>\n  <md:ContactPerson',
        '<md:OrganizationName>Full</md:OrganizationName><md:OrganizationDisplayName xml:lang="en">Full Inc.</md:OrganizationDisplayName><md:OrganizationURL xml:lang="en">https://full.example.test/</md:OrganizationURL></md:Organization>\n  <md:ContactPerson',
      ),
      /OrganizationName has no xml:lang/,
    );
    refused(
      'RequestedAttribute without Name',
      mutateOnce(full, '<md:RequestedAttribute Name="mail"', '<md:RequestedAttribute'),
      /RequestedAttribute has no Name/,
    );
    refused(
      'AttributeConsumingService without ServiceName',
      mutateOnce(full, /<md:ServiceName xml:lang="en">Full<\/md:ServiceName><md:ServiceName xml:lang="fr-CA">Complet<\/md:ServiceName>/, ''),
      /AttributeConsumingService is missing ServiceName/,
    );
    refused(
      'unknown unqualified attribute on an endpoint',
      mutateOnce(full, ' x:weight="1"', ' weight="1"'),
      /attribute weight is not allowed on SingleLogoutService/,
    );
    refused(
      'metadata-namespace attribute on the descriptor',
      mutateOnce(full, ' x:flag="yes"', ' md:flag="yes"'),
      /attribute md:flag is not allowed on SPSSODescriptor/,
    );
    refused(
      'KeyDescriptor without KeyInfo',
      mutateOnce(full, /<md:KeyDescriptor><ds:KeyInfo>.*?<\/md:KeyDescriptor>/, '<md:KeyDescriptor></md:KeyDescriptor>'),
      /KeyDescriptor is missing KeyInfo/,
    );
    refused(
      'bad certificate base64 in the KeyInfo',
      nodeSamlMetadata.replace(/<ds:X509Certificate>[^<]*/, '<ds:X509Certificate>not base64!'),
      /X509Certificate is not a valid base64Binary/,
    );
    refused('duplicate ID', mutateOnce(full, 'ID="_sp1"', 'ID="_meta1"'), /the ID _meta1 occurs more than once/);
    refused(
      'bad xml:lang on a descriptor (lax anyAttribute still checks what it knows)',
      mutateOnce(full, ' x:flag="yes"', ' x:flag="yes" xml:lang="not a language"'),
      /SPSSODescriptor\/@xml:lang is not a valid language/,
    );
    refused(
      'AttributeValue nil but not empty',
      anyTypeValues(`<saml:AttributeValue ${XSI} xsi:nil="true">member</saml:AttributeValue>`),
      /AttributeValue is nil but not empty/,
    );
    refused(
      'AttributeValue xs:string holding an element',
      anyTypeValues(`<saml:AttributeValue ${XSI} xsi:type="xs:string"><x:y/></saml:AttributeValue>`),
      /AttributeValue is an xs:string and may not contain elements/,
    );
    refused(
      'AttributeValue with an unknown xsi:type',
      anyTypeValues(`<saml:AttributeValue ${XSI} xsi:type="xs:nonsense">1</saml:AttributeValue>`),
      /attribute xsi:type="xs:nonsense" is not accepted on AttributeValue/,
    );
    policy(
      'an IdP role beside the SP role',
      mutateOnce(
        full,
        '  </md:SPSSODescriptor>\n',
        `  </md:SPSSODescriptor><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="${REDIRECT}" Location="https://full.example.test/sso"/></md:IDPSSODescriptor>\n`,
      ),
      /IDPSSODescriptor is not allowed at this place in EntityDescriptor/,
    );
    policy(
      'EntitiesDescriptor root',
      `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">${artifactSp.metadata().replace(/^<md:EntityDescriptor xmlns:md="[^"]*"/, '<md:EntityDescriptor')}</md:EntitiesDescriptor>`,
      /EntitiesDescriptor is not an md:EntityDescriptor/,
    );
  }, 30_000);

  afterAll(async () => {
    await artifactSp?.close();
  });

  it('accepts the real and the hand-written metadata', () => {
    const problems = samples
      .filter((sample) => !sample.refusal)
      .map((sample) => ({ name: sample.name, error: verdictOf(sample.xml)?.message }))
      .filter((row) => row.error);
    expect(problems).toEqual([]);
    expect(samples.filter((sample) => !sample.refusal).length).toBe(9);
  });

  it('refuses each targeted mutation with a SamlError naming the violation', () => {
    const refusals = samples.filter((sample) => sample.refusal);
    expect(refusals.length).toBeGreaterThanOrEqual(30);
    const wrong = refusals
      .map((sample) => ({ name: sample.name, error: verdictOf(sample.xml)?.message }))
      .filter((row, index) => !row.error || !refusals[index]!.refusal!.test(row.error));
    expect(wrong).toEqual([]);
  });

  it('registration (parseSpMetadata) refuses metadata whose validUntil (entity or SP role) is not after the registration instant', () => {
    // `full` is validUntil 2030-01-01T00:00:00Z on both the EntityDescriptor and the SPSSODescriptor.
    expect(parseSpMetadata(full, '2029-12-31T23:59:59.999Z').entityId).toBe('https://full.example.test/metadata');
    expect(() => parseSpMetadata(full, '2030-01-01T00:00:00Z')).toThrow(/metadata has expired: the EntityDescriptor is validUntil 2030-01-01T00:00:00Z/);
    const roleOnly = full
      .replace(/(<md:EntityDescriptor[^>]*?) validUntil="[^"]*"/, '$1')
      .replace(/(<md:SPSSODescriptor[^>]*?) validUntil="[^"]*"/, '$1 validUntil="2027-01-01T00:00:00+01:00"');
    expect(() => parseSpMetadata(roleOnly, '2027-01-01T00:00:00Z')).toThrow(/the SPSSODescriptor is validUntil 2027-01-01T00:00:00\+01:00/);
    expect(parseSpMetadata(nodeSamlMetadata, '2099-01-01T00:00:00Z').entityId).toBe('https://node-saml.example.test/metadata');
  });

  it('registration (parseSpMetadata) refuses schema-invalid metadata with the schema reason and still parses valid metadata', () => {
    const invalid = samples.find((sample) => sample.name === 'KeyDescriptor use="sign"')!;
    expect(() => parseSpMetadata(invalid.xml, '2026-11-23T00:00:00Z')).toThrow(SamlError);
    expect(() => parseSpMetadata(invalid.xml, '2026-11-23T00:00:00Z')).toThrow(/schema check: KeyDescriptor\/@use is not a valid keyUse/);
    expect(parseSpMetadata(full, '2026-11-23T00:00:00Z').entityId).toBe('https://full.example.test/metadata');
    expect(parseSpMetadata(nodeSamlMetadata, '2026-11-23T00:00:00Z').entityId).toBe('https://node-saml.example.test/metadata');
  });

  it('agrees with xmllint and the OASIS metadata schema on every sample', () => {
    if (!haveTool('xmllint')) return;
    const lint = xmllintVerdicts(samples, 'saml-schema-metadata-2.0.xsd');
    const disagreements = samples
      .map((sample) => ({ name: sample.name, xmllint: lint.get(sample.name)!, ours: verdictOf(sample.xml)?.message }))
      .filter((row, index) => row.xmllint.ok !== (row.ours === undefined || samples[index]!.policy === true))
      .map((row) => `${row.name}: xmllint ${row.xmllint.ok ? 'valid' : `invalid (${row.xmllint.output})`}, ours ${row.ours ?? 'valid'}`);
    expect(disagreements).toEqual([]);
    expect(samples.filter((sample) => lint.get(sample.name)!.ok).map((sample) => sample.name)).toEqual(
      samples.filter((sample) => !sample.refusal || sample.policy).map((sample) => sample.name),
    );
  });

  it.each([20261123, 7, 424242])('agrees with xmllint on 300 random mutations of the valid metadata (seed %i)', (seed) => {
    if (!haveTool('xmllint')) return;
    const random = seededRandom(seed);
    const bases = samples.filter((sample) => !sample.refusal);
    const generated: Sample[] = [];
    for (let attempt = 0; generated.length < 300 && attempt < 3000; attempt++) {
      const base = bases[random(bases.length)]!;
      const xml = randomMutation(base.xml, random);
      if (xml !== undefined) generated.push({ name: `random ${generated.length} of ${base.name}`, xml });
    }
    expect(generated.length).toBe(300);
    const lint = xmllintVerdicts(generated, 'saml-schema-metadata-2.0.xsd');
    const disagreements = generated
      .map((sample) => ({ sample, xmllint: lint.get(sample.name)!, ours: verdictOf(sample.xml)?.message }))
      .filter((row) => row.xmllint.ok !== (row.ours === undefined))
      .map(
        (row) => `${row.sample.name}: xmllint ${row.xmllint.ok ? 'valid' : `invalid (${row.xmllint.output})`}, ours ${row.ours ?? 'valid'}\n${row.sample.xml}`,
      );
    expect(disagreements).toEqual([]);
    // The mutations must exercise both verdicts, or the comparison proves little.
    const invalid = generated.filter((sample) => !lint.get(sample.name)!.ok).length;
    expect(invalid).toBeGreaterThan(100);
    expect(invalid).toBeLessThan(300);
  });
});
