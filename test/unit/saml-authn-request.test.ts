import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createPrivateKey, randomBytes, sign as cryptoSign } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import {
  validateAuthnRequest,
  MAX_INFLATED_BYTES,
  MAX_RELAY_STATE_BYTES,
  RefusedAuthnRequest,
  type IncomingRequest,
} from '../../lambdas/core/saml/authn-request.ts';
import type { ReplayCache } from '../../lambdas/core/oidc/replay.ts';
import { parseSpMetadata, type ServiceProvider } from '../../lambdas/core/saml/service-providers.ts';
import { signEnveloped, type SigningKey } from '../../lambdas/core/saml/signature.ts';
import { parseXml, SamlError } from '../../lambdas/core/saml/xml.ts';
import { pemBody } from '../../lambdas/core/pki/pem.ts';
import { spCredentials } from '../support/saml-sp.ts';
import { redirectOctets } from '../../lambdas/core/saml/redirect-signature.ts';
import { execFileSync } from 'node:child_process';

const IDP_SSO = 'https://idp.example.test/t/demo/saml/sso';
const SP_ID = 'https://sp.example.test/metadata';
const ACS = 'https://sp.example.test/acs';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';

function spMetadata(certBase64: string, signed = true): string {
  return (
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${SP_ID}">` +
    `<md:SPSSODescriptor AuthnRequestsSigned="${signed}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
    `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
    `<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>` +
    `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${ACS}" index="0" isDefault="true"/>` +
    `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${ACS}2" index="1"/>` +
    `</md:SPSSODescriptor></md:EntityDescriptor>`
  );
}

const authnRequest = (o: { id?: string; destination?: string; instant?: string; issuer?: string; acs?: string; extra?: string } = {}): string =>
  `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${o.id ?? `_${randomBytes(8).toString('hex')}`}" Version="2.0" ` +
  `IssueInstant="${o.instant ?? new Date().toISOString()}" Destination="${o.destination ?? IDP_SSO}" AssertionConsumerServiceURL="${o.acs ?? ACS}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">` +
  `<saml:Issuer>${o.issuer ?? SP_ID}</saml:Issuer>${o.extra ?? ''}<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/></samlp:AuthnRequest>`;

