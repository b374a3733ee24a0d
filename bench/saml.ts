import { createPrivateKey, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { releaseAttributes } from '../lambdas/core/saml/attribute-mapping.ts';
import { METHOD_CLASS } from '../lambdas/core/saml/authn-context.ts';
import { buildResponse, type ResponseInput } from '../lambdas/core/saml/response.ts';
import type { User } from '../lambdas/core/directory/user.ts';
import { samlId } from '../lambdas/core/saml/xml.ts';
import { spCredentials } from '../test/support/saml-sp.ts';
import { ms, table } from './stats.ts';

/**
 * Building and signing a SAML Response with one signed assertion (the HTTP-POST binding's base64 value),
 * cloudcard's `buildResponse` beside samlify's `createLoginResponse`, in the same process, call by call
 * in turn (both are CPU-bound, so alternating gives each the same machine state); then the same with the
 * assertion encrypted for the SP (AES-256-GCM, RSA-OAEP-MGF1P), signed before encryption and the
 * Response signed after, on both. Fixed counts; no I/O on either side.
 */
export interface SamlBenchOptions {
  readonly builds: number;
  readonly warmup: number;
}

export const SAML_BENCH_DEFAULTS: SamlBenchOptions = { builds: 400, warmup: 40 };

const IDP = 'https://idp.example.test/t/demo/saml/metadata';
const SP = 'https://sp.example.test/metadata';
const ACS = 'https://sp.example.test/acs';
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
const AES256_GCM = 'http://www.w3.org/2009/xmlenc11#aes256-gcm';
const RSA_OAEP = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';

/**
 * The part of samlify the benchmark uses. Loaded without its typings on purpose: they reference an old
 * @xmldom/xmldom whose declarations pull the DOM library into the whole program's type check.
 */
interface SamlifyEntity {
  createLoginResponse(
    sp: SamlifyEntity,
    request: unknown,
    binding: 'post',
    user: unknown,
    replace: (template: string) => { id: string; context: string },
    encryptThenSign: boolean,
  ): Promise<{ context: string }>;
}
interface Samlify {
  setSchemaValidator(validator: { validate: (xml: string) => Promise<string> }): void;
  IdentityProvider(settings: Record<string, unknown>): SamlifyEntity;
  ServiceProvider(settings: Record<string, unknown>): SamlifyEntity;
  Constants: { namespace: { binding: { post: string } } };
  SamlLib: { replaceTagsByValue(template: string, values: Record<string, string>): string };
}
const samlify = createRequire(import.meta.url)('samlify') as Samlify;

const user: User = {
  tenant: 'demo',
  username: 'alice',
  email: 'alice@example.test',
  displayName: 'Alice Example',
  status: 'active',
  createdAt: '',
  updatedAt: '',
  version: 1,
};

/**
 * samlify's login-response template carrying what ours carries: bearer confirmation, audience, an
 * AuthnStatement with the class and session index, and the two default attributes (mail, displayName).
 */
const SAMLIFY_TEMPLATE =
  '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}" InResponseTo="{InResponseTo}">' +
  '<saml:Issuer>{Issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{StatusCode}"/></samlp:Status>' +
  '<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="{AssertionID}" Version="2.0" IssueInstant="{IssueInstant}"><saml:Issuer>{Issuer}</saml:Issuer>' +
  '<saml:Subject><saml:NameID Format="{NameIDFormat}" SPNameQualifier="{Audience}">{NameID}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{SubjectConfirmationDataNotOnOrAfter}" Recipient="{SubjectRecipient}" InResponseTo="{InResponseTo}"/></saml:SubjectConfirmation></saml:Subject>' +
  '<saml:Conditions NotBefore="{ConditionsNotBefore}" NotOnOrAfter="{ConditionsNotOnOrAfter}"><saml:AudienceRestriction><saml:Audience>{Audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>' +
  '<saml:AuthnStatement AuthnInstant="{IssueInstant}" SessionIndex="{SessionIndex}"><saml:AuthnContext><saml:AuthnContextClassRef>{AuthnContextClassRef}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>' +
  `<saml:AttributeStatement><saml:Attribute Name="mail" NameFormat="${BASIC}"><saml:AttributeValue xsi:type="xs:string">{Mail}</saml:AttributeValue></saml:Attribute>` +
  `<saml:Attribute Name="displayName" NameFormat="${BASIC}"><saml:AttributeValue xsi:type="xs:string">{DisplayName}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>` +
  '</saml:Assertion></samlp:Response>';

function percentiles(samples: readonly number[]): { n: number; p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99) };
}

