import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, createPrivateKey, createPublicKey, randomBytes, verify } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { chooseAcs } from '../../lambdas/core/saml/acs.ts';
import { decodeArtifact, encodeArtifact } from '../../lambdas/core/saml/artifact.ts';
import type { ReplayCache } from '../../lambdas/core/oidc/replay.ts';
import { verifyInbound, type InboundBinding } from '../../lambdas/core/saml/inbound.ts';
import { manageNameId, nameIdChange } from '../../lambdas/core/saml/name-id-management.ts';
import { redirectUrl } from '../../lambdas/core/saml/outbound.ts';
import { parseSpMetadata, type ServiceProvider } from '../../lambdas/core/saml/service-providers.ts';
import { signEnveloped, type SigningKey } from '../../lambdas/core/saml/signature.ts';
import { SoapFault, soapBodyMessage, soapEnvelope, soapFaultEnvelope, soapFaultStatus, soapVersionOf } from '../../lambdas/core/saml/soap.ts';
import { parseXml, SamlError } from '../../lambdas/core/saml/xml.ts';
import type { Federations } from '../../lambdas/core/saml/federations.ts';
import { spCredentials } from '../support/saml-sp.ts';

const SP_ID = 'https://sp.example.test/metadata';
const IDP = 'https://idp.example.test/t/demo/saml/metadata';
const NAMEID_URL = 'https://idp.example.test/t/demo/saml/nameid';
const P = 'urn:oasis:names:tc:SAML:2.0:protocol';
const A = 'urn:oasis:names:tc:SAML:2.0:assertion';
const SOAP = 'http://schemas.xmlsoap.org/soap/envelope/';

const spMetadata = (cert: string) =>
  `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${SP_ID}">` +
  `<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
  `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
  `<md:ArtifactResolutionService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://sp.example.test/ars" index="3"/>` +
  `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example.test/slo" ResponseLocation="https://sp.example.test/slo-done"/>` +
  `<md:ManageNameIDService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://sp.example.test/mnid"/>` +
  `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.test/acs" index="0"/>` +
  `</md:SPSSODescriptor></md:EntityDescriptor>`;

const manageRequest = (o: { id?: string; destination?: string | null; body?: string; instant?: string } = {}) =>
  `<samlp:ManageNameIDRequest xmlns:samlp="${P}" xmlns:saml="${A}" ID="${o.id ?? `_${randomBytes(8).toString('hex')}`}" Version="2.0" IssueInstant="${o.instant ?? new Date().toISOString()}"` +
  `${o.destination === null ? '' : ` Destination="${o.destination ?? NAMEID_URL}"`}><saml:Issuer>${SP_ID}</saml:Issuer>` +
  `${o.body ?? '<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">alias</saml:NameID><samlp:Terminate/>'}</samlp:ManageNameIDRequest>`;

