import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createSaml } from '../../lambdas/core/saml/provider.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { createOidc } from '../../lambdas/core/oidc/provider.ts';
import type { LocalStack } from '../../local/stack.ts';
import { testClock } from '../support/backends.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';
import { ArtifactSp, BINDINGS, envelope, first, NS, parse, PERSISTENT, postSoap, soapBody, verifyWith } from '../support/saml-artifact-sp.ts';
import { haveTool, xmllintValidate } from '../support/saml-sp.ts';
import { createPublicKey } from 'node:crypto';
import { promisify } from 'node:util';
import xmlenc from 'xml-encryption';
import { XMLSerializer, type Element } from '@xmldom/xmldom';

const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

/**
 * HTTP-Artifact and SOAP end to end: the local stack (as saml-sp.test.ts starts it) against a test SP
 * built on xml-crypto that serves its own ArtifactResolutionService on loopback. Both directions of the
 * artifact binding, and the security cases around them.
 */
describe('SAML HTTP-Artifact and SOAP with a test SP (embedded backend)', () => {
  let stack: LocalStack;
  let issuer: string;
  let endpoints: { sso: string; ars: string; slo: string; nameId: string; entityId: string };
  let metadataXml: string;
  let sp: ArtifactSp;
  let other: ArtifactSp;
  let saml: ReturnType<typeof createSaml>;
  const clock = testClock();

  beforeAll(async () => {
    stack = await startStackOn('embedded', { clock });
    issuer = `${stack.url}/t/demo`;
    endpoints = {
      sso: `${issuer}/saml/sso`,
      ars: `${issuer}/saml/artifact`,
      slo: `${issuer}/saml/slo`,
      nameId: `${issuer}/saml/nameid`,
      entityId: `${issuer}/saml/metadata`,
    };
    metadataXml = await (await fetch(endpoints.entityId)).text();
    const idpCertPem = `-----BEGIN CERTIFICATE-----\n${/<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/.exec(metadataXml)![1]!}\n-----END CERTIFICATE-----\n`;
    const runtime = stack.runtime;
    saml = createSaml(createOidc({ directory: runtime.directory, state: runtime.state, clock: runtime.clock, random: runtime.random }), runtime.directory, {
      outbound: runtime.outbound,
    });
    sp = await ArtifactSp.start('https://artifact-sp.example.test/metadata');
    other = await ArtifactSp.start('https://other-sp.example.test/metadata');
    for (const each of [sp, other]) {
      each.idpCertPem = idpCertPem;
      await saml.serviceProviders.register('demo', each.metadata());
    }
  });
  afterAll(async () => {
    await sp?.close();
    await other?.close();
    await stack?.close();
  });

  /** Browser through the portal to the point where the IdP sends it to the SP's ACS; returns that URL. */
  async function signInTo(browser: HttpBrowser, url: string, stopAt: string, username = 'alice'): Promise<URL> {
    let { response, url: reached } = await browser.follow(url, stopAt);
    if (!reached.startsWith(stopAt)) {
      const text = await response.text();
      expect(response.status).toBe(200);
      const login = formOf(text);
      expect(login.action).toBe(`${issuer}/portal/login`);
      ({ response, url: reached } = await browser.follow(login.action, stopAt, { form: { ...login.fields, username, password: DEMO_PASSWORD } }));
    }
    expect(reached.startsWith(stopAt)).toBe(true);
    return new URL(reached);
  }

  /** SP-initiated login asking for the Response by artifact; returns the SAMLart the ACS received. */
  async function loginByArtifact(browser = new HttpBrowser(), relayState = 'rs-art', allowCreate = true): Promise<string> {
    const url = sp.redirectUrl(endpoints.sso, 'SAMLRequest', sp.authnRequest(endpoints.sso, { allowCreate }), relayState);
    const acs = await signInTo(browser, url, sp.acsArtifact);
    expect(acs.searchParams.get('RelayState')).toBe(relayState);
    expect(acs.searchParams.has('SAMLResponse')).toBe(false);
    return acs.searchParams.get('SAMLart')!;
  }

  it('lists every protocol endpoint and binding in schema-valid metadata', () => {
    expect(metadataXml).toContain(`<md:ArtifactResolutionService Binding="${BINDINGS.soap}" Location="${endpoints.ars}" index="0" isDefault="true"/>`);
    for (const binding of [BINDINGS.redirect, BINDINGS.post, BINDINGS.soap, BINDINGS.artifact])
      expect(metadataXml).toContain(`<md:SingleLogoutService Binding="${binding}" Location="${endpoints.slo}"/>`);
    for (const binding of [BINDINGS.redirect, BINDINGS.post, BINDINGS.soap, BINDINGS.artifact])
      expect(metadataXml).toContain(`<md:ManageNameIDService Binding="${binding}" Location="${endpoints.nameId}"/>`);
    expect(metadataXml).toContain(`<md:SingleSignOnService Binding="${BINDINGS.artifact}" Location="${endpoints.sso}"/>`);
    if (haveTool('xmllint')) {
      const result = xmllintValidate(metadataXml, 'saml-schema-metadata-2.0.xsd');
      expect(result.output).toContain('validates');
    }
  });

  describe('IdP → SP: the Response by artifact', () => {
    it('redirects to the artifact ACS; the SP resolves it once over SOAP into a signed ArtifactResponse carrying the signed Response', async () => {
      const samlArt = await loginByArtifact();
      const bytes = Buffer.from(samlArt, 'base64');
      expect(bytes.length).toBe(44);
      expect(bytes.readUInt16BE(0)).toBe(4);
      expect(bytes.readUInt16BE(2)).toBe(0);
      const { createHash } = await import('node:crypto');
      expect(bytes.subarray(4, 24).equals(createHash('sha1').update(endpoints.entityId).digest())).toBe(true);

      // Stored under the artifact's hash, the Response sealed under a key only the artifact gives.
      const stored = await stack.runtime.state.get({ PK: `SAMLART#${createHash('sha256').update(bytes).digest('base64url')}`, SK: 'SAMLART' });
      expect(stored?.['spEntityId']).toBe(sp.entityId);
      expect(JSON.stringify(stored)).not.toMatch(/Assertion|NameID|Response/);
      expect(JSON.stringify(stored)).not.toContain(samlArt);

      const resolved = await sp.resolve(endpoints.ars, samlArt);
      expect(resolved.status).toBe(200);
      expect(resolved.signatureValid).toBe(true);
      expect(resolved.statusCode).toBe(SUCCESS);
      expect(resolved.inResponseTo).toBe(resolved.requestId);
      expect(resolved.message?.localName).toBe('Response');
      const response = resolved.message!;
      expect(response.getAttribute('Destination')).toBe(sp.acsArtifact);
      // The Response inside is signed by the IdP too (verified as a document of its own).
      const responseDoc = parse(resolved.messageXml!).documentElement!;
      expect(verifyWith(resolved.messageXml!, responseDoc, sp.idpCertPem)).toBe(true);
      expect(first(responseDoc, NS.assertion, 'NameID')?.getAttribute('Format')).toBe(PERSISTENT);
      if (haveTool('xmllint')) {
        expect(xmllintValidate(resolved.responseXml, 'saml-schema-protocol-2.0.xsd').output).toContain('validates');
        expect(xmllintValidate(resolved.text, 'soap-envelope-1.1.xsd').output).toContain('validates');
      }

      // Single use: a second resolution gets a signed ArtifactResponse with no message.
      const again = await sp.resolve(endpoints.ars, samlArt);
      expect(again.signatureValid).toBe(true);
      expect(again.message).toBeUndefined();
    });

    it('never hands the Response to another SP, and the foreign attempt does not burn the artifact', async () => {
      const samlArt = await loginByArtifact();
      const foreign = await other.resolve(endpoints.ars, samlArt);
      expect(foreign.signatureValid).toBe(true);
      expect(foreign.message).toBeUndefined();
      const legit = await sp.resolve(endpoints.ars, samlArt);
      expect(legit.message?.localName).toBe('Response');
    });

    it('refuses an ArtifactResolve that is unsigned, signed by a key not in the metadata, or KeyInfo-swapped; the artifact survives', async () => {
      const samlArt = await loginByArtifact();
      const unsigned = await sp.resolve(endpoints.ars, samlArt, { sign: false });
      expect(unsigned.signatureValid).toBe(true);
      expect(unsigned.message).toBeUndefined();
      expect(unsigned.statusCode).toBe('urn:oasis:names:tc:SAML:2.0:status:Requester');
      expect(unsigned.inResponseTo).toBeUndefined();
      // Signed by another key whose certificate is in KeyInfo (a KeyInfo swap): metadata keys only.
      const swapped = await sp.resolve(endpoints.ars, samlArt, sp.otherKey());
      expect(swapped.message).toBeUndefined();
      expect(swapped.text).toContain('not valid with the service provider');
      const legit = await sp.resolve(endpoints.ars, samlArt);
      expect(legit.message?.localName).toBe('Response');
    });

    it('hands the Response out exactly once when ten resolutions race', async () => {
      const samlArt = await loginByArtifact();
      const results = await Promise.all(Array.from({ length: 10 }, () => sp.resolve(endpoints.ars, samlArt)));
      expect(results.every((result) => result.status === 200 && result.signatureValid)).toBe(true);
      expect(results.filter((result) => result.message?.localName === 'Response')).toHaveLength(1);
    });

    it('runs the access check again at resolution: a user disabled after the Response was issued gets the SP no message', async () => {
      const services = directoryServices(stack.runtime);
      await services.users.add('demo', { username: 'erin', password: DEMO_PASSWORD });
      const url = sp.redirectUrl(endpoints.sso, 'SAMLRequest', sp.authnRequest(endpoints.sso), 'rs-erin');
      const samlArt = (await signInTo(new HttpBrowser(), url, sp.acsArtifact, 'erin')).searchParams.get('SAMLart')!;
      await services.users.disable('demo', 'erin');
      const resolved = await sp.resolve(endpoints.ars, samlArt);
      expect(resolved.signatureValid).toBe(true);
      expect(resolved.message).toBeUndefined();
      // Taken all the same: the assertion is gone, not kept for a later try.
      expect((await sp.resolve(endpoints.ars, samlArt)).message).toBeUndefined();
    });

    it('refuses an expired artifact (60 s)', async () => {
      const samlArt = await loginByArtifact();
      clock.advance(61);
      try {
        const late = await sp.resolve(endpoints.ars, samlArt);
        expect(late.signatureValid).toBe(true);
        expect(late.message).toBeUndefined();
      } finally {
        clock.advance(-61);
      }
    });

    it('answers a malformed or oversized SOAP message with a SOAP Fault', async () => {
      const cases: [string, string][] = [
        ['not xml', 'Client'],
        [`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>${envelope('<x/>')}`, 'Client'],
        ['<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body/></soap:Envelope>', 'VersionMismatch'],
        [envelope('<a/><b/>'), 'Client'],
        [envelope(`<x>${'y'.repeat(70_000)}</x>`), 'Client'],
        [envelope('').replace('<soap:Body>', `<soap:Header><h xmlns="urn:x" soap:mustUnderstand="1"/></soap:Header><soap:Body>`), 'MustUnderstand'],
      ];
      for (const [body, code] of cases) {
        const answer = await postSoap(endpoints.ars, body);
        expect(answer.status).toBe(500);
        expect(answer.contentType).toContain('text/xml');
        expect(answer.text).toContain(`<faultcode>SOAP-ENV:${code}</faultcode>`);
        if (haveTool('xmllint')) expect(xmllintValidate(answer.text, 'soap-envelope-1.1.xsd').output).toContain('validates');
      }
      const form = await postSoap(endpoints.ars, 'a=b', 'application/x-www-form-urlencoded');
      expect(form.status).toBe(500);
    });

    it('XSW on the SOAP body: a signed ArtifactResolve moved into the Header, an evil one in the Body', async () => {
      const samlArt = await loginByArtifact();
      const signed = sp.sign(
        `<samlp:ArtifactResolve xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="_good" Version="2.0" IssueInstant="${new Date().toISOString()}"><saml:Issuer>${sp.entityId}</saml:Issuer><samlp:Artifact>AAQAAA==</samlp:Artifact></samlp:ArtifactResolve>`,
      );
      const evil = `<samlp:ArtifactResolve xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="_evil" Version="2.0" IssueInstant="${new Date().toISOString()}"><saml:Issuer>${sp.entityId}</saml:Issuer>${/<ds:Signature[\s\S]*<\/ds:Signature>/.exec(signed)![0]}<samlp:Artifact>${samlArt}</samlp:Artifact></samlp:ArtifactResolve>`;
      const wrapped = `<soap:Envelope xmlns:soap="${NS.soap}"><soap:Header><w xmlns="urn:wrap">${signed}</w></soap:Header><soap:Body>${evil}</soap:Body></soap:Envelope>`;
      const answer = await postSoap(endpoints.ars, wrapped);
      const { element } = soapBody(answer.text);
      expect(first(element, NS.assertion, 'Assertion')).toBeUndefined();
      expect(first(element, NS.protocol, 'Response')).toBeUndefined();
      expect(answer.text).toContain('does not cover the message');
      expect((await sp.resolve(endpoints.ars, samlArt)).message?.localName).toBe('Response');
    });

    it('refuses a replayed ArtifactResolve ID', async () => {
      const samlArt = await loginByArtifact();
      const resolve = sp.sign(
        `<samlp:ArtifactResolve xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="_replayed1" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${endpoints.ars}"><saml:Issuer>${sp.entityId}</saml:Issuer><samlp:Artifact>${samlArt}</samlp:Artifact></samlp:ArtifactResolve>`,
      );
      const firstTry = soapBody((await postSoap(endpoints.ars, envelope(resolve))).text).element;
      expect(first(firstTry, NS.protocol, 'Response')).toBeDefined();
      const replay = await postSoap(endpoints.ars, envelope(resolve));
      expect(replay.text).toContain('already used');
    });

    it('refuses an ArtifactResolve with a wrong Destination', async () => {
      const samlArt = await loginByArtifact();
      const resolve = sp.sign(
        `<samlp:ArtifactResolve xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="_dest1" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="https://elsewhere.example.test/ars"><saml:Issuer>${sp.entityId}</saml:Issuer><samlp:Artifact>${samlArt}</samlp:Artifact></samlp:ArtifactResolve>`,
      );
      const answer = await postSoap(endpoints.ars, envelope(resolve));
      expect(answer.text).toContain('Destination is not this endpoint');
      expect(first(soapBody(answer.text).element, NS.protocol, 'Response')).toBeUndefined();
    });
  });

  describe('Name Identifier Management (NewID, Terminate) over SOAP, Redirect, POST and Artifact', () => {
    const MNID_STATUS = /<samlp:StatusCode Value="([^"]+)"/;

    /** Logs alice in by artifact and resolves it; returns her persistent alias at the SP. */
    async function aliasOfAlice(): Promise<string> {
      const resolved = await sp.resolve(endpoints.ars, await loginByArtifact());
      return first(resolved.message!, NS.assertion, 'NameID')!.textContent!;
    }

    async function soapManage(xml: string): Promise<{ text: string; element: ReturnType<typeof soapBody>['element']; xml: string }> {
      const answer = await postSoap(endpoints.nameId, envelope(xml));
      expect(`${answer.status} ${answer.text}`).toMatch(/^200 /);
      return { text: answer.text, ...soapBody(answer.text) };
    }

    it('links the federation when the SP resolves the artifact that delivered the persistent NameID', async () => {
      const alias = await aliasOfAlice();
      const federation = await saml.federations.find('demo', sp.entityId, 'alice');
      expect(federation?.alias).toBe(alias);
      expect(federation?.linked).toBe(true);
    });

    /** What an SP that encrypts identifiers sends: the element encrypted to our metadata's encryption key. */
    async function encryptedTo(certPem: string, plainXml: string): Promise<string> {
      const encrypt = promisify(xmlenc.encrypt) as unknown as (content: string, options: Record<string, unknown>) => Promise<string>;
      return encrypt(plainXml, {
        rsa_pub: createPublicKey(certPem).export({ type: 'spki', format: 'pem' }),
        pem: certPem,
        encryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
        keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
        disallowEncryptionWithInsecureAlgorithm: true,
      });
    }

    it('accepts an EncryptedID and a NewEncryptedID (encrypted to our metadata key) over SOAP; garbage in them is refused', async () => {
      const alias = await aliasOfAlice();
      const plain = sp.manageNameIdRequest(endpoints.nameId, alias, { newId: 'sp-encrypted-7' });
      const encryptedId = `<saml:EncryptedID>${await encryptedTo(sp.idpCertPem, `<saml:NameID xmlns:saml="${NS.assertion}" Format="${PERSISTENT}">${alias}</saml:NameID>`)}</saml:EncryptedID>`;
      const newEncryptedId = `<samlp:NewEncryptedID>${await encryptedTo(sp.idpCertPem, `<samlp:NewID xmlns:samlp="${NS.protocol}">sp-encrypted-7</samlp:NewID>`)}</samlp:NewEncryptedID>`;
      const request = plain.replace(/<saml:NameID[^>]*>[^<]*<\/saml:NameID>/, encryptedId).replace(/<samlp:NewID>[^<]*<\/samlp:NewID>/, newEncryptedId);
      expect(request).toContain('EncryptedID');
      const answer = await soapManage(sp.sign(request));
      expect(MNID_STATUS.exec(answer.xml)![1]).toBe(SUCCESS);
      expect((await saml.federations.find('demo', sp.entityId, 'alice'))?.spProvidedId).toBe('sp-encrypted-7');
      // Encrypted to another key: refused with a Requester status, nothing changes.
      const { generateKeyPairSync } = await import('node:crypto');
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const otherPub = other.publicKey.export({ type: 'spki', format: 'pem' }) as string;
      const encryptOther = promisify(xmlenc.encrypt) as unknown as (content: string, options: Record<string, unknown>) => Promise<string>;
      const foreign = await encryptOther(`<saml:NameID xmlns:saml="${NS.assertion}" Format="${PERSISTENT}">${alias}</saml:NameID>`, {
        rsa_pub: otherPub,
        pem: sp.idpCertPem,
        encryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
        keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
      });
      const refused = await soapManage(
        sp.sign(
          sp
            .manageNameIdRequest(endpoints.nameId, alias, 'terminate')
            .replace(/<saml:NameID[^>]*>[^<]*<\/saml:NameID>/, `<saml:EncryptedID>${foreign}</saml:EncryptedID>`),
        ),
      );
      expect(MNID_STATUS.exec(refused.xml)![1]).toBe('urn:oasis:names:tc:SAML:2.0:status:Requester');
      expect((await saml.federations.find('demo', sp.entityId, 'alice'))?.alias).toBe(alias);
    });

    it('NewID over SOAP records the SP identifier; a signed ManageNameIDResponse answers; Terminate ends the federation and the next login makes a new alias', async () => {
      const alias = await aliasOfAlice();
      const newId = await soapManage(sp.sign(sp.manageNameIdRequest(endpoints.nameId, alias, { newId: 'sp-user-42' })));
      expect(newId.element.localName).toBe('ManageNameIDResponse');
      expect(verifyWith(newId.xml, newId.element, sp.idpCertPem)).toBe(true);
      expect(MNID_STATUS.exec(newId.xml)![1]).toBe(SUCCESS);
      expect((await saml.federations.find('demo', sp.entityId, 'alice'))?.spProvidedId).toBe('sp-user-42');
      // Later assertions carry the SP's identifier beside our alias, and so does our LogoutRequest.
      const browser = new HttpBrowser();
      const later = await sp.resolve(endpoints.ars, await loginByArtifact(browser));
      const laterNameId = first(later.message!, NS.assertion, 'NameID')!;
      expect(laterNameId.textContent).toBe(alias);
      expect(laterNameId.getAttribute('SPProvidedID')).toBe('sp-user-42');
      if (haveTool('xmllint')) expect(xmllintValidate(later.messageXml!, 'saml-schema-protocol-2.0.xsd').output).toContain('validates');
      const calls = sp.received.length;
      const confirm = formOf(await (await browser.request(`${issuer}/saml/logout`)).text());
      expect((await browser.request(confirm.action, { form: confirm.fields })).status).toBe(200);
      const logoutCall = sp.received.slice(calls).find((text) => text.includes('LogoutRequest'))!;
      expect(logoutCall).toContain(`SPProvidedID="sp-user-42">${alias}</saml:NameID>`);
      if (haveTool('xmllint')) {
        expect(xmllintValidate(newId.xml, 'saml-schema-protocol-2.0.xsd').output).toContain('validates');
        expect(xmllintValidate(newId.text, 'soap-envelope-1.1.xsd').output).toContain('validates');
      }

      const terminated = await soapManage(sp.sign(sp.manageNameIdRequest(endpoints.nameId, alias, 'terminate')));
      expect(MNID_STATUS.exec(terminated.xml)![1]).toBe(SUCCESS);
      expect(await saml.federations.find('demo', sp.entityId, 'alice')).toBeUndefined();
      const fresh = await aliasOfAlice();
      expect(fresh).not.toBe(alias);
      // The old alias is gone for good.
      const again = await soapManage(sp.sign(sp.manageNameIdRequest(endpoints.nameId, alias, 'terminate')));
      expect(again.xml).toContain('urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal');
    });

    it('AllowCreate="false" reuses an existing federation and never creates one (InvalidNameIDPolicy)', async () => {
      const alias = await aliasOfAlice();
      const reuse = await sp.resolve(endpoints.ars, await loginByArtifact(new HttpBrowser(), 'rs', false));
      expect(first(reuse.message!, NS.assertion, 'NameID')!.textContent).toBe(alias);
      await soapManage(sp.sign(sp.manageNameIdRequest(endpoints.nameId, alias, 'terminate')));
      const refused = await sp.resolve(endpoints.ars, await loginByArtifact(new HttpBrowser(), 'rs', false));
      expect(refused.message?.localName).toBe('Response');
      expect(first(refused.message!, NS.assertion, 'Assertion')).toBeUndefined();
      expect(refused.messageXml).toContain('urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy');
      expect(await saml.federations.find('demo', sp.entityId, 'alice')).toBeUndefined();
    });

    it('refuses unsigned, wrongly signed (KeyInfo swap), replayed and misaddressed requests, changing nothing', async () => {
      const alias = await aliasOfAlice();
      const denied = async (xml: string, pattern: RegExp) => {
        const answer = await soapManage(xml);
        expect(answer.xml).toContain('urn:oasis:names:tc:SAML:2.0:status:RequestDenied');
        expect(answer.xml).not.toContain('InResponseTo');
        expect(answer.xml).toMatch(pattern);
      };
      await denied(sp.manageNameIdRequest(endpoints.nameId, alias, 'terminate'), /not signed/);
      const other = sp.otherKey();
      const { signXml } = await import('../support/saml-artifact-sp.ts');
      await denied(signXml(sp.manageNameIdRequest(endpoints.nameId, alias, 'terminate'), other.keyPem, other.certPem), /not valid with the service provider/);
      await denied(sp.sign(sp.manageNameIdRequest('https://elsewhere.example.test/mnid', alias, 'terminate')), /Destination/);
      const once = sp.sign(sp.manageNameIdRequest(endpoints.nameId, alias, { newId: 'first' }, { id: '_mnid_replay' }));
      expect(MNID_STATUS.exec((await soapManage(once)).xml)![1]).toBe(SUCCESS);
      await denied(once, /already used/);
      // XSW: the signed request wrapped (in a foreign element, which the schema allows) inside an unsigned Terminate.
      const wrapped = sp
        .manageNameIdRequest(endpoints.nameId, alias, 'terminate')
        .replace(
          '<saml:NameID',
          `<samlp:Extensions><x:Wrap xmlns:x="urn:example:evil">${sp.sign(sp.manageNameIdRequest(endpoints.nameId, alias, { newId: 'x' }))}</x:Wrap></samlp:Extensions><saml:NameID`,
        );
      await denied(wrapped, /not signed/);
      await denied(wrapped.replace('<x:Wrap xmlns:x="urn:example:evil">', '').replace('</x:Wrap>', ''), /schema check/);
      expect((await saml.federations.find('demo', sp.entityId, 'alice'))?.alias).toBe(alias);
    });

    it('over HTTP-Redirect, HTTP-POST and HTTP-Artifact, answers through the browser with a query-signed ManageNameIDResponse on Redirect', async () => {
      const alias = await aliasOfAlice();
      const { createPublicKey, verify } = await import('node:crypto');
      const { inflateRawSync } = await import('node:zlib');
      const check = (location: string, relayState: string | null) => {
        const url = new URL(location);
        expect(`${url.origin}${url.pathname}`).toBe(sp.nameIdRedirect);
        expect(url.searchParams.get('RelayState')).toBe(relayState);
        const octets = location.slice(location.indexOf('?') + 1).replace(/&Signature=.*$/, '');
        expect(verify('sha256', Buffer.from(octets), createPublicKey(sp.idpCertPem), Buffer.from(url.searchParams.get('Signature')!, 'base64'))).toBe(true);
        const xml = inflateRawSync(Buffer.from(url.searchParams.get('SAMLResponse')!, 'base64')).toString('utf8');
        expect(xml).toContain(`Destination="${sp.nameIdRedirect}"`);
        if (haveTool('xmllint')) expect(xmllintValidate(xml, 'saml-schema-protocol-2.0.xsd').output).toContain('validates');
        return MNID_STATUS.exec(xml)![1];
      };
      const viaRedirect = await fetch(
        sp.redirectUrl(endpoints.nameId, 'SAMLRequest', sp.manageNameIdRequest(endpoints.nameId, alias, { newId: 'via-redirect' }), 'mn-rs'),
        { redirect: 'manual' },
      );
      expect(viaRedirect.status).toBe(303);
      expect(check(viaRedirect.headers.get('location')!, 'mn-rs')).toBe(SUCCESS);

      const signedPost = Buffer.from(sp.sign(sp.manageNameIdRequest(endpoints.nameId, alias, { newId: 'via-post' }))).toString('base64');
      const viaPost = await fetch(endpoints.nameId, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ SAMLRequest: signedPost }).toString(),
      });
      expect(viaPost.status).toBe(303);
      expect(check(viaPost.headers.get('location')!, null)).toBe(SUCCESS);
      expect((await saml.federations.find('demo', sp.entityId, 'alice'))?.spProvidedId).toBe('via-post');

      const samlArt = sp.sendByArtifact(sp.manageNameIdRequest(endpoints.nameId, alias, { newId: 'via-artifact' }));
      const viaArtifact = await fetch(`${endpoints.nameId}?SAMLart=${encodeURIComponent(samlArt)}&RelayState=art`, { redirect: 'manual' });
      expect(viaArtifact.status).toBe(303);
      expect(check(viaArtifact.headers.get('location')!, 'art')).toBe(SUCCESS);
      expect((await saml.federations.find('demo', sp.entityId, 'alice'))?.spProvidedId).toBe('via-artifact');

      // A Redirect request whose query signature does not verify gets an error page, nothing sent to the SP.
      const tampered = sp
        .redirectUrl(endpoints.nameId, 'SAMLRequest', sp.manageNameIdRequest(endpoints.nameId, alias, 'terminate'), 'a')
        .replace('RelayState=a', 'RelayState=b');
      const refused = await fetch(tampered, { redirect: 'manual' });
      expect(refused.status).toBe(400);
      expect((await saml.federations.find('demo', sp.entityId, 'alice'))?.alias).toBe(alias);
    });
  });

  describe('Single Logout over Redirect, POST and SOAP, propagated to every participant', () => {
    let front: ArtifactSp;
    beforeAll(async () => {
      // A third SP whose metadata has no SOAP SingleLogoutService: reachable only through the browser.
      front = await ArtifactSp.start('https://front-sp.example.test/metadata');
      front.idpCertPem = sp.idpCertPem;
      await saml.serviceProviders.register('demo', front.metadata({ soapSlo: false }));
    });
    afterAll(async () => front?.close());

    /** SSO to `who` over HTTP-POST in this browser (signing in first if needed); its NameID and SessionIndex. */
    async function loginByPost(browser: HttpBrowser, who: ArtifactSp): Promise<{ nameId: string; sessionIndex: string }> {
      const url = who.redirectUrl(endpoints.sso, 'SAMLRequest', who.authnRequest(endpoints.sso, { binding: BINDINGS.post }));
      let { response } = await browser.follow(url, who.acsPost);
      let text = await response.text();
      if (!text.includes('SAMLResponse')) {
        const login = formOf(text);
        ({ response } = await browser.follow(login.action, who.acsPost, { form: { ...login.fields, username: 'alice', password: DEMO_PASSWORD } }));
        text = await response.text();
      }
      const form = formOf(text);
      expect(form.action).toBe(who.acsPost);
      const assertion = parse(Buffer.from(form.fields['SAMLResponse']!, 'base64').toString('utf8'));
      return {
        nameId: first(assertion, NS.assertion, 'NameID')!.textContent!,
        sessionIndex: first(assertion, NS.assertion, 'AuthnStatement')!.getAttribute('SessionIndex')!,
      };
    }

    async function signedIn(browser: HttpBrowser): Promise<boolean> {
      const url = front.redirectUrl(endpoints.sso, 'SAMLRequest', front.authnRequest(endpoints.sso, { binding: BINDINGS.post }));
      const { response } = await browser.follow(url, front.acsPost);
      return (await response.text()).includes('SAMLResponse');
    }

    /** Reads a query-signed Redirect message the IdP sent to `location`, verifying our signature with the IdP certificate. */
    async function redirectMessage(
      location: string,
      parameter: 'SAMLRequest' | 'SAMLResponse',
    ): Promise<{ xml: string; element: ReturnType<typeof parse>['documentElement'] }> {
      const { createPublicKey, verify } = await import('node:crypto');
      const { inflateRawSync } = await import('node:zlib');
      const url = new URL(location);
      const octets = location.slice(location.indexOf('?') + 1).replace(/&Signature=.*$/, '');
      expect(verify('sha256', Buffer.from(octets), createPublicKey(sp.idpCertPem), Buffer.from(url.searchParams.get('Signature')!, 'base64'))).toBe(true);
      const xml = inflateRawSync(Buffer.from(url.searchParams.get(parameter)!, 'base64')).toString('utf8');
      if (haveTool('xmllint')) expect(xmllintValidate(xml, 'saml-schema-protocol-2.0.xsd').output).toContain('validates');
      return { xml, element: parse(xml).documentElement };
    }

    it('gives each SP its own SessionIndex in one session (SAML Core §2.7.2) and maps each back: SP-initiated logout by either SP tells the other with its own index', async () => {
      for (const [initiator, peer] of [
        [sp, other],
        [other, sp],
      ] as const) {
        const browser = new HttpBrowser();
        const mine = await loginByPost(browser, initiator);
        const theirs = await loginByPost(browser, peer);
        expect(mine.sessionIndex).not.toBe(theirs.sessionIndex);
        // A later assertion to the same SP in the same session names the same participant.
        expect((await loginByPost(browser, initiator)).sessionIndex).toBe(mine.sessionIndex);
        // The other SP's index names nothing at this SP.
        const foreign = await postSoap(endpoints.slo, envelope(initiator.sign(initiator.logoutRequest(endpoints.slo, mine.nameId, theirs.sessionIndex))));
        expect(soapBody(foreign.text).xml).toContain('urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal');
        const calls = peer.received.length;
        const answer = await postSoap(endpoints.slo, envelope(initiator.sign(initiator.logoutRequest(endpoints.slo, mine.nameId, mine.sessionIndex))));
        const { xml } = soapBody(answer.text);
        expect(xml).toContain(SUCCESS);
        expect(xml).not.toContain('PartialLogout');
        const told = peer.received.slice(calls).find((text) => text.includes('LogoutRequest'))!;
        expect(told).toContain(`<samlp:SessionIndex>${theirs.sessionIndex}</samlp:SessionIndex>`);
        expect(told).not.toContain(mine.sessionIndex);
        expect(await signedIn(browser)).toBe(false);
      }
    });

    it('every SOAP endpoint answers a wrong Content-Type with a SOAP 1.1 Fault (HTTP 500), never a page; SOAP 1.2 as application/soap+xml is answered in SOAP 1.2', async () => {
      const SOAP12 = 'http://www.w3.org/2003/05/soap-envelope';
      const envelope12 = (xml: string) => `<env:Envelope xmlns:env="${SOAP12}"><env:Body>${xml}</env:Body></env:Envelope>`;
      for (const url of [endpoints.ars, endpoints.slo, endpoints.nameId]) {
        for (const type of ['application/xml', 'text/plain', 'application/octet-stream']) {
          const answer = await postSoap(url, envelope('<x/>'), type);
          expect({ url, type, status: answer.status, contentType: answer.contentType }).toEqual({
            url,
            type,
            status: 500,
            contentType: 'text/xml; charset=utf-8',
          });
          expect(answer.text).toContain('<faultcode>SOAP-ENV:Client</faultcode>');
          expect(answer.text).toContain('application/soap+xml (SOAP 1.2)');
          if (haveTool('xmllint')) expect(xmllintValidate(answer.text, 'soap-envelope-1.1.xsd').output).toContain('validates');
        }
        // A body the frame cannot parse (malformed JSON) is a SOAP Fault too, not problem JSON.
        const json = await postSoap(url, '{"not":', 'application/json');
        expect([json.status, json.contentType]).toEqual([500, 'text/xml; charset=utf-8']);
        expect(json.text).toContain('<faultcode>SOAP-ENV:Client</faultcode>');
        // The media type names the version; an envelope of the other version is a VersionMismatch in the named one.
        const mismatch11 = await postSoap(url, envelope12('<x/>'));
        expect([mismatch11.status, mismatch11.text]).toEqual([500, expect.stringContaining('<faultcode>SOAP-ENV:VersionMismatch</faultcode>')]);
        const mismatch12 = await postSoap(url, envelope('<x/>'), 'application/soap+xml; charset=utf-8');
        expect(mismatch12.status).toBe(500);
        expect(mismatch12.contentType).toBe('application/soap+xml; charset=utf-8');
        expect(mismatch12.text).toContain(`<SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP12}">`);
        expect(mismatch12.text).toContain('<SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:VersionMismatch</SOAP-ENV:Value></SOAP-ENV:Code>');
        // A malformed SOAP 1.2 request is the sender's fault: HTTP 400 in SOAP 1.2's binding.
        const sender = await postSoap(url, envelope12('<a/><b/>'), 'application/soap+xml');
        expect(sender.status).toBe(400);
        expect(sender.text).toContain('<SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>');
        expect(sender.text).toContain('<SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">');
      }
      // A whole SOAP 1.2 logout: the signed LogoutResponse comes back in a SOAP 1.2 envelope.
      const browser = new HttpBrowser();
      const mine = await loginByPost(browser, sp);
      const answer = await postSoap(
        endpoints.slo,
        envelope12(sp.sign(sp.logoutRequest(endpoints.slo, mine.nameId, mine.sessionIndex))),
        'application/soap+xml; charset=utf-8; action="http://www.oasis-open.org/committees/security"',
      );
      expect(answer.status).toBe(200);
      expect(answer.contentType).toBe('application/soap+xml; charset=utf-8');
      const root = parse(answer.text).documentElement!;
      expect([root.namespaceURI, root.localName]).toEqual([SOAP12, 'Envelope']);
      const body = first(root, SOAP12, 'Body')!;
      const response = Array.from({ length: body.childNodes.length }, (_, i) => body.childNodes[i]).find((node) => node?.nodeType === 1) as unknown as Element;
      const xml = new XMLSerializer().serializeToString(response as never);
      const element = parse(xml).documentElement!;
      expect(element.localName).toBe('LogoutResponse');
      expect(verifyWith(xml, element, sp.idpCertPem)).toBe(true);
      expect(xml).toContain(SUCCESS);
      if (haveTool('xmllint')) expect(xmllintValidate(xml, 'saml-schema-protocol-2.0.xsd').output).toContain('validates');
      expect(await signedIn(browser)).toBe(false);
    });

    it('SP-initiated over Redirect: SOAP to the SOAP participant, the browser through the front-channel one, then a LogoutResponse to the initiator', async () => {
      const browser = new HttpBrowser();
      const mine = await loginByPost(browser, sp);
      await loginByPost(browser, other);
      const theirs = await loginByPost(browser, front);
      const otherCalls = other.received.length;

      const request = sp.logoutRequest(endpoints.slo, mine.nameId, mine.sessionIndex);
      const requestId = /ID="([^"]+)"/.exec(request)![1]!;
      const first1 = await browser.request(sp.redirectUrl(endpoints.slo, 'SAMLRequest', request, 'slo-rs'));
      expect(first1.status).toBe(303);
      // The SOAP participant was told over the back channel, with a LogoutRequest signed by the IdP.
      const soapCall = other.received.slice(otherCalls).find((text) => text.includes('LogoutRequest'))!;
      expect(soapCall).toBeDefined();
      expect(soapCall).toContain(`SPNameQualifier="${other.entityId}"`);
      // The front-channel participant gets our signed LogoutRequest through the browser.
      const toFront = first1.headers.get('location')!;
      expect(toFront.startsWith(`${front.sloRedirect}?`)).toBe(true);
      const frontRequest = await redirectMessage(toFront, 'SAMLRequest');
      expect(frontRequest.element!.localName).toBe('LogoutRequest');
      expect(first(frontRequest.element!, NS.assertion, 'NameID')!.textContent).toBe(theirs.nameId);
      expect(first(frontRequest.element!, NS.protocol, 'SessionIndex')!.textContent).toBe(theirs.sessionIndex);
      expect(frontRequest.element!.getAttribute('Destination')).toBe(front.sloRedirect);

      // It answers; the IdP then answers the initiator.
      const answer = front.redirectUrl(endpoints.slo, 'SAMLResponse', front.logoutResponse(endpoints.slo, frontRequest.element!.getAttribute('ID')!));
      const last = await browser.request(answer);
      expect(last.status).toBe(303);
      const toInitiator = last.headers.get('location')!;
      expect(toInitiator.startsWith(`${sp.sloRedirect}?`)).toBe(true);
      expect(new URL(toInitiator).searchParams.get('RelayState')).toBe('slo-rs');
      const response = await redirectMessage(toInitiator, 'SAMLResponse');
      expect(response.element!.localName).toBe('LogoutResponse');
      expect(response.element!.getAttribute('InResponseTo')).toBe(requestId);
      expect(response.xml).toContain(`<samlp:StatusCode Value="${SUCCESS}"></samlp:StatusCode>`);
      expect(response.xml).not.toContain('PartialLogout');

      // The SSO session is gone; the same LogoutResponse again does not advance anything.
      expect(await signedIn(browser)).toBe(false);
      expect((await browser.request(answer)).status).toBe(400);
    });

    it('SP-initiated over SOAP (SessionIndex names the session): PartialLogout when a participant fails or needs a browser', async () => {
      const browser = new HttpBrowser();
      const mine = await loginByPost(browser, sp);
      await loginByPost(browser, other);
      other.sloStatus = 'urn:oasis:names:tc:SAML:2.0:status:Responder';
      try {
        const answer = await postSoap(endpoints.slo, envelope(sp.sign(sp.logoutRequest(endpoints.slo, mine.nameId, mine.sessionIndex))));
        expect(answer.status).toBe(200);
        const { xml, element } = soapBody(answer.text);
        expect(element.localName).toBe('LogoutResponse');
        expect(verifyWith(xml, element, sp.idpCertPem)).toBe(true);
        expect(xml).toContain('urn:oasis:names:tc:SAML:2.0:status:PartialLogout');
        if (haveTool('xmllint')) {
          expect(xmllintValidate(xml, 'saml-schema-protocol-2.0.xsd').output).toContain('validates');
          expect(xmllintValidate(answer.text, 'soap-envelope-1.1.xsd').output).toContain('validates');
        }
      } finally {
        other.sloStatus = SUCCESS;
      }
      expect(await signedIn(browser)).toBe(false);
    });

    it('SP-initiated over POST, everyone reachable over SOAP: Success, and the session is over', async () => {
      const browser = new HttpBrowser();
      const mine = await loginByPost(browser, sp);
      await loginByPost(browser, other);
      const signedRequest = Buffer.from(sp.sign(sp.logoutRequest(endpoints.slo, mine.nameId, mine.sessionIndex))).toString('base64');
      const response = await browser.request(endpoints.slo, { form: { SAMLRequest: signedRequest, RelayState: 'p' } });
      expect(response.status).toBe(303);
      const result = await redirectMessage(response.headers.get('location')!, 'SAMLResponse');
      expect(result.xml).toContain(SUCCESS);
      expect(result.xml).not.toContain('PartialLogout');
      expect(await signedIn(browser)).toBe(false);
    });

    it('IdP-initiated from /saml/logout (confirmed with its CSRF form): SOAP and front-channel participants told, then a signed-out page', async () => {
      const browser = new HttpBrowser();
      const mine = await loginByPost(browser, sp);
      const theirs = await loginByPost(browser, front);
      const calls = sp.received.length;
      const forged = await browser.request(`${issuer}/saml/logout`, { form: { csrf: 'guessed' } });
      expect(forged.status).toBe(403);
      expect(await signedIn(browser)).toBe(true);

      const confirm = await browser.request(`${issuer}/saml/logout`);
      const form = formOf(await confirm.text());
      expect(form.action).toBe(`${issuer}/saml/logout`);
      const performed = await browser.request(form.action, { form: form.fields });
      expect(performed.status).toBe(303);
      const soapCall = sp.received.slice(calls).find((text) => text.includes('LogoutRequest'))!;
      expect(soapCall).toContain(`<samlp:SessionIndex>${mine.sessionIndex}</samlp:SessionIndex>`);
      const toFront = await redirectMessage(performed.headers.get('location')!, 'SAMLRequest');
      expect(first(toFront.element!, NS.assertion, 'NameID')!.textContent).toBe(theirs.nameId);
      // Each participant is named by its own SessionIndex.
      expect(theirs.sessionIndex).not.toBe(mine.sessionIndex);
      expect(first(toFront.element!, NS.protocol, 'SessionIndex')!.textContent).toBe(theirs.sessionIndex);
      const done = await browser.request(
        front.redirectUrl(endpoints.slo, 'SAMLResponse', front.logoutResponse(endpoints.slo, toFront.element!.getAttribute('ID')!)),
      );
      expect(done.status).toBe(200);
      const text = await done.text();
      expect(text).toContain('You are signed out');
      expect(text).not.toContain('could not be told');
      expect(await signedIn(browser)).toBe(false);
    });

    it('a LogoutRequest by artifact; a participant reachable only by HTTP-POST gets an auto-POST form and answers by POST', async () => {
      const poster = await ArtifactSp.start('https://post-sp.example.test/metadata');
      try {
        poster.idpCertPem = sp.idpCertPem;
        await saml.serviceProviders.register('demo', poster.metadata({ soapSlo: false, frontSlo: 'post' }));
        const browser = new HttpBrowser();
        const mine = await loginByPost(browser, sp);
        const theirs = await loginByPost(browser, poster);
        // The initiator sends its LogoutRequest by artifact; the IdP resolves it at the SP over SOAP.
        const samlArt = sp.sendByArtifact(sp.logoutRequest(endpoints.slo, mine.nameId, mine.sessionIndex));
        const page = await browser.request(`${endpoints.slo}?SAMLart=${encodeURIComponent(samlArt)}&RelayState=by-art`);
        expect(page.status).toBe(200);
        const form = formOf(await page.text());
        expect(form.action).toBe(poster.sloRedirect);
        const requestXml = Buffer.from(form.fields['SAMLRequest']!, 'base64').toString('utf8');
        const request = parse(requestXml).documentElement!;
        expect(request.localName).toBe('LogoutRequest');
        expect(verifyWith(requestXml, request, sp.idpCertPem)).toBe(true);
        expect(first(request, NS.assertion, 'NameID')!.textContent).toBe(theirs.nameId);
        if (haveTool('xmllint')) expect(xmllintValidate(requestXml, 'saml-schema-protocol-2.0.xsd').output).toContain('validates');
        // It answers over POST with an enveloped signature; the initiator then gets its LogoutResponse.
        const answer = Buffer.from(poster.sign(poster.logoutResponse(endpoints.slo, request.getAttribute('ID')!))).toString('base64');
        const last = await browser.request(endpoints.slo, { form: { SAMLResponse: answer } });
        expect(last.status).toBe(303);
        const result = await redirectMessage(last.headers.get('location')!, 'SAMLResponse');
        expect(new URL(last.headers.get('location')!).searchParams.get('RelayState')).toBe('by-art');
        expect(result.xml).toContain(SUCCESS);
        expect(result.xml).not.toContain('PartialLogout');
        expect(await signedIn(browser)).toBe(false);
      } finally {
        await poster.close();
      }
    });

    it('refuses unsigned, wrongly signed, expired, misaddressed, replayed and wrapped LogoutRequests; an unknown NameID is UnknownPrincipal; the session survives', async () => {
      const browser = new HttpBrowser();
      const mine = await loginByPost(browser, sp);
      const denied = async (xml: string, pattern: RegExp) => {
        const answer = await postSoap(endpoints.slo, envelope(xml));
        const { xml: body } = soapBody(answer.text);
        expect(body).toContain('urn:oasis:names:tc:SAML:2.0:status:RequestDenied');
        expect(body).toMatch(pattern);
      };
      const { signXml } = await import('../support/saml-artifact-sp.ts');
      const other2 = sp.otherKey();
      await denied(sp.logoutRequest(endpoints.slo, mine.nameId, mine.sessionIndex), /not signed/);
      await denied(
        signXml(sp.logoutRequest(endpoints.slo, mine.nameId, mine.sessionIndex), other2.keyPem, other2.certPem),
        /not valid with the service provider/,
      );
      await denied(
        sp.sign(sp.logoutRequest(endpoints.slo, mine.nameId, mine.sessionIndex, { notOnOrAfter: new Date(Date.now() - 3_600_000).toISOString() })),
        /NotOnOrAfter/,
      );
      await denied(sp.sign(sp.logoutRequest('https://elsewhere.example.test/slo', mine.nameId, mine.sessionIndex)), /Destination/);
      const wrapped = sp
        .logoutRequest(endpoints.slo, mine.nameId, mine.sessionIndex)
        .replace(
          '<saml:NameID',
          `<samlp:Extensions><x:Wrap xmlns:x="urn:example:evil">${sp.sign(sp.logoutRequest(endpoints.slo, 'someone-else', undefined))}</x:Wrap></samlp:Extensions><saml:NameID`,
        );
      await denied(wrapped, /not signed/);
      const unknown = await postSoap(
        endpoints.slo,
        envelope(sp.sign(sp.logoutRequest(endpoints.slo, 'not-an-alias-of-anyone', mine.sessionIndex, { id: '_slo_once' }))),
      );
      expect(soapBody(unknown.text).xml).toContain('urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal');
      await denied(sp.sign(sp.logoutRequest(endpoints.slo, 'not-an-alias-of-anyone', mine.sessionIndex, { id: '_slo_once' })), /already used/);
      // Over Redirect, a tampered query gets an error page and no LogoutResponse.
      const tampered = sp
        .redirectUrl(endpoints.slo, 'SAMLRequest', sp.logoutRequest(endpoints.slo, mine.nameId, mine.sessionIndex), 'a')
        .replace('RelayState=a', 'RelayState=b');
      expect((await browser.request(tampered)).status).toBe(400);
      // A LogoutResponse that answers nothing we sent is refused.
      expect((await browser.request(front.redirectUrl(endpoints.slo, 'SAMLResponse', front.logoutResponse(endpoints.slo, '_never_sent')))).status).toBe(400);
      expect(await signedIn(browser)).toBe(true);
    });
  });

  describe('SP → IdP: the AuthnRequest by artifact', () => {
    it('resolves SAMLart at the SP over SOAP (signed ArtifactResolve) and continues with the AuthnRequest it carried', async () => {
      const request = sp.authnRequest(endpoints.sso, { binding: BINDINGS.post });
      const samlArt = sp.sendByArtifact(request);
      const browser = new HttpBrowser();
      const url = `${endpoints.sso}?SAMLart=${encodeURIComponent(samlArt)}&RelayState=by-art`;
      let { response } = await browser.follow(url, sp.acsPost);
      const login = formOf(await response.text());
      expect(login.action).toBe(`${issuer}/portal/login`);
      ({ response } = await browser.follow(login.action, sp.acsPost, { form: { ...login.fields, username: 'alice', password: DEMO_PASSWORD } }));
      const form = formOf(await response.text());
      expect(form.action).toBe(sp.acsPost);
      expect(form.fields['RelayState']).toBe('by-art');
      const xml = Buffer.from(form.fields['SAMLResponse']!, 'base64').toString('utf8');
      const requestId = /ID="([^"]+)"/.exec(request)![1]!;
      expect(xml).toContain(`InResponseTo="${requestId}"`);
      // The IdP's ArtifactResolve reached the SP's service, signed (the SP verified it before answering).
      const resolveCall = sp.received.at(-1)!;
      expect(resolveCall).toContain('ArtifactResolve');
      expect(resolveCall).toContain(samlArt);
      if (haveTool('xmllint')) {
        expect(xmllintValidate(soapBody(resolveCall).xml, 'saml-schema-protocol-2.0.xsd').output).toContain('validates');
        expect(xmllintValidate(resolveCall, 'soap-envelope-1.1.xsd').output).toContain('validates');
      }
      // The same artifact again: the SP no longer has it, so the IdP refuses.
      const replay = await browser.request(url);
      expect(replay.status).toBe(400);
    });

    it.each([
      ['unsigned', /not signed/],
      ['signed-by-other-key', /not valid with the service provider/],
      ['wrong-in-response-to', /does not answer our ArtifactResolve/],
      ['foreign-issuer', /Issuer is not the service provider/],
      ['error-status', /could not resolve/],
    ] as const)('refuses an ArtifactResponse that is %s', async (mode, pattern) => {
      sp.arsMode = mode;
      try {
        const samlArt = sp.sendByArtifact(sp.authnRequest(endpoints.sso, { binding: BINDINGS.post }));
        const response = await fetch(`${endpoints.sso}?SAMLart=${encodeURIComponent(samlArt)}`, { redirect: 'manual' });
        expect(response.status).toBe(400);
        expect(await response.text()).toMatch(pattern);
      } finally {
        sp.arsMode = 'normal';
      }
    });

    it.each([
      ['slow (over the 3 s SOAP timeout)', 'slow', /the service provider could not be reached/],
      ['oversized (over the 64 KiB cap)', 'oversized', /the service provider could not be reached/],
    ] as const)('gives up on an ArtifactResolutionService that is %s', async (_name, mode, pattern) => {
      sp.arsMode = mode;
      try {
        const samlArt = sp.sendByArtifact(sp.authnRequest(endpoints.sso, { binding: BINDINGS.post }));
        const started = Date.now();
        const response = await fetch(`${endpoints.sso}?SAMLart=${encodeURIComponent(samlArt)}`, { redirect: 'manual' });
        expect(Date.now() - started).toBeLessThan(3900);
        expect(response.status).toBe(400);
        expect(await response.text()).toMatch(pattern);
      } finally {
        sp.arsMode = 'normal';
      }
    });

    it('refuses an artifact from an unregistered SourceID, a wrong type code, or an unknown endpoint index', async () => {
      const { createHash, randomBytes } = await import('node:crypto');
      const make = (type: number, index: number, entity: string) =>
        Buffer.concat([Buffer.from([type >> 8, type & 0xff, index >> 8, index & 0xff]), createHash('sha1').update(entity).digest(), randomBytes(20)]).toString(
          'base64',
        );
      for (const [artifact, pattern] of [
        [make(4, 0, 'https://unknown.example.test'), /not registered/],
        [make(1, 0, sp.entityId), /type code/],
        [make(4, 7, sp.entityId), /ArtifactResolutionService/],
        ['AAQ=', /length/],
      ] as const) {
        const response = await fetch(`${endpoints.sso}?SAMLart=${encodeURIComponent(artifact)}`, { redirect: 'manual' });
        expect(response.status).toBe(400);
        expect(await response.text()).toMatch(pattern);
      }
    });
  });
});