describe('SAML AuthnRequest validation and the attack corpus', () => {
  let spKey: SigningKey;
  let attackerKey: SigningKey;
  let sp: ServiceProvider;
  let unsignedSp: ServiceProvider;
  let seen: Set<string>;
  const replay = {
    firstUse: async (scope: string, id: string) => (seen.has(`${scope}|${id}`) ? false : (seen.add(`${scope}|${id}`), true)),
  } as unknown as ReplayCache;
  const context = (registered: ServiceProvider = sp) => ({
    destination: IDP_SSO,
    now: Date.now(),
    tenant: 'demo',
    replay,
    findSp: async (entityId: string) => (entityId === registered.entityId ? registered : undefined),
  });

  beforeAll(async () => {
    const credentials = await spCredentials('unit SP');
    const attacker = await spCredentials('attacker');
    spKey = { privateKey: createPrivateKey(credentials.keyPem), certificatePem: credentials.certPem };
    attackerKey = { privateKey: createPrivateKey(attacker.keyPem), certificatePem: attacker.certPem };
    sp = parseSpMetadata(spMetadata(credentials.certBase64), new Date().toISOString());
    unsignedSp = parseSpMetadata(spMetadata(credentials.certBase64, false), new Date().toISOString());
  });
  beforeEach(() => {
    seen = new Set();
  });

  const redirect = (xml: string, key: SigningKey | null = spKey, relayState?: string, sigAlg = RSA_SHA256): IncomingRequest => {
    const samlRequest = deflateRawSync(Buffer.from(xml)).toString('base64');
    if (!key) return { binding: 'redirect', samlRequest, ...(relayState !== undefined ? { relayState } : {}) };
    const octets = redirectOctets('SAMLRequest', samlRequest, relayState, sigAlg);
    const signature = cryptoSign(sigAlg.endsWith('sha1') ? 'sha1' : 'sha256', Buffer.from(octets), key.privateKey).toString('base64');
    return { binding: 'redirect', samlRequest, sigAlg, signature, ...(relayState !== undefined ? { relayState } : {}) };
  };
  const signPost = (xml: string, key: SigningKey = spKey): string => signEnveloped(xml, "/*[local-name()='AuthnRequest']", key);
  const post = (xml: string): IncomingRequest => ({ binding: 'post', samlRequest: Buffer.from(xml).toString('base64') });
  const refused = async (incoming: IncomingRequest, pattern: RegExp, registered = sp) => {
    await expect(validateAuthnRequest(incoming, context(registered))).rejects.toThrow(pattern);
    await expect(validateAuthnRequest(incoming, context(registered))).rejects.toBeInstanceOf(SamlError);
  };

  it('parses SP metadata: entityID, ACS endpoints, certificates, flags', () => {
    expect(sp.entityId).toBe(SP_ID);
    expect(sp.acs).toEqual([
      { binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', location: ACS, index: 0, isDefault: true },
      { binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', location: `${ACS}2`, index: 1, isDefault: false },
    ]);
    expect(sp.signingCertificates).toHaveLength(1);
    expect(sp.authnRequestsSigned).toBe(true);
    expect(sp.wantAssertionsSigned).toBe(true);
  });

  it('accepts a signed Redirect request and keeps RelayState', async () => {
    const validated = await validateAuthnRequest(redirect(authnRequest({ acs: `${ACS}2` }), spKey, 'state-1'), context());
    expect(validated).toMatchObject({
      spEntityId: SP_ID,
      acsUrl: `${ACS}2`,
      relayState: 'state-1',
      nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    });
  });

  it('accepts a POST request with an enveloped signature', async () => {
    const validated = await validateAuthnRequest(post(signPost(authnRequest())), context());
    expect(validated.acsUrl).toBe(ACS);
  });

  it('accepts an unsigned request only from an SP whose metadata says it does not sign', async () => {
    await expect(validateAuthnRequest(redirect(authnRequest(), null), context(unsignedSp))).resolves.toMatchObject({ spEntityId: SP_ID });
    await refused(redirect(authnRequest(), null), /not signed/);
  });

  describe('XML parsing', () => {
    it('refuses DOCTYPE with an external entity (XXE)', async () => {
      const xxe = `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${authnRequest({ issuer: '&xxe;' })}`;
      await refused(redirect(xxe, null), /document type declaration/, unsignedSp);
      expect(() => parseXml(xxe)).toThrow(SamlError);
    });

    it('refuses billion laughs', () => {
      const lol = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>`;
      expect(() => parseXml(lol)).toThrow(/document type declaration/);
    });

    it('refuses malformed XML, undeclared entities and oversized documents', () => {
      expect(() => parseXml('<a><b></a>')).toThrow(SamlError);
      expect(() => parseXml('<a>&undefined;</a>')).toThrow(SamlError);
      expect(() => parseXml(`<a>${'x'.repeat(70_000)}</a>`)).toThrow(/exceeds/);
    });

    it('refuses a deflate bomb on the Redirect binding (inflate cap)', async () => {
      const bomb = deflateRawSync(Buffer.alloc(10 * 1024 * 1024, 0x20)).toString('base64');
      expect(bomb.length).toBeLessThan(128 * 1024);
      await refused({ binding: 'redirect', samlRequest: bomb }, new RegExp(`more than ${MAX_INFLATED_BYTES}`), unsignedSp);
    });

    it('refuses a comment inside the Issuer (comment truncation)', async () => {
      const xml = authnRequest({ issuer: `${SP_ID}<!-- -->.evil` });
      await refused(redirect(xml, null), /text only/, unsignedSp);
    });
  });

  describe('signatures', () => {
    it('accepts the signature of an SP whose URL encoder is not ours (Python form encoding, lower-case hex) and still refuses a changed RelayState', async () => {
      const samlRequest = deflateRawSync(Buffer.from(authnRequest())).toString('base64');
      const relayState = "back to /app?x=(1)&y='z'~*!";
      // The octets as Python's urllib.parse.urlencode writes them (quote_plus: space as +, ()'*! encoded), as pysaml2 and python3-saml sign.
      const script =
        'import sys, urllib.parse; print(urllib.parse.urlencode([("SAMLRequest", sys.argv[1]), ("RelayState", sys.argv[2]), ("SigAlg", sys.argv[3])]), end="")';
      const pythonOctets = execFileSync('python3', ['-c', script, samlRequest, relayState, RSA_SHA256], { encoding: 'utf8' });
      expect(pythonOctets).toContain('RelayState=back+to+%2Fapp%3Fx%3D%281%29');
      for (const octets of [pythonOctets, pythonOctets.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())]) {
        const signature = cryptoSign('sha256', Buffer.from(octets), spKey.privateKey).toString('base64');
        const incoming: IncomingRequest = { binding: 'redirect', samlRequest, relayState, sigAlg: RSA_SHA256, signature };
        expect((await validateAuthnRequest(incoming, context())).relayState).toBe(relayState);
        seen = new Set();
        await refused({ ...incoming, relayState: `${relayState} ` }, /not valid/);
      }
    });

    it('refuses a Redirect request whose RelayState was changed after signing', async () => {
      const incoming = redirect(authnRequest(), spKey, 'good');
      await refused({ ...incoming, relayState: 'evil' }, /not valid/);
    });

    it('refuses a Redirect request signed by another key', async () => {
      await refused(redirect(authnRequest(), attackerKey), /not valid/);
    });

    it('refuses SHA-1 signatures', async () => {
      await refused(redirect(authnRequest(), spKey, undefined, 'http://www.w3.org/2000/09/xmldsig#rsa-sha1'), /algorithm/);
    });

    it('refuses a POST request whose signature was removed', async () => {
      const signed = signPost(authnRequest());
      const stripped = signed.replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, '');
      await refused(post(stripped), /not signed/);
    });

    it('refuses a POST request changed after signing', async () => {
      const signed = signPost(authnRequest());
      await refused(post(signed.replace(`AssertionConsumerServiceURL="${ACS}"`, `AssertionConsumerServiceURL="${ACS}2"`)), /not valid/);
    });

    it('refuses KeyInfo certificate swap: attacker-signed, attacker certificate in KeyInfo', async () => {
      const forged = signPost(authnRequest(), attackerKey);
      expect(forged).toContain(pemBody(attackerKey.certificatePem));
      await refused(post(forged), /not valid with the service provider's metadata key/);
    });

    it('XSW: evil root wrapping the signed request, signature referencing the inner element', async () => {
      const id = '_signed1';
      const signed = signPost(authnRequest({ id }));
      const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(signed)![0];
      const inner = signed.replace(signature, '');
      const evil = authnRequest({ id: '_evil', acs: `${ACS}2` }).replace(
        '<samlp:NameIDPolicy',
        `${signature}<samlp:Extensions><x:Wrap xmlns:x="urn:example:evil">${inner}</x:Wrap></samlp:Extensions><samlp:NameIDPolicy`,
      );
      await refused(post(evil), /does not cover the message/);
      // Without a foreign wrapper the schema check refuses it first (Extensions holds only other namespaces).
      await refused(post(evil.replace('<x:Wrap xmlns:x="urn:example:evil">', '').replace('</x:Wrap>', '')), /schema check/);
    });

    it('XSW: evil root with the same ID as the signed request wrapped inside it', async () => {
      const id = '_signed2';
      const signed = signPost(authnRequest({ id }));
      const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(signed)![0];
      const evil = authnRequest({ id, acs: `${ACS}2` }).replace(
        '<samlp:NameIDPolicy',
        `${signature}<samlp:Extensions><x:Wrap xmlns:x="urn:example:evil">${signed.replace(signature, '')}</x:Wrap></samlp:Extensions><samlp:NameIDPolicy`,
      );
      await refused(post(evil), /more than once/);
    });

    it('XSW: the whole signed request (with its signature) wrapped inside an unsigned evil root', async () => {
      const signed = signPost(authnRequest({ id: '_signed3' }));
      const evil = authnRequest({ id: '_evil3', acs: `${ACS}2` }).replace(
        '<samlp:NameIDPolicy',
        `<samlp:Extensions><x:Wrap xmlns:x="urn:example:evil">${signed}</x:Wrap></samlp:Extensions><samlp:NameIDPolicy`,
      );
      await refused(post(evil), /not signed/);
    });

    it('refuses two signatures on the request', async () => {
      const signed = signPost(authnRequest());
      const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(signed)![0];
      await refused(post(signed.replace(signature, signature + signature)), /more than one [sS]ignature|Signature is not allowed/);
    });
  });

  describe('protocol checks', () => {
    it('refuses a replayed request ID', async () => {
      const incoming = redirect(authnRequest({ id: '_once' }));
      await validateAuthnRequest(incoming, context());
      await expect(validateAuthnRequest(incoming, context())).rejects.toThrow(/already used/);
    });

    it('refuses a wrong Destination', async () => {
      await refused(redirect(authnRequest({ destination: 'https://other.example.test/sso' })), /Destination/);
    });

    it('refuses an expired (and a future) IssueInstant', async () => {
      await refused(redirect(authnRequest({ instant: new Date(Date.now() - 10 * 60_000).toISOString() })), /IssueInstant/);
      await refused(redirect(authnRequest({ instant: new Date(Date.now() + 10 * 60_000).toISOString() })), /IssueInstant/);
    });

    it('refuses an unregistered Issuer', async () => {
      await refused(redirect(authnRequest({ issuer: 'https://unknown.example.test' })), /not registered/);
    });

    it('refuses an ACS URL that is not in the metadata', async () => {
      await refused(redirect(authnRequest({ acs: 'https://attacker.example.test/acs' })), /not in the service provider's metadata/);
    });

    it('accepts a RelayState up to 2048 bytes (a return URL, as python3-saml sends), on both bindings', async () => {
      const returnUrl = `https://sp.example.test/app/deep/link?${'q=1&'.repeat(600)}`.slice(0, MAX_RELAY_STATE_BYTES);
      expect(Buffer.byteLength(returnUrl)).toBe(2048);
      expect((await validateAuthnRequest(redirect(authnRequest(), spKey, returnUrl), context())).relayState).toBe(returnUrl);
      const signed = { ...post(signPost(authnRequest())), relayState: returnUrl };
      expect((await validateAuthnRequest(signed, context())).relayState).toBe(returnUrl);
    });

    it('refuses a RelayState over 2048 UTF-8 bytes once the request is verified: a RefusedAuthnRequest carrying the request, not the RelayState', async () => {
      const tooLong = 'é'.repeat(1025); // 2050 bytes, 1025 characters
      const error = await validateAuthnRequest(redirect(authnRequest(), spKey, tooLong), context()).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RefusedAuthnRequest);
      expect((error as RefusedAuthnRequest).message).toBe('RelayState is 2050 bytes; this identity provider accepts at most 2048');
      expect((error as RefusedAuthnRequest).request).toMatchObject({ spEntityId: SP_ID, acsUrl: ACS });
      expect((error as RefusedAuthnRequest).request.relayState).toBeUndefined();
      // An unverified request with a long RelayState is still just refused (no response to anyone).
      const forged = await validateAuthnRequest(redirect(authnRequest(), attackerKey, tooLong), context()).catch((caught: unknown) => caught);
      expect(forged).toBeInstanceOf(SamlError);
      expect(forged).not.toBeInstanceOf(RefusedAuthnRequest);
    });

    it('refuses something that is not an AuthnRequest', async () => {
      await refused(redirect(authnRequest().replace(/AuthnRequest/g, 'LogoutRequest')), /not an AuthnRequest/);
    });
  });
});
