import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SAML, type SamlConfig } from '@node-saml/node-saml';
import saml2, { type SAMLAssertResponse } from 'saml2-js';
import * as OTPAuth from 'otpauth';
import { createSaml } from '../../lambdas/core/saml/provider.ts';
import { createOidc } from '../../lambdas/core/oidc/provider.ts';
import { AUTHN_CLASS } from '../../lambdas/core/saml/authn-context.ts';
import { parseAttributeRule } from '../../lambdas/core/saml/attribute-mapping.ts';
import type { SpOptions } from '../../lambdas/core/saml/service-providers.ts';
import { createPublicKey } from 'node:crypto';
import { oidcSettingsOf } from '../../lambdas/core/directory/tenant.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';
import { haveTool, spCredentials, xmllintValidate, xmlsecVerify } from '../support/saml-sp.ts';

const STATUS = 'urn:oasis:names:tc:SAML:2.0:status:';

/**
 * The response side with real SPs: encrypted assertions (node-saml and saml2-js decrypt with their keys),
 * each signing choice an SP library accepts, per-SP attribute maps, and RequestedAuthnContext / ForceAuthn /
 * IsPassive driven through node-saml's own request options.
 */
describe('SAML responses with real service providers: encryption, signing choice, attributes, authn context', () => {
  let stack: LocalStack;
  let issuer: string;
  let idpCert: string;
  let register: (xml: string, options?: SpOptions) => Promise<unknown>;

  beforeAll(async () => {
    stack = await startStackOn('embedded');
    issuer = `${stack.url}/t/demo`;
    const metadataXml = await (await fetch(`${issuer}/saml/metadata`)).text();
    idpCert = /<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/.exec(metadataXml)![1]!;
    const runtime = stack.runtime;
    const saml = createSaml(
      createOidc({ directory: runtime.directory, state: runtime.state, clock: runtime.clock, random: runtime.random }),
      runtime.directory,
    );
    register = (xml, options) => saml.serviceProviders.register('demo', xml, options);
  });
  afterAll(async () => stack.close());

  const decoded = (samlResponse: string) => Buffer.from(samlResponse, 'base64').toString('utf8');
  const statusCodes = (xml: string) => [...xml.matchAll(/<samlp:StatusCode Value="([^"]+)"/g)].map((match) => match[1]!.replace(STATUS, ''));

  /**
   * Follows the SSO URL to the auto-POST form, signing in on the way when the portal asks (password, and
   * the one-time code when `totp` is given). Returns the form and which portal pages were shown.
   */
  async function signInAt(
    browser: HttpBrowser,
    url: string,
    acs: string,
    totp?: OTPAuth.TOTP,
    login = { username: 'alice', password: DEMO_PASSWORD },
  ): Promise<{ fields: Record<string, string>; action: string; pages: string[] }> {
    const pages: string[] = [];
    let { response, url: at } = await browser.follow(url, acs);
    let text = await response.text();
    for (let step = 0; step < 3 && !text.includes('SAMLResponse'); step++) {
      expect(response.status).toBe(200);
      const form = formOf(text);
      pages.push(new URL(at).pathname.split('/').pop()!);
      const answer: Record<string, string> = form.action.endsWith('/portal/otp') ? { code: totp!.generate() } : login;
      ({ response, url: at } = await browser.follow(form.action, acs, { form: { ...form.fields, ...answer } }));
      text = await response.text();
    }
    expect(response.status).toBe(200);
    return { ...formOf(text), pages };
  }

  async function nodeSamlSp(name: string, config: Partial<SamlConfig>, options: SpOptions = {}, encrypt = false): Promise<SAML> {
    const credentials = await spCredentials(`${name} SP`);
    const encryption = encrypt ? await spCredentials(`${name} SP encryption`) : undefined;
    const entityId = `https://${name}.example.test/sp`;
    const sp = new SAML({
      entryPoint: `${issuer}/saml/sso`,
      issuer: entityId,
      callbackUrl: `https://${name}.example.test/acs`,
      idpCert,
      privateKey: credentials.keyPem,
      publicCert: credentials.certPem,
      signatureAlgorithm: 'sha256',
      audience: entityId,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: true,
      ...(encryption ? { decryptionPvk: encryption.keyPem } : {}),
      ...config,
    });
    await register(sp.generateServiceProviderMetadata(encryption?.certPem ?? null, credentials.certPem), options);
    return sp;
  }

  describe('metadata keys', () => {
    const certificatesFor = (xml: string, use: string) =>
      [...xml.matchAll(/<md:KeyDescriptor use="([^"]+)">(.*?)<\/md:KeyDescriptor>/g)]
        .filter((match) => match[1] === use)
        .map((match) => /<ds:X509Certificate>([^<]+)</.exec(match[2]!)![1]!);
    const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;

    it("lists the signing certificate, the next key's certificate and an encryption key; schema-valid and signed", async () => {
      const xml = await (await fetch(`${issuer}/saml/metadata`)).text();
      const signing = certificatesFor(xml, 'signing');
      expect(signing).toHaveLength(2);
      expect(signing[0]).toBe(idpCert);
      expect(certificatesFor(xml, 'encryption')).toEqual([idpCert]);
      expect(xml).toContain('<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>');
      // The second signing certificate is the JWKS "next" key: same modulus as a published key that is not the current one.
      const jwks = (await (await fetch(`${issuer}/oidc/jwks`)).json()) as { keys: { n: string }[] };
      const modulus = (body: string) => (createPublicKey(pem(body)).export({ format: 'jwk' }) as { n: string }).n;
      expect(jwks.keys.map((key) => key.n)).toEqual(expect.arrayContaining([modulus(signing[0]!), modulus(signing[1]!)]));
      if (haveTool('xmllint')) {
        const result = xmllintValidate(xml, 'saml-schema-metadata-2.0.xsd');
        expect(result.output).toContain('validates');
        expect(result.ok).toBe(true);
      }
      if (haveTool('xmlsec1')) expect(xmlsecVerify(xml, pem(idpCert), 'urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor').ok).toBe(true);
    });
  });

  describe('assertion encryption', () => {
    it('node-saml decrypts an EncryptedAssertion signed inside and out; xmlsec1 and xmllint agree', async () => {
      const sp = await nodeSamlSp('enc-node-saml', {}, {}, true);
      const form = await signInAt(new HttpBrowser(), await sp.getAuthorizeUrlAsync('', undefined, {}), 'https://enc-node-saml.example.test/acs');
      const xml = decoded(form.fields['SAMLResponse']!);
      expect(xml).toContain('<saml:EncryptedAssertion');
      expect(xml).toContain('http://www.w3.org/2009/xmlenc11#aes256-gcm');
      expect(xml).toContain('http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p');
      expect(xml).not.toContain('<saml:Assertion');
      expect(xml).not.toContain('alice');
      const { profile } = await sp.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']! });
      expect(profile!['mail']).toBeDefined();
      expect(profile!['displayName']).toBeDefined();
      expect(profile!.nameID).toBeTruthy();
      if (haveTool('xmllint')) {
        const result = xmllintValidate(xml, 'saml-schema-protocol-2.0.xsd');
        expect(result.output).toContain('validates');
        expect(result.ok).toBe(true);
      }
      if (haveTool('xmlsec1')) {
        const result = xmlsecVerify(
          xml,
          `-----BEGIN CERTIFICATE-----\n${idpCert}\n-----END CERTIFICATE-----\n`,
          'urn:oasis:names:tc:SAML:2.0:protocol:Response',
        );
        expect(result.ok).toBe(true);
      }
    });

    it('node-saml without the decryption key cannot read it', async () => {
      const sp = await nodeSamlSp('enc-nokey', {}, {}, true);
      const form = await signInAt(new HttpBrowser(), await sp.getAuthorizeUrlAsync('', undefined, {}), 'https://enc-nokey.example.test/acs');
      const keyless = new SAML({ ...sp.options, decryptionPvk: undefined } as unknown as SamlConfig);
      await expect(keyless.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']! })).rejects.toThrow();
    });

    it('node-saml without an encryption key in its metadata gets a plain assertion', async () => {
      const sp = await nodeSamlSp('plain-node-saml', {});
      const form = await signInAt(new HttpBrowser(), await sp.getAuthorizeUrlAsync('', undefined, {}), 'https://plain-node-saml.example.test/acs');
      expect(decoded(form.fields['SAMLResponse']!)).toContain('<saml:Assertion');
      await expect(sp.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']! })).resolves.toBeDefined();
    });
  });

  describe('signing choice', () => {
    it('node-saml accepts --sign response (wantAssertionsSigned false) and --sign assertion (wantAuthnResponseSigned false), encrypted', async () => {
      for (const [name, signing, config] of [
        ['sign-response', 'response', { wantAssertionsSigned: false }],
        ['sign-assertion', 'assertion', { wantAuthnResponseSigned: false }],
      ] as const) {
        const sp = await nodeSamlSp(name, config, { signing }, true);
        const form = await signInAt(new HttpBrowser(), await sp.getAuthorizeUrlAsync('', undefined, {}), `https://${name}.example.test/acs`);
        const xml = decoded(form.fields['SAMLResponse']!);
        // Only the outer Response signature is visible; the assertion's is inside the ciphertext.
        expect((xml.match(/<ds:Signature /g) ?? []).length).toBe(signing === 'response' ? 1 : 0);
        const { profile } = await sp.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']! });
        expect(profile!.nameID).toBeTruthy();
      }
    });

    it('WantAssertionsSigned in node-saml metadata keeps the assertion signed even with --sign response', async () => {
      const sp = await nodeSamlSp('forced-assertion', {}, { signing: 'response' });
      const form = await signInAt(new HttpBrowser(), await sp.getAuthorizeUrlAsync('', undefined, {}), 'https://forced-assertion.example.test/acs');
      expect((decoded(form.fields['SAMLResponse']!).match(/<ds:Signature /g) ?? []).length).toBe(2);
      await expect(sp.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']! })).resolves.toBeDefined();
    });

    it('saml2-js accepts each of response, assertion and both, with its encryption key from metadata', async () => {
      for (const signing of ['response', 'assertion', 'both'] as const) {
        const credentials = await spCredentials(`saml2-js ${signing}`);
        const entityId = `https://saml2-${signing}.example.test/metadata.xml`;
        const acs = `https://saml2-${signing}.example.test/assert`;
        const sp = new saml2.ServiceProvider({
          entity_id: entityId,
          private_key: credentials.keyPem,
          certificate: credentials.certPem,
          assert_endpoint: acs,
          sign_get_request: true,
          allow_unencrypted_assertion: false,
        });
        const idp = new saml2.IdentityProvider({ sso_login_url: `${issuer}/saml/sso`, sso_logout_url: `${issuer}/saml/slo`, certificates: [idpCert] });
        await register(sp.create_metadata(), { signing });
        const url = await new Promise<string>((resolve, reject) =>
          sp.create_login_request_url(idp, {}, (error, login) => (error ? reject(error) : resolve(login))),
        );
        const form = await signInAt(new HttpBrowser(), url, acs);
        expect(decoded(form.fields['SAMLResponse']!)).toContain('<saml:EncryptedAssertion');
        const response = await new Promise<SAMLAssertResponse>((resolve, reject) =>
          sp.post_assert(idp, { request_body: { SAMLResponse: form.fields['SAMLResponse'] } }, (error, result) => (error ? reject(error) : resolve(result))),
        );
        expect(response.user.name_id).toBeTruthy();
      }
    });
  });

  it('releases the configured attribute map, with URI names and FriendlyName', async () => {
    const attributeMap = [parseAttributeRule('urn:oid:0.9.2342.19200300.100.1.3=email;friendly=mail'), parseAttributeRule('uid=username')];
    const sp = await nodeSamlSp('attributes', {}, { attributeMap });
    const form = await signInAt(new HttpBrowser(), await sp.getAuthorizeUrlAsync('', undefined, {}), 'https://attributes.example.test/acs');
    const { profile } = await sp.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']! });
    expect(profile!['uid']).toBe('alice');
    expect(profile!['urn:oid:0.9.2342.19200300.100.1.3']).toBeDefined();
    expect(profile!['displayName']).toBeUndefined();
    expect(decoded(form.fields['SAMLResponse']!)).toContain('FriendlyName="mail"');
  });

  it('keeps markup in directory values as text: node-saml reads the exact value and no injected attribute', async () => {
    const injected = 'M</saml:AttributeValue></saml:Attribute><saml:Attribute Name="role"><saml:AttributeValue>admin<!--';
    const password = 'mallory password 12345';
    await directoryServices(stack.runtime).users.add('demo', { username: 'mallory', email: 'mallory@example.test', displayName: injected, password });
    const sp = await nodeSamlSp('injection', {}, {}, true);
    const form = await signInAt(new HttpBrowser(), await sp.getAuthorizeUrlAsync('', undefined, {}), 'https://injection.example.test/acs', undefined, {
      username: 'mallory',
      password,
    });
    const { profile } = await sp.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']! });
    expect(profile!['displayName']).toBe(injected);
    expect(profile!['mail']).toBe('mallory@example.test');
    expect(profile!['role']).toBeUndefined();
    expect((profile!.getAssertionXml!().match(/<saml:Attribute /g) ?? []).length).toBe(2);
  });

  describe('RequestedAuthnContext, ForceAuthn, IsPassive (node-saml request options)', () => {
    it('answers a smart-card-only request with Requester/NoAuthnContext, never a password login', async () => {
      for (const [name, authnContext, racComparison] of [
        ['rac-x509', [AUTHN_CLASS.x509], 'exact'],
        ['rac-better-totp', [AUTHN_CLASS.totp], 'better'],
        ['rac-min-card', [AUTHN_CLASS.smartcard], 'minimum'],
      ] as const) {
        const sp = await nodeSamlSp(name, { authnContext: [...authnContext], racComparison });
        const browser = new HttpBrowser();
        const form = await signInAt(browser, await sp.getAuthorizeUrlAsync('', undefined, {}), `https://${name}.example.test/acs`);
        expect([name, form.pages]).toEqual([name, []]);
        const xml = decoded(form.fields['SAMLResponse']!);
        expect(statusCodes(xml)).toEqual(['Requester', 'NoAuthnContext']);
        expect(xml).not.toContain('Assertion');
        await expect(sp.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']! })).rejects.toThrow(/NoAuthnContext|Requester/);
      }
    });

    it('exact TimeSyncToken for a user without a one-time code: the password login is not enough (NoAuthnContext)', async () => {
      const sp = await nodeSamlSp('rac-totp-none', { authnContext: [AUTHN_CLASS.totp], racComparison: 'exact' });
      const form = await signInAt(new HttpBrowser(), await sp.getAuthorizeUrlAsync('', undefined, {}), 'https://rac-totp-none.example.test/acs');
      expect(form.pages).toEqual(['login']);
      expect(statusCodes(decoded(form.fields['SAMLResponse']!))).toEqual(['Requester', 'NoAuthnContext']);
    });

    it('steps a password session up to TOTP, reports the class used, and honours ForceAuthn and IsPassive', async () => {
      const enrolment = directoryServices(stack.runtime).totp!;
      const { secretBase32 } = await enrolment.enroll('demo', 'alice', 'cloudcard demo');
      const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secretBase32), algorithm: 'SHA1', digits: 6, period: 30 });
      try {
        const browser = new HttpBrowser();
        // IsPassive with no session: NoPassive, no portal page.
        const passive = await nodeSamlSp('rac-passive', { passive: true, racComparison: 'minimum' });
        const refused = await signInAt(browser, await passive.getAuthorizeUrlAsync('', undefined, {}), 'https://rac-passive.example.test/acs');
        expect(refused.pages).toEqual([]);
        expect(statusCodes(decoded(refused.fields['SAMLResponse']!))).toEqual(['Responder', 'NoPassive']);

        // A password login (node-saml's default: exact PasswordProtectedTransport).
        const passwordSp = await nodeSamlSp('rac-password', {});
        const first = await signInAt(browser, await passwordSp.getAuthorizeUrlAsync('', undefined, {}), 'https://rac-password.example.test/acs');
        expect(first.pages).toEqual(['login']);
        expect(decoded(first.fields['SAMLResponse']!)).toContain(AUTHN_CLASS.password);

        // IsPassive asking for exactly TimeSyncToken: the password session does not hold it, so NoPassive.
        const passiveTotp = await nodeSamlSp('rac-passive-totp', { passive: true, authnContext: [AUTHN_CLASS.totp] });
        const notHeld = await signInAt(browser, await passiveTotp.getAuthorizeUrlAsync('', undefined, {}), 'https://rac-passive-totp.example.test/acs');
        expect(notHeld.pages).toEqual([]);
        expect(statusCodes(decoded(notHeld.fields['SAMLResponse']!))).toEqual(['Responder', 'NoPassive']);

        // minimum TimeSyncToken: the password session is not enough, the portal steps up to the code.
        const totpSp = await nodeSamlSp('rac-min-totp', { authnContext: [AUTHN_CLASS.totp], racComparison: 'minimum' });
        const stepped = await signInAt(browser, await totpSp.getAuthorizeUrlAsync('', undefined, {}), 'https://rac-min-totp.example.test/acs', totp);
        expect(stepped.pages).toEqual(['login', 'otp']);
        const { profile } = await totpSp.validatePostResponseAsync({ SAMLResponse: stepped.fields['SAMLResponse']! });
        expect(profile!.getAssertionXml!()).toContain(AUTHN_CLASS.totp);

        // The TOTP session now answers a minimum-password request directly, with the class actually used.
        const minimum = await nodeSamlSp('rac-min-password', { authnContext: [AUTHN_CLASS.password], racComparison: 'minimum' });
        const again = await signInAt(browser, await minimum.getAuthorizeUrlAsync('', undefined, {}), 'https://rac-min-password.example.test/acs');
        expect(again.pages).toEqual([]);
        expect(decoded(again.fields['SAMLResponse']!)).toContain(AUTHN_CLASS.totp);

        // IsPassive with a satisfying session is answered: minimum password (stated: TimeSyncToken), and
        // exactly PasswordProtectedTransport, which the TOTP session attests too (the password went over
        // TLS), stated as such. ForceAuthn signs in again despite the session.
        const passiveExact = await nodeSamlSp('rac-passive-exact', { passive: true });
        const exact = await signInAt(browser, await passiveExact.getAuthorizeUrlAsync('', undefined, {}), 'https://rac-passive-exact.example.test/acs');
        expect(exact.pages).toEqual([]);
        const { profile: exactProfile } = await passiveExact.validatePostResponseAsync({ SAMLResponse: exact.fields['SAMLResponse']! });
        expect(exactProfile!.getAssertionXml!()).toContain(`<saml:AuthnContextClassRef>${AUTHN_CLASS.password}<`);
        const passiveOk = await signInAt(browser, await passive.getAuthorizeUrlAsync('', undefined, {}), 'https://rac-passive.example.test/acs');
        expect(statusCodes(decoded(passiveOk.fields['SAMLResponse']!))).toEqual(['Success']);
        const force = await nodeSamlSp('rac-force', { forceAuthn: true });
        const forced = await signInAt(browser, await force.getAuthorizeUrlAsync('', undefined, {}), 'https://rac-force.example.test/acs');
        expect(forced.pages).toEqual(['login']);
        await expect(force.validatePostResponseAsync({ SAMLResponse: forced.fields['SAMLResponse']! })).resolves.toBeDefined();
      } finally {
        await enrolment.remove('demo', 'alice');
      }
    });
  });
  // Last: it rotates the demo tenant's keys, which the other tests' SPs pinned.
  describe('metadata keys across a rotation', () => {
    it('after a key rotation, the published next certificate is the one that signs', async () => {
      const runtime = stack.runtime;
      // A fresh model instance (no key-ring cache) sees the rotation at once; the running stack's cache catches up within 30 s.
      const fresh = () =>
        createSaml(
          createOidc({
            directory: runtime.directory,
            state: runtime.state,
            clock: runtime.clock,
            random: runtime.random,
            ...(runtime.custody ? { custody: runtime.custody } : {}),
          }),
          runtime.directory,
        );
      const services = directoryServices(runtime);
      const settings = oidcSettingsOf(await services.tenants.get('demo'));
      const before = fresh();
      const announced = await before.certificates.nextCertificate('demo', settings);
      expect(announced).toBeDefined();
      await before.oidc.keys.rotate('demo', settings, 600);
      const after = fresh();
      expect((await after.certificates.signingKey('demo', settings)).certificatePem).toBe(announced);
      expect(await after.certificates.nextCertificate('demo', settings)).not.toBe(announced);
    });
  });
});