export async function benchSaml(options: SamlBenchOptions = SAML_BENCH_DEFAULTS): Promise<string> {
  samlify.setSchemaValidator({ validate: async () => 'skipped: the benchmark only builds responses' });
  const idpKeys = await spCredentials('bench IdP');
  const spKeys = await spCredentials('bench SP');
  const spEncryption = await spCredentials('bench SP encryption');
  const random = { bytes: (n: number) => new Uint8Array(randomBytes(n)), id: () => randomBytes(16).toString('base64url') };
  const key = { privateKey: createPrivateKey(idpKeys.keyPem), certificatePem: idpKeys.certPem };

  // cloudcard: the core builder, as the SSO route calls it (minus the store reads), then base64 for the form.
  const ours = async (encrypt: boolean): Promise<string> => {
    const now = Date.now();
    const input: ResponseInput = {
      idpEntityId: IDP,
      spEntityId: SP,
      acsUrl: ACS,
      inResponseTo: samlId(random.bytes(20)),
      now,
      random,
      key,
      subject: {
        nameId: 'pseudonym-0123456789abcdef',
        nameIdFormat: PERSISTENT,
        sessionIndex: random.id(),
        authnInstant: now,
        authnContextClassRef: METHOD_CLASS.password,
        attributes: releaseAttributes(user, undefined),
      },
      sign: { response: true, assertion: true },
      ...(encrypt ? { encryptFor: spEncryption.certPem } : {}),
    };
    return Buffer.from(await buildResponse(input), 'utf8').toString('base64');
  };

  // samlify: an IdP and SP pair per variant; the SP wants the assertion and the message signed.
  const samlifyPair = (encrypt: boolean) => {
    const idp = samlify.IdentityProvider({
      entityID: IDP,
      privateKey: idpKeys.keyPem,
      signingCert: idpKeys.certPem,
      requestSignatureAlgorithm: RSA_SHA256,
      nameIDFormat: [PERSISTENT],
      singleSignOnService: [{ Binding: samlify.Constants.namespace.binding.post, Location: 'https://idp.example.test/t/demo/saml/sso' }],
      singleLogoutService: [{ Binding: samlify.Constants.namespace.binding.post, Location: 'https://idp.example.test/t/demo/saml/slo' }],
      loginResponseTemplate: { context: SAMLIFY_TEMPLATE, attributes: [] },
      isAssertionEncrypted: encrypt,
      dataEncryptionAlgorithm: AES256_GCM,
      keyEncryptionAlgorithm: RSA_OAEP,
    });
    const sp = samlify.ServiceProvider({
      entityID: SP,
      signingCert: spKeys.certPem,
      ...(encrypt ? { encryptCert: spEncryption.certPem } : {}),
      wantAssertionsSigned: true,
      wantMessageSigned: true,
      assertionConsumerService: [{ Binding: samlify.Constants.namespace.binding.post, Location: ACS }],
    });
    return { idp, sp };
  };
  const pairs = { plain: samlifyPair(false), encrypted: samlifyPair(true) };
  const theirs = async (encrypt: boolean): Promise<string> => {
    const { idp, sp } = encrypt ? pairs.encrypted : pairs.plain;
    const now = new Date();
    const later = new Date(now.getTime() + 300_000).toISOString();
    const requestId = samlId(random.bytes(20));
    const response = await idp.createLoginResponse(
      sp,
      { extract: { request: { id: requestId } } },
      'post',
      { email: 'pseudonym-0123456789abcdef' },
      (template: string) => {
        const id = samlId(random.bytes(20));
        return {
          id,
          context: samlify.SamlLib.replaceTagsByValue(template, {
            ID: id,
            AssertionID: samlId(random.bytes(20)),
            Destination: ACS,
            Audience: SP,
            SubjectRecipient: ACS,
            Issuer: IDP,
            IssueInstant: now.toISOString(),
            StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
            ConditionsNotBefore: now.toISOString(),
            ConditionsNotOnOrAfter: later,
            SubjectConfirmationDataNotOnOrAfter: later,
            NameIDFormat: PERSISTENT,
            NameID: 'pseudonym-0123456789abcdef',
            InResponseTo: requestId,
            SessionIndex: random.id(),
            AuthnContextClassRef: METHOD_CLASS.password,
            Mail: user.email!,
            DisplayName: user.displayName,
          }),
        };
      },
      encrypt, // encryptThenSign: sign the assertion, encrypt it, then sign the Response (as ours does)
    );
    return response.context;
  };

  // Sanity: each side's output is what it claims (signatures and, when asked, an EncryptedAssertion).
  for (const encrypt of [false, true]) {
    for (const [name, build] of [
      ['cloudcard', ours],
      ['samlify', theirs],
    ] as const) {
      const xml = Buffer.from(await build(encrypt), 'base64').toString('utf8');
      const signatures = (xml.match(/<ds:Signature[\s>]/g) ?? []).length;
      const encrypted = xml.includes('EncryptedAssertion');
      if (encrypted !== encrypt || signatures !== (encrypt ? 1 : 2))
        throw new Error(`${name} built an unexpected response (encrypted ${encrypted}, visible signatures ${signatures})`);
    }
  }

  const rows: string[][] = [];
  for (const encrypt of [false, true]) {
    const samples = { cloudcard: [] as number[], samlify: [] as number[] };
    for (let i = 0; i < options.warmup + options.builds; i++) {
      for (const [name, build] of [
        ['cloudcard', ours],
        ['samlify', theirs],
      ] as const) {
        const start = performance.now();
        await build(encrypt);
        if (i >= options.warmup) samples[name].push(performance.now() - start);
      }
    }
    const a = percentiles(samples.cloudcard);
    const b = percentiles(samples.samlify);
    const variant = encrypt ? 'Response + signed assertion, encrypted' : 'Response + signed assertion';
    rows.push([variant, 'cloudcard `buildResponse`', ms(a.p50), ms(a.p99), `${(a.p50 / b.p50).toFixed(2)}x`]);
    rows.push([variant, 'samlify 2.13.1 `createLoginResponse`', ms(b.p50), ms(b.p99), '1.00x']);
  }
  return [
    `Both sign with the same RSA-2048 key (RSA-SHA256, exclusive C14N, SHA-256 digests), n=${options.builds} per row after ${options.warmup} warm-up, the two builders called in turn.`,
    '',
    table(['response', 'builder', 'p50 ms', 'p99 ms', 'p50 vs samlify'], rows),
  ].join('\n');
}

// `node bench/saml.ts` runs this part alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.env['BENCH_SAML_QUICK'] === '1';
  process.stdout.write(`${await benchSaml(quick ? { builds: 40, warmup: 5 } : SAML_BENCH_DEFAULTS)}\n`);
}
