import { beforeAll, describe, expect, it } from '@jest/globals';
import 'reflect-metadata';
import { createPrivateKey, privateDecrypt, constants, createDecipheriv, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import xmlenc from 'xml-encryption';
import type { Element } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { decryptElement, ENCRYPTION, encryptionCertificateFor } from '../../lambdas/core/saml/encryption.ts';
import { ATTRNAME_FORMAT, parseAttributeRule, releaseAttributes, validateAttributeMap } from '../../lambdas/core/saml/attribute-mapping.ts';
import { AUTHN_CONTEXT, buildResponse, type ResponseInput } from '../../lambdas/core/saml/response.ts';
import type { SigningKey } from '../../lambdas/core/saml/signature.ts';
import { parseSigningChoice, signaturesFor } from '../../lambdas/core/saml/signing-choice.ts';
import { children, NS, parseXml, SamlError, textOf } from '../../lambdas/core/saml/xml.ts';
import type { User } from '../../lambdas/core/directory/user.ts';
import { spCredentials } from '../support/saml-sp.ts';

/** A self-signed P-256 certificate: a key RSA-OAEP cannot encrypt to. */
async function ecCertificate(): Promise<string> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '02',
    name: 'CN=ec sp',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: algorithm,
    keys,
  });
  return certificate.toString('pem');
}

const random = { bytes: (n: number) => new Uint8Array(randomBytes(n)), id: () => randomBytes(16).toString('base64url') };
const XENC = 'http://www.w3.org/2001/04/xmlenc#';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';

const user: User = {
  tenant: 'demo',
  username: 'alice',
  email: 'alice@example.test',
  displayName: 'Alice <Admin> & "Co"',
  status: 'active',
  createdAt: '',
  updatedAt: '',
  version: 1,
};