describe('SOAP binding envelopes', () => {
  const body = `<samlp:ArtifactResolve xmlns:samlp="${P}" ID="_a" Version="2.0"/>`;

  it('returns the one Body element as a standalone document, namespaces carried over', () => {
    const message = soapBodyMessage(
      `<s:Envelope xmlns:s="${SOAP}" xmlns:samlp="${P}"><s:Header/><s:Body><samlp:ArtifactResolve ID="_a" Version="2.0"/></s:Body></s:Envelope>`,
    );
    expect(parseXml(message).documentElement!.namespaceURI).toBe(P);
    expect(soapBodyMessage(soapEnvelope(body))).toBe(body);
  });

  it.each([
    ['a DTD (XXE)', `<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>${soapEnvelope(body)}`, 'Client'],
    ['malformed XML', '<s:Envelope', 'Client'],
    ['a SOAP 1.2 envelope', `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>${body}</s:Body></s:Envelope>`, 'VersionMismatch'],
    ['no envelope', body, 'Client'],
    ['two Body elements', `<s:Envelope xmlns:s="${SOAP}"><s:Body>${body}</s:Body><s:Body/></s:Envelope>`, 'Client'],
    ['two messages in the Body', soapEnvelope(body + body), 'Client'],
    ['an empty Body', soapEnvelope(''), 'Client'],
    ['text beside the message', soapEnvelope(`x${body}`), 'Client'],
    [
      'a header it must understand',
      `<s:Envelope xmlns:s="${SOAP}"><s:Header><h xmlns="urn:h" s:mustUnderstand="1"/></s:Header><s:Body>${body}</s:Body></s:Envelope>`,
      'MustUnderstand',
    ],
    ['an oversized envelope', soapEnvelope(`<x>${'y'.repeat(70_000)}</x>`), 'Client'],
  ])('refuses %s with a SOAP Fault', (_name, text, code) => {
    let fault: unknown;
    try {
      soapBodyMessage(text);
    } catch (error) {
      fault = error;
    }
    expect(fault).toBeInstanceOf(SoapFault);
    expect((fault as SoapFault).code).toBe(code);
    expect(soapFaultEnvelope(fault as SoapFault)).toContain(`<faultcode>SOAP-ENV:${code}</faultcode>`);
  });

  it('escapes the fault string', () => {
    expect(soapFaultEnvelope(new SoapFault('Client', '<evil>&'))).toContain('&lt;evil&gt;&amp;');
  });

  describe('SOAP 1.2 (application/soap+xml)', () => {
    const SOAP12 = 'http://www.w3.org/2003/05/soap-envelope';
    it('takes the version from the media type only: text/xml is 1.1, application/soap+xml 1.2, nothing else is SOAP', () => {
      expect(soapVersionOf('text/xml')).toBe('1.1');
      expect(soapVersionOf('application/soap+xml')).toBe('1.2');
      for (const other of ['application/xml', 'text/plain', '', 'application/x-www-form-urlencoded']) expect(soapVersionOf(other)).toBeUndefined();
    });

    it('reads a 1.2 envelope as 1.2 (mustUnderstand in its namespace), and refuses a 1.1 one there with VersionMismatch', () => {
      expect(soapBodyMessage(soapEnvelope(body, '1.2'), undefined, '1.2')).toBe(body);
      expect(soapEnvelope(body, '1.2')).toContain(`xmlns:SOAP-ENV="${SOAP12}"`);
      expect(() =>
        soapBodyMessage(
          `<e:Envelope xmlns:e="${SOAP12}"><e:Header><h xmlns="urn:h" e:mustUnderstand="true"/></e:Header><e:Body>${body}</e:Body></e:Envelope>`,
          undefined,
          '1.2',
        ),
      ).toThrow(/not understood/);
      let fault: unknown;
      try {
        soapBodyMessage(soapEnvelope(body), undefined, '1.2');
      } catch (error) {
        fault = error;
      }
      expect((fault as SoapFault).code).toBe('VersionMismatch');
    });

    it('writes 1.2 Faults with Code/Reason and the 1.2 names, Sender faults as HTTP 400 and the rest 500; 1.1 Faults are always 500', () => {
      const sender = soapFaultEnvelope(new SoapFault('Client', 'bad <input>'), '1.2');
      expect(sender).toContain(
        `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP12}"><SOAP-ENV:Body><SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value></SOAP-ENV:Code>`,
      );
      expect(sender).toContain('<SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">bad &lt;input&gt;</SOAP-ENV:Text></SOAP-ENV:Reason>');
      expect(parseXml(sender).documentElement!.namespaceURI).toBe(SOAP12);
      expect(soapFaultEnvelope(new SoapFault('Server', 'x'), '1.2')).toContain('SOAP-ENV:Receiver');
      expect(soapFaultStatus(new SoapFault('Client', 'x'), '1.2')).toBe(400);
      expect(soapFaultStatus(new SoapFault('VersionMismatch', 'x'), '1.2')).toBe(500);
      expect(soapFaultStatus(new SoapFault('MustUnderstand', 'x'), '1.2')).toBe(500);
      expect(soapFaultStatus(new SoapFault('Client', 'x'), '1.1')).toBe(500);
    });
  });
});

