import { beforeAll, describe, expect, it } from '@jest/globals';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { idpMetadata } from '../../lambdas/core/saml/metadata.ts';
import { ATTRNAME_FORMAT, type ReleasedAttribute } from '../../lambdas/core/saml/attribute-mapping.ts';
import { AUTHN_CONTEXT, buildResponse, STATUS, type ResponseInput } from '../../lambdas/core/saml/response.ts';
import type { SigningKey } from '../../lambdas/core/saml/signature.ts';
import { children, NS, parseXml, textOf } from '../../lambdas/core/saml/xml.ts';
import type { Element } from '@xmldom/xmldom';
import { spCredentials } from '../support/saml-sp.ts';

/** Attributes as the default map releases them: basic names, one value each. */
const basic = (attributes: Record<string, string | undefined>): ReleasedAttribute[] =>
  Object.entries(attributes).flatMap(([name, value]) => (value ? [{ name, nameFormat: ATTRNAME_FORMAT.basic, values: [value] }] : []));

const random = { bytes: (n: number) => new Uint8Array(randomBytes(n)), id: () => randomBytes(16).toString('base64url') };

describe('SAML Response building', () => {
  let key: SigningKey;
  beforeAll(async () => {
    const credentials = await spCredentials('idp');
    key = { privateKey: createPrivateKey(credentials.keyPem), certificatePem: credentials.certPem };
  });

  const build = (attributes: Record<string, string | undefined>, nameId = 'alias-1', extra: Partial<ResponseInput> = {}) =>
    buildResponse({
      idpEntityId: 'https://idp.example.test/t/demo/saml/metadata',
      spEntityId: 'https://sp.example.test',
      acsUrl: 'https://sp.example.test/acs',
      inResponseTo: '_req1',
      now: Date.now(),
      random,
      key,
      subject: {
        nameId,
        nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
        sessionIndex: 'sid1',
        authnInstant: Date.now(),
        authnContextClassRef: AUTHN_CONTEXT.totp,
        attributes: basic(attributes),
      },
      ...extra,
    });

  const verify = (xml: string, element: Element): boolean => {
    const signature = children(element, NS.dsig, 'Signature')[0]!;
    const verifier = new SignedXml({ publicCert: key.certificatePem, getCertFromKeyInfo: () => null });
    verifier.loadSignature(signature);
    return verifier.checkSignature(xml);
  };

  it('signs the assertion and the response, each Signature right after its Issuer, referencing its own ID', async () => {
    const xml = await build({ mail: 'alice@example.test', displayName: 'Alice' });
    const response = parseXml(xml).documentElement!;
    const assertion = children(response, NS.assertion, 'Assertion')[0]!;
    for (const element of [response, assertion]) {
      const elementChildren = [...Array.from({ length: element.childNodes.length }, (_, i) => element.childNodes[i]!)].filter(
        (n) => n.nodeType === 1,
      ) as Element[];
      expect(elementChildren[0]!.localName).toBe('Issuer');
      expect(elementChildren[1]!.localName).toBe('Signature');
      expect(xml).toContain(`URI="#${element.getAttribute('ID')}"`);
      expect(verify(xml, element)).toBe(true);
    }
    expect(xml).toContain('Recipient="https://sp.example.test/acs"');
    expect(xml).toContain('InResponseTo="_req1"');
    expect(xml).toContain('<saml:Audience>https://sp.example.test</saml:Audience>');
    expect(xml).toContain(AUTHN_CONTEXT.totp);
    expect(xml).toContain('rsa-sha256');
    expect(xml).toContain('xml-exc-c14n#');
  });

  it('escapes attribute values and NameIDs: markup in them stays text (no XML injection)', async () => {
    const injected = '</saml:AttributeValue><saml:AttributeValue>admin';
    const xml = await build({ mail: 'a@example.test', displayName: injected }, 'x</saml:NameID><saml:NameID>bob');
    const document = parseXml(xml);
    const values = Array.from(document.getElementsByTagNameNS(NS.assertion, 'AttributeValue')).map((e) => textOf(e as unknown as Element));
    expect(values).toEqual(['a@example.test', injected]);
    expect(document.getElementsByTagNameNS(NS.assertion, 'NameID')).toHaveLength(1);
    expect(textOf(document.getElementsByTagNameNS(NS.assertion, 'NameID')[0] as unknown as Element)).toBe('x</saml:NameID><saml:NameID>bob');
  });

  it('a tampered assertion no longer verifies', async () => {
    const xml = (await build({ displayName: 'Alice' })).replace('>Alice<', '>Mallory<');
    const response = parseXml(xml).documentElement!;
    expect(verify(xml, children(response, NS.assertion, 'Assertion')[0]!)).toBe(false);
  });

  it('builds a signed error response without an assertion', async () => {
    const xml = await buildResponse({
      idpEntityId: 'https://idp',
      spEntityId: 'https://sp',
      acsUrl: 'https://sp/acs',
      now: Date.now(),
      random,
      key,
      status: { code: STATUS.responder, subCode: STATUS.noPassive, message: 'not signed in' },
    });
    expect(xml).not.toContain('Assertion');
    expect(xml).toContain(STATUS.noPassive);
    expect(verify(xml, parseXml(xml).documentElement!)).toBe(true);
  });

  it('signs the IdP metadata enveloped, Signature first', () => {
    const xml = idpMetadata('https://idp.example.test/t/demo', key, Date.now(), random.bytes(20));
    const root = parseXml(xml, 512 * 1024).documentElement!;
    expect((root.firstChild as Element).localName).toBe('Signature');
    expect(verify(xml, root)).toBe(true);
  });

  it('publishes the metadata for a year with a one-day cacheDuration, and every SingleLogoutService binding incl. HTTP-Artifact', () => {
    const now = Date.parse('2026-03-01T10:00:00Z');
    const root = parseXml(idpMetadata('https://idp.example.test/t/demo', key, now, random.bytes(20)), 512 * 1024).documentElement!;
    expect(root.getAttribute('validUntil')).toBe('2027-03-01T10:00:00Z');
    expect(root.getAttribute('cacheDuration')).toBe('PT24H');
    const descriptor = children(root, NS.metadata, 'IDPSSODescriptor')[0]!;
    expect(children(descriptor, NS.metadata, 'SingleLogoutService').map((element) => element.getAttribute('Binding'))).toEqual(
      ['HTTP-Redirect', 'HTTP-POST', 'SOAP', 'HTTP-Artifact'].map((binding) => `urn:oasis:names:tc:SAML:2.0:bindings:${binding}`),
    );
  });
});