describe('SAML response options: encryption, signing choice, attribute mapping', () => {
  let idp: SigningKey;
  let sp: { keyPem: string; certPem: string };

  beforeAll(async () => {
    const credentials = await spCredentials('idp');
    idp = { privateKey: createPrivateKey(credentials.keyPem), certificatePem: credentials.certPem };
    sp = await spCredentials('sp-encryption');
  });

  const build = (extra: Partial<ResponseInput> = {}, nameId = 'alias-1') =>
    buildResponse({
      idpEntityId: 'https://idp.example.test/t/demo/saml/metadata',
      spEntityId: 'https://sp.example.test',
      acsUrl: 'https://sp.example.test/acs',
      inResponseTo: '_req1',
      now: Date.now(),
      random,
      key: idp,
      subject: {
        nameId,
        nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
        sessionIndex: 'sid1',
        authnInstant: Date.now(),
        authnContextClassRef: AUTHN_CONTEXT.password,
        attributes: releaseAttributes(user, undefined),
      },
      ...extra,
    });

  const signatureValid = (xml: string, element: Element): boolean => {
    const signature = children(element, NS.dsig, 'Signature')[0];
    if (!signature) return false;
    const verifier = new SignedXml({ publicCert: idp.certificatePem, getCertFromKeyInfo: () => null });
    verifier.loadSignature(signature);
    return verifier.checkSignature(xml);
  };

  describe('assertion encryption', () => {
    it('sends an EncryptedAssertion (AES-256-GCM, RSA-OAEP-MGF1P with SHA-1) that decrypts to the signed assertion', async () => {
      const xml = await build({ encryptFor: sp.certPem });
      const response = parseXml(xml).documentElement!;
      expect(children(response, NS.assertion, 'Assertion')).toHaveLength(0);
      const encrypted = children(response, NS.assertion, 'EncryptedAssertion');
      expect(encrypted).toHaveLength(1);
      expect(signatureValid(xml, response)).toBe(true);
      expect(xml).not.toContain('alice@example.test');

      const data = children(encrypted[0]!, XENC, 'EncryptedData')[0]!;
      expect(children(data, XENC, 'EncryptionMethod')[0]!.getAttribute('Algorithm')).toBe(ENCRYPTION.content);
      const encryptedKey = children(children(data, DSIG, 'KeyInfo')[0]!, XENC, 'EncryptedKey')[0]!;
      const keyMethod = children(encryptedKey, XENC, 'EncryptionMethod')[0]!;
      expect(keyMethod.getAttribute('Algorithm')).toBe(ENCRYPTION.keyTransport);
      expect(children(keyMethod, DSIG, 'DigestMethod')[0]!.getAttribute('Algorithm')).toBe('http://www.w3.org/2000/09/xmldsig#sha1');

      // Decrypt by hand with node:crypto: unwrap the AES key with OAEP (SHA-1), then AES-256-GCM (IV 12, tag 16).
      const wrapped = Buffer.from(textOf(encryptedKey.getElementsByTagNameNS(XENC, 'CipherValue')[0] as unknown as Element), 'base64');
      const aesKey = privateDecrypt({ key: sp.keyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, wrapped);
      expect(aesKey).toHaveLength(32);
      const cipherValue = children(children(data, XENC, 'CipherData')[0]!, XENC, 'CipherValue')[0]!;
      const sealed = Buffer.from(textOf(cipherValue), 'base64');
      const decipher = createDecipheriv('aes-256-gcm', aesKey, sealed.subarray(0, 12));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      const assertionXml = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]).toString('utf8');
      const assertion = parseXml(assertionXml).documentElement!;
      expect(assertion.localName).toBe('Assertion');
      expect(signatureValid(assertionXml, assertion)).toBe(true);
      expect(assertionXml).toContain('alice@example.test');

      // And xml-encryption's own decrypt agrees.
      expect(await decryptElement(xml, sp.keyPem)).toBe(assertionXml);
    });

    it('a flipped ciphertext byte fails GCM authentication', async () => {
      const xml = await build({ encryptFor: sp.certPem });
      const data = parseXml(xml).documentElement!.getElementsByTagNameNS(XENC, 'EncryptedData')[0]!;
      const cipherValue = children(children(data as unknown as Element, XENC, 'CipherData')[0]!, XENC, 'CipherValue')[0]!;
      const bytes = Buffer.from(textOf(cipherValue), 'base64');
      bytes[20] = bytes[20]! ^ 1;
      const tampered = xml.replace(textOf(cipherValue), bytes.toString('base64'));
      await expect(decryptElement(tampered, sp.keyPem)).rejects.toThrow();
    });

    it('decryption (of what SPs encrypt to us) refuses CBC content and RSA 1.5 key transport', async () => {
      const encryptWith = (encryptionAlgorithm: string, keyEncryptionAlgorithm: string) =>
        new Promise<string>((resolve, reject) =>
          xmlenc.encrypt(
            '<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">alias</saml:NameID>',
            {
              rsa_pub: sp.certPem,
              pem: sp.certPem,
              encryptionAlgorithm,
              keyEncryptionAlgorithm,
              disallowEncryptionWithInsecureAlgorithm: false,
              warnInsecureAlgorithm: false,
            } as never,
            (error, result) => (error ? reject(error) : resolve(result)),
          ),
        );
      expect(await decryptElement(await encryptWith(ENCRYPTION.content, ENCRYPTION.keyTransport), sp.keyPem)).toContain('>alias<');
      await expect(decryptElement(await encryptWith('http://www.w3.org/2001/04/xmlenc#aes256-cbc', ENCRYPTION.keyTransport), sp.keyPem)).rejects.toThrow(
        /not secure/,
      );
      await expect(decryptElement(await encryptWith(ENCRYPTION.content, 'http://www.w3.org/2001/04/xmlenc#rsa-1_5'), sp.keyPem)).rejects.toThrow(/not secure/);
    });

    it('another key cannot decrypt', async () => {
      const other = await spCredentials('other');
      await expect(decryptElement(await build({ encryptFor: sp.certPem }), other.keyPem)).rejects.toThrow();
    });

    it("chooses the first RSA certificate of the metadata ones (dates are not the metadata's trust)", async () => {
      const ec = await ecCertificate();
      expect(encryptionCertificateFor([sp.certPem])).toBe(sp.certPem);
      expect(encryptionCertificateFor(['not a certificate', ec, sp.certPem])).toBe(sp.certPem);
      expect(encryptionCertificateFor([ec])).toBeUndefined();
      expect(encryptionCertificateFor([])).toBeUndefined();
    });
  });

  describe('signing choice', () => {
    it.each([
      ['both', true, true],
      ['response', true, false],
      ['assertion', false, true],
    ] as const)('--sign %s signs the response: %s, the assertion: %s', async (choice, response, assertion) => {
      const xml = await build({ sign: signaturesFor({ signing: choice, wantAssertionsSigned: false }) });
      const root = parseXml(xml).documentElement!;
      const assertionElement = children(root, NS.assertion, 'Assertion')[0]!;
      expect(children(root, NS.dsig, 'Signature').length === 1).toBe(response);
      expect(children(assertionElement, NS.dsig, 'Signature').length === 1).toBe(assertion);
      if (response) expect(signatureValid(xml, root)).toBe(true);
      if (assertion) expect(signatureValid(xml, assertionElement)).toBe(true);
    });

    it('WantAssertionsSigned in metadata forces the assertion signature; the default is both', () => {
      expect(signaturesFor({ signing: 'response', wantAssertionsSigned: true })).toEqual({ response: true, assertion: true });
      expect(signaturesFor({ wantAssertionsSigned: false })).toEqual({ response: true, assertion: true });
      expect(() => parseSigningChoice('none')).toThrow(SamlError);
    });
  });

  describe('attribute mapping', () => {
    it('releases the default map (mail, displayName) and escapes markup in values', async () => {
      const xml = await build();
      const document = parseXml(xml);
      const attributes = Array.from(document.getElementsByTagNameNS(NS.assertion, 'Attribute')) as unknown as Element[];
      expect(attributes.map((a) => [a.getAttribute('Name'), a.getAttribute('NameFormat')])).toEqual([
        ['mail', ATTRNAME_FORMAT.basic],
        ['displayName', ATTRNAME_FORMAT.basic],
      ]);
      expect(textOf(children(attributes[1]!, NS.assertion, 'AttributeValue')[0]!)).toBe('Alice <Admin> & "Co"');
      expect(xml).toContain('Alice &lt;Admin&gt; &amp; "Co"');
    });

    it('releases a configured map with NameFormat and FriendlyName, leaving out fields the user lacks', async () => {
      const map = validateAttributeMap([
        parseAttributeRule('urn:oid:0.9.2342.19200300.100.1.3=email;friendly=mail'),
        parseAttributeRule('uid=username'),
        parseAttributeRule('givenName=given_name'),
      ]);
      const released = releaseAttributes(user, map);
      expect(released).toEqual([
        { name: 'urn:oid:0.9.2342.19200300.100.1.3', nameFormat: ATTRNAME_FORMAT.uri, friendlyName: 'mail', values: ['alice@example.test'] },
        { name: 'uid', nameFormat: ATTRNAME_FORMAT.basic, values: ['alice'] },
      ]);
      const groups = releaseAttributes({ ...user, groups: ['staff', 'ops</saml:AttributeValue>'] } as User, [parseAttributeRule('memberOf=groups')]);
      expect(groups[0]!.values).toEqual(['staff', 'ops</saml:AttributeValue>']);
      const xml = await build({
        subject: {
          nameId: 'a',
          nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
          sessionIndex: 's',
          authnInstant: Date.now(),
          authnContextClassRef: AUTHN_CONTEXT.password,
          attributes: [...released, ...groups],
        },
      });
      const memberOf = (Array.from(parseXml(xml).getElementsByTagNameNS(NS.assertion, 'Attribute')) as unknown as Element[]).find(
        (a) => a.getAttribute('Name') === 'memberOf',
      )!;
      expect(children(memberOf, NS.assertion, 'AttributeValue').map(textOf)).toEqual(['staff', 'ops</saml:AttributeValue>']);
      expect(xml).toContain('FriendlyName="mail"');
    });

    it('refuses bad rules and duplicate names', () => {
      expect(() => parseAttributeRule('mail')).toThrow(SamlError);
      expect(() => parseAttributeRule('mail=password')).toThrow(/not one of/);
      expect(() => parseAttributeRule('a b=email')).toThrow(SamlError);
      expect(() => parseAttributeRule('x"y=email')).toThrow(SamlError);
      expect(() => parseAttributeRule('mail=email;colour=red')).toThrow(SamlError);
      expect(() => parseAttributeRule('urn:x=email;format=basic')).toThrow(/NCName/);
      expect(() => validateAttributeMap([parseAttributeRule('mail=email'), parseAttributeRule('mail=name')])).toThrow(/twice/);
    });
  });

  it('a comment-like NameID stays one text value: no comment node, no truncated identity', async () => {
    const nameId = 'alice@example.test<!---->.evil.test';
    const xml = await build({}, nameId);
    expect(xml).not.toContain('<!---->');
    const element = parseXml(xml).getElementsByTagNameNS(NS.assertion, 'NameID')[0] as unknown as Element;
    expect(element.childNodes.length).toBe(1);
    expect(element.firstChild!.nodeType).toBe(3);
    expect(textOf(element)).toBe(nameId);
  });
});