describe('SAML artifacts (type 0x0004)', () => {
  it('round-trips: 44 bytes, SourceID = SHA-1 of the issuer entityID, the endpoint index', () => {
    const handle = randomBytes(20);
    const artifact = encodeArtifact(IDP, 7, handle);
    const decoded = decodeArtifact(artifact);
    expect(decoded.endpointIndex).toBe(7);
    expect(decoded.sourceId).toBe(createHash('sha1').update(IDP).digest('hex'));
    expect(decoded.messageHandle.equals(handle)).toBe(true);
  });

  it.each([
    ['another type code', Buffer.concat([Buffer.from([0, 1, 0, 0]), randomBytes(40)]).toString('base64'), /type code/],
    ['a short artifact', Buffer.from([0, 4, 0, 0]).toString('base64'), /length/],
    ['a long artifact', Buffer.concat([Buffer.from([0, 4, 0, 0]), randomBytes(41)]).toString('base64'), /length/],
    ['not base64', 'AAQ!AAAA', /base64/],
    ['a huge value', 'A'.repeat(1000), /base64/],
  ])('refuses %s', (_name, value, pattern) => {
    expect(() => decodeArtifact(value)).toThrow(pattern);
  });
});

describe('Inbound protocol messages (ManageNameIDRequest as the example)', () => {
  let spKey: SigningKey;
  let attacker: SigningKey;
  let sp: ServiceProvider;
  let seen: Set<string>;
  const replay = {
    firstUse: async (scope: string, id: string) => (seen.has(`${scope}|${id}`) ? false : (seen.add(`${scope}|${id}`), true)),
  } as unknown as ReplayCache;
  const context = {
    tenant: 'demo',
    destination: NAMEID_URL,
    now: Date.now(),
    findSp: async (id: string) => (id === SP_ID ? sp : undefined),
    replay,
    expected: ['ManageNameIDRequest'],
  };
  const sign = (xml: string, key = spKey) => signEnveloped(xml, "/*[local-name()='ManageNameIDRequest']", key);
  const refused = async (binding: InboundBinding, pattern: RegExp) => {
    await expect(verifyInbound(binding, { ...context, now: Date.now() })).rejects.toThrow(pattern);
  };

  beforeAll(async () => {
    const credentials = await spCredentials('unit SP');
    const other = await spCredentials('attacker');
    spKey = { privateKey: createPrivateKey(credentials.keyPem), certificatePem: credentials.certPem };
    attacker = { privateKey: createPrivateKey(other.keyPem), certificatePem: other.certPem };
    sp = parseSpMetadata(spMetadata(credentials.certBase64), new Date().toISOString());
  });
  beforeEach(() => {
    seen = new Set();
  });

  it('reads the SP endpoints from metadata: ARS with its index, SLO with ResponseLocation, ManageNameID', () => {
    expect(sp.artifactResolution).toEqual([{ binding: 'urn:oasis:names:tc:SAML:2.0:bindings:SOAP', location: 'https://sp.example.test/ars', index: 3 }]);
    expect(sp.singleLogout).toEqual([
      {
        binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
        location: 'https://sp.example.test/slo',
        responseLocation: 'https://sp.example.test/slo-done',
      },
    ]);
    expect(sp.manageNameId?.[0]?.location).toBe('https://sp.example.test/mnid');
    expect(() => parseSpMetadata(spMetadata('AAAA').replace('index="3"', ''), '')).toThrow(SamlError);
    expect(() => parseSpMetadata(spMetadata('AAAA').replace('https://sp.example.test/mnid', 'javascript:alert(1)'), '')).toThrow(/http/);
  });

  it('accepts a signed request over SOAP and returns the signed element', async () => {
    const message = await verifyInbound({ kind: 'soap', xml: sign(manageRequest()) }, context);
    expect(message.name).toBe('ManageNameIDRequest');
    expect(message.sp.entityId).toBe(SP_ID);
  });

  it('refuses unsigned, foreign-key (KeyInfo swap) and tampered requests', async () => {
    await refused({ kind: 'soap', xml: manageRequest() }, /not signed/);
    await refused({ kind: 'soap', xml: sign(manageRequest(), attacker) }, /not valid with the service provider's metadata key/);
    await refused({ kind: 'soap', xml: sign(manageRequest()).replace('>alias<', '>other<') }, /not valid/);
  });

  it('XSW: a signed request inside the Extensions of an evil one, or the evil one carrying the signature', async () => {
    const signed = sign(manageRequest({ id: '_inner' }));
    const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(signed)![0];
    const outer = manageRequest({ id: '_evil' }).replace(
      '<saml:NameID',
      `<samlp:Extensions><x:Wrap xmlns:x="urn:example:evil">${signed}</x:Wrap></samlp:Extensions><saml:NameID`,
    );
    await refused({ kind: 'soap', xml: outer }, /not signed/);
    const carrying = manageRequest({ id: '_evil2' }).replace(
      '<saml:NameID',
      `${signature}<samlp:Extensions><x:Wrap xmlns:x="urn:example:evil">${signed.replace(signature, '')}</x:Wrap></samlp:Extensions><saml:NameID`,
    );
    await refused({ kind: 'soap', xml: carrying }, /does not cover the message/);
  });

  it('checks Destination (required on the front channel), IssueInstant, replay and the message type', async () => {
    await refused({ kind: 'soap', xml: sign(manageRequest({ destination: 'https://elsewhere.example.test/' })) }, /Destination/);
    await expect(verifyInbound({ kind: 'soap', xml: sign(manageRequest({ destination: null })) }, context)).resolves.toBeDefined();
    await refused({ kind: 'post', value: Buffer.from(sign(manageRequest({ destination: null }))).toString('base64') }, /Destination/);
    await refused({ kind: 'soap', xml: sign(manageRequest({ instant: new Date(Date.now() - 3_600_000).toISOString() })) }, /IssueInstant/);
    const once = sign(manageRequest({ id: '_once' }));
    await verifyInbound({ kind: 'soap', xml: once }, context);
    await refused({ kind: 'soap', xml: once }, /already used/);
    await refused({ kind: 'soap', xml: sign(manageRequest()).replace(/ManageNameIDRequest/g, 'LogoutRequest') }, /not a ManageNameIDRequest/);
  });

  it('accepts an unsigned message carried by a verified ArtifactResponse only from that SP', async () => {
    await expect(verifyInbound({ kind: 'artifact', xml: manageRequest(), sp }, context)).resolves.toBeDefined();
    const foreign = { ...sp, entityId: 'https://other.example.test' };
    await refused({ kind: 'artifact', xml: manageRequest(), sp: foreign }, /not registered/);
  });

  it('NewID and Terminate: exactly one; NewID at most 256 characters; unknown or non-persistent identifiers are UnknownPrincipal', async () => {
    const element = (body: string) => parseXml(manageRequest({ body })).documentElement!;
    expect(nameIdChange(element('<saml:NameID>a</saml:NameID><samlp:NewID>x</samlp:NewID>'))).toEqual({ kind: 'new-id', newId: 'x' });
    expect(() => nameIdChange(element('<saml:NameID>a</saml:NameID><samlp:NewID>x</samlp:NewID><samlp:Terminate/>'))).toThrow(/exactly one/);
    expect(() => nameIdChange(element(`<saml:NameID>a</saml:NameID><samlp:NewID>${'x'.repeat(257)}</samlp:NewID>`))).toThrow(/256/);
    const federations = { findByAlias: async () => undefined } as unknown as Federations;
    const message = await verifyInbound({ kind: 'soap', xml: sign(manageRequest()) }, context);
    const status = await manageNameId(message, { tenant: 'demo', idpEntityId: IDP, now: Date.now(), federations });
    expect(status.subCode).toBe('urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal');
    const transient = await verifyInbound(
      {
        kind: 'soap',
        xml: sign(manageRequest({ body: '<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">t</saml:NameID><samlp:Terminate/>' })),
      },
      context,
    );
    expect((await manageNameId(transient, { tenant: 'demo', idpEntityId: IDP, now: Date.now(), federations })).message).toMatch(/persistent/);
    const qualified = await verifyInbound(
      {
        kind: 'soap',
        xml: sign(
          manageRequest({
            body: `<saml:NameID SPNameQualifier="https://other.example.test" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">a</saml:NameID><samlp:Terminate/>`,
          }),
        ),
      },
      context,
    );
    expect((await manageNameId(qualified, { tenant: 'demo', idpEntityId: IDP, now: Date.now(), federations })).message).toMatch(/another service provider/);
  });
});

describe('HTTP-Redirect messages we send', () => {
  it('deflates the message and signs SAMLResponse, RelayState and SigAlg with RSA-SHA256', async () => {
    const credentials = await spCredentials('idp');
    const key = { privateKey: createPrivateKey(credentials.keyPem), certificatePem: credentials.certPem };
    const url = redirectUrl(
      'https://sp.example.test/slo?x=1',
      'SAMLResponse',
      '<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>',
      'r s',
      key,
    );
    const parsed = new URL(url);
    expect(parsed.searchParams.get('x')).toBe('1');
    expect(parsed.searchParams.get('RelayState')).toBe('r s');
    expect(inflateRawSync(Buffer.from(parsed.searchParams.get('SAMLResponse')!, 'base64')).toString()).toContain('LogoutResponse');
    const signedPart = url.slice(url.indexOf('SAMLResponse='), url.indexOf('&Signature='));
    expect(verify('sha256', Buffer.from(signedPart), createPublicKey(credentials.certPem), Buffer.from(parsed.searchParams.get('Signature')!, 'base64'))).toBe(
      true,
    );
  });
});

describe('Choosing the ACS and the response binding', () => {
  const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
  const ARTIFACT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact';
  const sp = {
    acs: [
      { binding: POST, location: 'https://sp.example.test/post', index: 0, isDefault: false },
      { binding: ARTIFACT, location: 'https://sp.example.test/art', index: 1, isDefault: true },
      { binding: 'urn:oasis:names:tc:SAML:2.0:bindings:PAOS', location: 'https://sp.example.test/paos', index: 2, isDefault: false },
    ],
  } as unknown as ServiceProvider;

  it('by index (its binding decides), by URL with ProtocolBinding, or the default of the requested binding (HTTP-POST unless asked)', () => {
    expect(chooseAcs(sp, { url: null, index: '1', protocolBinding: null }).binding).toBe(ARTIFACT);
    expect(chooseAcs(sp, { url: 'https://sp.example.test/art', index: null, protocolBinding: ARTIFACT }).location).toBe('https://sp.example.test/art');
    expect(chooseAcs(sp, { url: null, index: null, protocolBinding: null }).binding).toBe(POST);
    expect(chooseAcs(sp, { url: null, index: null, protocolBinding: ARTIFACT }).binding).toBe(ARTIFACT);
  });

  it('refuses an ACS not in the metadata, a URL under another binding, and any binding but POST and Artifact', () => {
    expect(() => chooseAcs(sp, { url: 'https://attacker.example.test/acs', index: null, protocolBinding: null })).toThrow(
      /not in the service provider's metadata/,
    );
    expect(() => chooseAcs(sp, { url: 'https://sp.example.test/art', index: null, protocolBinding: null })).toThrow(/not in the service provider's metadata/);
    expect(() => chooseAcs(sp, { url: null, index: '9', protocolBinding: null })).toThrow(/Index is not/);
    expect(() => chooseAcs(sp, { url: null, index: '2', protocolBinding: null })).toThrow(/not supported/);
    expect(() => chooseAcs(sp, { url: null, index: null, protocolBinding: 'urn:oasis:names:tc:SAML:2.0:bindings:PAOS' })).toThrow(/not supported/);
  });
});
