import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SAML } from '@node-saml/node-saml';
import { inflateRawSync } from 'node:zlib';
import saml2, { type SAMLAssertResponse } from 'saml2-js';
import { createSaml } from '../../lambdas/core/saml/provider.ts';
import { createOidc } from '../../lambdas/core/oidc/provider.ts';
import type { LocalStack } from '../../local/stack.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';
import { haveTool, spCredentials, xmllintValidate, xmlsecVerify } from '../support/saml-sp.ts';

const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

/**
 * Real service providers against the local stack: @node-saml/node-saml and saml2-js with their strict
 * defaults (response and assertion signed, audience checked), SP-initiated over HTTP-Redirect (signed
 * request) → portal login over HTTP → HTTP-POST response; plus IdP-initiated, schema and xmlsec1 checks.
 */
describe('SAML IdP with real service providers (embedded backend)', () => {
  let stack: LocalStack;
  let issuer: string;
  let idpCert: string;
  let metadataXml: string;
  let register: (xml: string) => Promise<unknown>;

  beforeAll(async () => {
    stack = await startStackOn('embedded');
    issuer = `${stack.url}/t/demo`;
    const response = await fetch(`${issuer}/saml/metadata`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/samlmetadata+xml');
    metadataXml = await response.text();
    idpCert = /<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/.exec(metadataXml)![1]!;
    const runtime = stack.runtime;
    const saml = createSaml(
      createOidc({ directory: runtime.directory, state: runtime.state, clock: runtime.clock, random: runtime.random }),
      runtime.directory,
    );
    register = (xml) => saml.serviceProviders.register('demo', xml);
  });
  afterAll(async () => stack.close());

  /** Follows the SSO URL through the portal login to the auto-POST form; returns its fields and action. */
  async function signInAt(browser: HttpBrowser, url: string, acs: string): Promise<{ action: string; fields: Record<string, string>; csp: string }> {
    let { response } = await browser.follow(url, acs);
    let text = await response.text();
    if (!text.includes('SAMLResponse')) {
      expect(response.status).toBe(200);
      const login = formOf(text);
      expect(login.action).toBe(`${issuer}/portal/login`);
      ({ response } = await browser.follow(login.action, acs, { form: { ...login.fields, username: 'alice', password: DEMO_PASSWORD } }));
      text = await response.text();
    }
    expect(response.status).toBe(200);
    expect(text).toContain('<button type="submit">');
    return { ...formOf(text), csp: response.headers.get('content-security-policy') ?? '' };
  }

  it('publishes signed metadata that is schema-valid and verifies with xmlsec1', () => {
    expect(metadataXml).toContain(`entityID="${issuer}/saml/metadata"`);
    expect(metadataXml).toContain(`Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${issuer}/saml/sso"`);
    expect(metadataXml).toContain(`Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${issuer}/saml/sso"`);
    // Long-lived, re-fetched daily (issue 11 item 14): an SP that loaded it once keeps the IdP for a year.
    const root = /<md:EntityDescriptor [^>]*>/.exec(metadataXml)![0];
    const validUntil = Date.parse(/validUntil="([^"]+)"/.exec(root)![1]!);
    expect(validUntil - Date.now()).toBeGreaterThan(364 * 86_400_000);
    expect(validUntil - Date.now()).toBeLessThanOrEqual(365 * 86_400_000);
    expect(root).toContain('cacheDuration="PT24H"');
    for (const format of ['nameid-format:persistent', 'nameid-format:transient', 'nameid-format:emailAddress', 'nameid-format:unspecified'])
      expect(metadataXml).toContain(format);
    if (haveTool('xmllint')) {
      const result = xmllintValidate(metadataXml, 'saml-schema-metadata-2.0.xsd');
      expect(result.output).toContain('validates');
      expect(result.ok).toBe(true);
    }
    if (haveTool('xmlsec1')) {
      const cert = `-----BEGIN CERTIFICATE-----\n${idpCert}\n-----END CERTIFICATE-----\n`;
      const result = xmlsecVerify(metadataXml, cert, 'urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor');
      expect(result.output).toContain('OK');
      expect(result.ok).toBe(true);
    }
  });

  it('keeps the signing certificate stable across metadata fetches', async () => {
    const again = await (await fetch(`${issuer}/saml/metadata`)).text();
    expect(again).toContain(idpCert);
  });

  describe('@node-saml/node-saml as SP (Redirect request signed, POST response)', () => {
    const entityId = 'https://node-saml.example.test/sp';
    const acs = 'https://node-saml.example.test/acs';
    let sp: SAML;

    beforeAll(async () => {
      const credentials = await spCredentials('node-saml SP');
      sp = new SAML({
        entryPoint: `${issuer}/saml/sso`,
        issuer: entityId,
        callbackUrl: acs,
        idpCert,
        privateKey: credentials.keyPem,
        publicCert: credentials.certPem,
        signatureAlgorithm: 'sha256',
        identifierFormat: PERSISTENT,
        audience: entityId,
        wantAssertionsSigned: true,
        wantAuthnResponseSigned: true,
        validateInResponseTo: 'always' as never,
      });
      const metadata = sp.generateServiceProviderMetadata(null, credentials.certPem);
      const registered = (await register(metadata)) as { authnRequestsSigned: boolean };
      expect(registered.authnRequestsSigned).toBe(true);
    });

    it('signs in SP-initiated and node-saml accepts the response; a second login reuses the SSO session and the persistent alias', async () => {
      const browser = new HttpBrowser();
      const url = await sp.getAuthorizeUrlAsync('relay-123', undefined, {});
      expect(url).toContain('Signature=');
      const form = await signInAt(browser, url, acs);
      expect(form.action).toBe(acs);
      expect(form.fields['RelayState']).toBe('relay-123');
      expect(form.csp).toContain('form-action');
      expect(form.csp).toContain('https://node-saml.example.test');
      const { profile, loggedOut } = await sp.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']!, RelayState: form.fields['RelayState']! });
      expect(loggedOut).toBe(false);
      expect(profile!.issuer).toBe(`${issuer}/saml/metadata`);
      expect(profile!.nameIDFormat).toBe(PERSISTENT);
      expect(profile!.nameID).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(profile!['displayName']).toBeDefined();
      expect(profile!.sessionIndex).toBeDefined();

      // Second login: no portal page, the SSO session answers; the persistent NameID is the same.
      const second = await signInAt(browser, await sp.getAuthorizeUrlAsync('', undefined, {}), acs);
      expect(second.fields['RelayState']).toBeUndefined();
      const again = await sp.validatePostResponseAsync({ SAMLResponse: second.fields['SAMLResponse']! });
      expect(again.profile!.nameID).toBe(profile!.nameID);

      const xml = Buffer.from(form.fields['SAMLResponse']!, 'base64').toString('utf8');
      const cert = `-----BEGIN CERTIFICATE-----\n${idpCert}\n-----END CERTIFICATE-----\n`;
      if (haveTool('xmlsec1')) {
        const result = xmlsecVerify(xml, cert, 'urn:oasis:names:tc:SAML:2.0:protocol:Response');
        expect(result.output).toContain('OK');
        expect(result.ok).toBe(true);
      }
      if (haveTool('xmllint')) {
        const result = xmllintValidate(xml, 'saml-schema-protocol-2.0.xsd');
        expect(result.output).toContain('validates');
        expect(result.ok).toBe(true);
      }
    });

    it('refuses a replayed AuthnRequest URL with an error page, never a response', async () => {
      const browser = new HttpBrowser();
      const url = await sp.getAuthorizeUrlAsync('', undefined, {});
      await signInAt(browser, url, acs);
      const replay = await browser.request(url);
      expect(replay.status).toBe(400);
      expect(await replay.text()).toContain('already used');
    });

    it('refuses a request whose signature was removed (the SP signs per its metadata)', async () => {
      const url = new URL(await sp.getAuthorizeUrlAsync('', undefined, {}));
      url.searchParams.delete('Signature');
      const response = await fetch(url);
      expect(response.status).toBe(400);
      expect(await response.text()).toContain('not signed');
    });

    it('carries a return-URL RelayState over 80 bytes (up to 2048) and answers a longer one with a SAML error Response at the ACS', async () => {
      const browser = new HttpBrowser();
      const returnUrl = `https://node-saml.example.test/app/reports?${'filter=open&'.repeat(40)}`;
      expect(Buffer.byteLength(returnUrl)).toBeGreaterThan(80);
      const form = await signInAt(browser, await sp.getAuthorizeUrlAsync(returnUrl, undefined, {}), acs);
      expect(form.fields['RelayState']).toBe(returnUrl);
      expect((await sp.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']!, RelayState: returnUrl })).profile).toBeTruthy();

      const refused = await browser.request(await sp.getAuthorizeUrlAsync('x'.repeat(2049), undefined, {}));
      expect(refused.status).toBe(200);
      const error = formOf(await refused.text());
      expect(error.action).toBe(acs);
      expect(error.fields['RelayState']).toBeUndefined();
      const xml = Buffer.from(error.fields['SAMLResponse']!, 'base64').toString('utf8');
      expect(xml).toContain('urn:oasis:names:tc:SAML:2.0:status:Requester');
      expect(xml).toContain('RelayState is 2049 bytes; this identity provider accepts at most 2048');
      if (haveTool('xmllint')) expect(xmllintValidate(xml, 'saml-schema-protocol-2.0.xsd').output).toContain('validates');
      await expect(sp.validatePostResponseAsync({ SAMLResponse: error.fields['SAMLResponse']! })).rejects.toThrow(/RelayState is 2049 bytes/);
    });
  });

  describe('saml2-js as SP (Redirect request signed, POST response)', () => {
    const entityId = 'https://saml2-js.example.test/metadata.xml';
    const acs = 'https://saml2-js.example.test/assert';
    let sp: InstanceType<typeof saml2.ServiceProvider>;
    let idp: InstanceType<typeof saml2.IdentityProvider>;

    beforeAll(async () => {
      const credentials = await spCredentials('saml2-js SP');
      sp = new saml2.ServiceProvider({
        entity_id: entityId,
        private_key: credentials.keyPem,
        certificate: credentials.certPem,
        assert_endpoint: acs,
        sign_get_request: true,
        nameid_format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
        allow_unencrypted_assertion: true,
      });
      idp = new saml2.IdentityProvider({ sso_login_url: `${issuer}/saml/sso`, sso_logout_url: `${issuer}/saml/slo`, certificates: [idpCert] });
      await register(sp.create_metadata());
    });

    it('signs in SP-initiated and saml2-js post_assert accepts the response', async () => {
      const url = await new Promise<string>((resolve, reject) =>
        sp.create_login_request_url(idp, { relay_state: 'rs' }, (error, login) => (error ? reject(error) : resolve(login))),
      );
      const form = await signInAt(new HttpBrowser(), url, acs);
      expect(form.action).toBe(acs);
      const response = await new Promise<SAMLAssertResponse>((resolve, reject) =>
        sp.post_assert(idp, { request_body: { SAMLResponse: form.fields['SAMLResponse'], RelayState: form.fields['RelayState'] } }, (error, result) =>
          error ? reject(error) : resolve(result),
        ),
      );
      expect(response.type).toBe('authn_response');
      expect(response.user.name_id).toBeTruthy();
      expect(response.user.session_index).toBeTruthy();
    });

    it('sends an IdP-initiated (unsolicited) response to the default ACS', async () => {
      const browser = new HttpBrowser();
      const form = await signInAt(browser, `${issuer}/saml/sso/idp?sp=${encodeURIComponent(entityId)}&RelayState=home`, acs);
      expect(form.action).toBe(acs);
      expect(form.fields['RelayState']).toBe('home');
      const xml = Buffer.from(form.fields['SAMLResponse']!, 'base64').toString('utf8');
      expect(xml).not.toContain('InResponseTo');
      const response = await new Promise<SAMLAssertResponse>((resolve, reject) =>
        sp.post_assert(idp, { request_body: { SAMLResponse: form.fields['SAMLResponse'] } }, (error, result) => (error ? reject(error) : resolve(result))),
      );
      expect(response.user.name_id).toBeTruthy();
    });
  });
  describe('node-saml and saml2-js in one SSO session: a SessionIndex each, and Single Logout started by either', () => {
    const nodeEntity = 'https://node-saml-slo.example.test/sp';
    const nodeAcs = 'https://node-saml-slo.example.test/acs';
    const nodeSlo = 'https://node-saml-slo.example.test/slo';
    const jsEntity = 'https://saml2-js-slo.example.test/metadata.xml';
    const jsEndpoint = 'https://saml2-js-slo.example.test/assert';
    let nodeSp: SAML;
    let jsSp: InstanceType<typeof saml2.ServiceProvider>;
    let idp: InstanceType<typeof saml2.IdentityProvider>;

    beforeAll(async () => {
      const nodeCredentials = await spCredentials('node-saml SLO SP');
      nodeSp = new SAML({
        entryPoint: `${issuer}/saml/sso`,
        logoutUrl: `${issuer}/saml/slo`,
        logoutCallbackUrl: nodeSlo,
        issuer: nodeEntity,
        callbackUrl: nodeAcs,
        idpCert,
        privateKey: nodeCredentials.keyPem,
        publicCert: nodeCredentials.certPem,
        signatureAlgorithm: 'sha256',
        identifierFormat: PERSISTENT,
        audience: nodeEntity,
        wantAssertionsSigned: true,
        wantAuthnResponseSigned: true,
      });
      await register(nodeSp.generateServiceProviderMetadata(null, nodeCredentials.certPem));
      const jsCredentials = await spCredentials('saml2-js SLO SP');
      jsSp = new saml2.ServiceProvider({
        entity_id: jsEntity,
        private_key: jsCredentials.keyPem,
        certificate: jsCredentials.certPem,
        assert_endpoint: jsEndpoint,
        sign_get_request: true,
        allow_unencrypted_assertion: true,
      });
      idp = new saml2.IdentityProvider({ sso_login_url: `${issuer}/saml/sso`, sso_logout_url: `${issuer}/saml/slo`, certificates: [idpCert] });
      await register(jsSp.create_metadata());
    });

    const jsAssert = (body: Record<string, string>, get: boolean) =>
      new Promise<SAMLAssertResponse & { id?: string; session_index?: string; name_id?: string }>((resolve, reject) =>
        (get ? jsSp.redirect_assert.bind(jsSp) : jsSp.post_assert.bind(jsSp))(idp, { request_body: body }, (error, result) =>
          error ? reject(error) : resolve(result as never),
        ),
      );

    /** Signs in to both SPs in one browser; what each SP read from its assertion. */
    async function signInToBoth(browser: HttpBrowser) {
      const nodeForm = await signInAt(browser, await nodeSp.getAuthorizeUrlAsync('', undefined, {}), nodeAcs);
      const { profile } = await nodeSp.validatePostResponseAsync({ SAMLResponse: nodeForm.fields['SAMLResponse']! });
      const jsUrl = await new Promise<string>((resolve, reject) =>
        jsSp.create_login_request_url(idp, {}, (error, login) => (error ? reject(error) : resolve(login))),
      );
      const jsForm = await signInAt(browser, jsUrl, jsEndpoint);
      const js = await jsAssert({ SAMLResponse: jsForm.fields['SAMLResponse']! }, false);
      return { node: profile!, js: js.user };
    }

    /** saml2-js leaves reading the request's ID to the application. */
    const requestIdOf = (location: string) =>
      /ID="([^"]+)"/.exec(inflateRawSync(Buffer.from(new URL(location).searchParams.get('SAMLRequest')!, 'base64')).toString('utf8'))![1]!;
    const query = (location: string) => Object.fromEntries(new URL(location).searchParams) as Record<string, string>;

    it('each SP sees its own SessionIndex; node-saml starts logout, saml2-js is told with its own index, node-saml gets Success', async () => {
      const browser = new HttpBrowser();
      const { node, js } = await signInToBoth(browser);
      expect(node.sessionIndex).toBeTruthy();
      expect(js.session_index).toBeTruthy();
      expect(node.sessionIndex).not.toBe(js.session_index);

      const started = await browser.request(await nodeSp.getLogoutUrlAsync(node, 'node-rs', {}));
      expect(started.status).toBe(303);
      const toJs = started.headers.get('location')!;
      expect(toJs.startsWith(`${jsEndpoint}?`)).toBe(true);
      const told = await jsAssert(query(toJs), true);
      expect(told.type).toBe('logout_request');
      expect((told as unknown as { session_index: string }).session_index).toBe(js.session_index);
      const jsAnswer = await new Promise<string>((resolve, reject) =>
        jsSp.create_logout_response_url(idp, { in_response_to: requestIdOf(toJs) }, (error, url) => (error ? reject(error) : resolve(url))),
      );
      const finished = await browser.request(jsAnswer);
      const page = await finished.text();
      expect([finished.status, page]).toEqual([200, expect.stringContaining('SAMLResponse')]);
      const form = formOf(page);
      expect(form.action).toBe(nodeSlo);
      expect(form.fields['RelayState']).toBe('node-rs');
      const result = await nodeSp.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']! });
      expect(result.loggedOut).toBe(true);
    });

    it('saml2-js starts logout; node-saml is told with its own index and answers; saml2-js gets Success', async () => {
      const browser = new HttpBrowser();
      const { node, js } = await signInToBoth(browser);
      expect(node.sessionIndex).not.toBe(js.session_index);
      const logoutUrl = await new Promise<string>((resolve, reject) =>
        jsSp.create_logout_request_url(idp, { name_id: js.name_id, session_index: js.session_index, relay_state: 'js-rs' }, (error, url) =>
          error ? reject(error) : resolve(url),
        ),
      );
      const started = await browser.request(logoutUrl);
      expect(started.status).toBe(200);
      const toNode = formOf(await started.text());
      expect(toNode.action).toBe(nodeSlo);
      const told = await nodeSp.validatePostRequestAsync({ SAMLRequest: toNode.fields['SAMLRequest']! });
      expect(told.loggedOut).toBe(true);
      expect(told.profile!.sessionIndex).toBe(node.sessionIndex);
      const nodeAnswer = await nodeSp.getLogoutResponseUrlAsync(told.profile!, '', {}, true);
      const finished = await browser.request(nodeAnswer);
      expect(finished.status).toBe(303);
      const toJs = finished.headers.get('location')!;
      expect(toJs.startsWith(`${jsEndpoint}?`)).toBe(true);
      expect(new URL(toJs).searchParams.get('RelayState')).toBe('js-rs');
      const result = await jsAssert(query(toJs), true);
      expect(result.type).toBe('logout_response');
    });
  });
});
