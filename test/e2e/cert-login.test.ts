import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { SAML } from '@node-saml/node-saml';
import * as oidc from 'openid-client';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CardApiClient, generateDeviceKey } from '../../agent/sdk.ts';
import { CardAuthority } from '../../lambdas/core/cards/authority.ts';
import type { EnrolResult } from '../../lambdas/core/cards/cards.ts';
import { createOidc } from '../../lambdas/core/oidc/provider.ts';
import { CertificateRegistry } from '../../lambdas/core/pki/registry.ts';
import { AUTHN_CLASS } from '../../lambdas/core/saml/authn-context.ts';
import { createSaml } from '../../lambdas/core/saml/provider.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS, type BackendName } from '../support/backends.ts';
import { cardAccessToken } from '../support/card-flows.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';
import { spCredentials } from '../support/saml-sp.ts';
import { closedPort, loopbackServer } from '../support/loopback-server.ts';

const REDIRECT = 'https://rp.example.test/cb';
const insecure = { execute: [oidc.allowInsecureRequests] };

/** A client key pair and its certificate (PEM), as a TLS client presents them. */
interface ClientCredentials {
  readonly cert: string;
  readonly key: string;
}

/**
 * Certificate (smart-card) login over HTTP: the local stack's mutual-TLS listener, a node https client
 * presenting certificates made here (a card certificate issued by the tenant CA for a key the test holds,
 * and one from an openssl-made external CA the tenant trusts), an openid-client RP redeeming the code and
 * a node-saml SP asking for the Smartcard context; every refusal gets its own error page.
 */
describe.each(BACKENDS)('certificate login through the mutual-TLS listener (%s backend)', (backend: BackendName) => {
  let stack: LocalStack;
  let issuer: string;
  let basicAuth: string;
  let dir: string;
  let rp: oidc.Configuration;
  let alice: ClientCredentials;
  let cardOfAlice: EnrolResult;
  // The functions' log (INFO, so it holds the security events), kept here instead of printed.
  const log: string[] = [];
  let stdout: { mockRestore(): void } | undefined;
  /** The certificate sign-in security events logged so far, in the one schema. */
  const certificateEvents = (): Array<Record<string, unknown>> =>
    log
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"security-event"'))
      .map((line) => (JSON.parse(line) as { securityEvent: Record<string, unknown> }).securityEvent)
      .filter((event) => String(event['reason']).startsWith('certificate'));

  const admin = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${issuer}/admin/v1${path}`, {
      method,
      headers: { Authorization: basicAuth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, type: response.headers.get('content-type'), body: (text ? JSON.parse(text) : undefined) as any };
  };
  const enrol = async (username = 'alice', slots = ['9a']): Promise<EnrolResult> => {
    const response = await admin('POST', '/cards', { username, slots, algorithm: 'p256' });
    if (response.status !== 201) throw new Error(`enrol: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body as EnrolResult;
  };
  const pemKey = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }) as string;

  /**
   * A 9A certificate from the tenant card CA for a key pair this test holds, recorded in the CA's register
   * for the card, exactly as enrolment records the certificate of the card's own key. (The card's own key
   * never leaves the card service; signing the TLS handshake with it needs the agent and pcscd.)
   */
  async function cardCertificate(card: EnrolResult, username = 'alice', slot: '9a' | '9c' | '9e' = '9a'): Promise<ClientCredentials & { serial: string }> {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const runtime = stack.runtime;
    const authority = new CardAuthority(runtime.directory, runtime.residentKeys!, runtime.clock);
    const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    const issued = await authority.issue(
      { tenant: 'demo', username, displayName: username, card: { id: card.card.id, label: card.card.label } },
      slot,
      spki,
      stack.url,
    );
    await new CertificateRegistry(runtime.directory, runtime.clock).recordIssued({
      tenant: 'demo',
      serial: issued.serial,
      card: card.card.id,
      slot,
      notAfter: issued.notAfter,
    });
    // Node's X509Certificate writes the PEM (64-column lines, no blank line when the base64 fills the last one).
    const cert = new X509Certificate(Buffer.from(issued.der)).toString();
    return { cert, key: pemKey(privateKey), serial: issued.serial };
  }

  /** The card is connected: its holder's agent opened a card session (through the card API). */
  async function connect(card: EnrolResult): Promise<void> {
    const token = await cardAccessToken(stack);
    const client = new CardApiClient({ tenantUrl: issuer, accessToken: () => token });
    await client.openSession(card.card.id, await generateDeviceKey());
  }

  /** One HTTPS GET to the mutual-TLS listener (its certificate pinned), with or without a client certificate. */
  function tlsGet(url: string, credentials?: ClientCredentials): Promise<{ status: number; location?: string; body: string }> {
    return new Promise((resolve, reject) => {
      const request = httpsRequest(url, { ca: stack.certListenerPem!, ...(credentials ?? {}), agent: false }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode!,
            ...(response.headers.location ? { location: response.headers.location } : {}),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      request.on('error', reject);
      request.end();
    });
  }

  /** The portal's "Sign in with your smart card" link on a login page. */
  const cardLinkOf = (html: string): string => {
    const href = /<a id="smartcard" href="([^"]+)"/.exec(html)?.[1];
    if (!href) throw new Error(`no smart-card link on the page: ${html.slice(0, 400)}`);
    return href.replace(/&amp;/g, '&');
  };

  /**
   * Follows a sign-in URL to the login page, takes its smart-card link to the mutual-TLS origin with the
   * credentials, and follows the way back to the main origin until `stopAt`. An error page on the
   * mutual-TLS origin is returned as it is.
   */
  async function signInWithCard(browser: HttpBrowser, url: string, stopAt: string, credentials?: ClientCredentials) {
    const { response, url: at } = await browser.follow(url, stopAt);
    expect(at).toContain('/portal/login');
    const loginPage = await response.text();
    const link = cardLinkOf(loginPage);
    expect(link.startsWith(`${stack.certUrl}/t/demo/portal/cert?interaction=`)).toBe(true);
    const answer = await tlsGet(link, credentials);
    if (answer.status !== 303) return { loginPage, error: answer };
    expect(answer.location!.startsWith(`${issuer}/portal/cert/complete?`)).toBe(true);
    const back = await browser.follow(answer.location!, stopAt);
    return { loginPage, url: back.url, response: back.response };
  }

  async function authorizeUrl(extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce,
      ...extra,
    });
    return { url: url.toString(), verifier, nonce };
  }
  const redeem = (callback: string, verifier: string, nonce: string) =>
    oidc.authorizationCodeGrant(rp, new URL(callback), { pkceCodeVerifier: verifier, expectedNonce: nonce, idTokenExpected: true });

  /** A password sign-in (the session a step-up starts from). */
  async function passwordSignIn(browser: HttpBrowser, username = 'alice', password = DEMO_PASSWORD) {
    const { url, verifier, nonce } = await authorizeUrl();
    const { response } = await browser.follow(url, REDIRECT);
    const form = formOf(await response.text());
    const done = await browser.follow(form.action, REDIRECT, { form: { ...form.fields, username, password } });
    return redeem(done.url, verifier, nonce);
  }

  /** An openssl-made CA and a client certificate from it (UPN and e-mail SANs, EKU clientAuth). */
  function externalCa(name: string, upn: string, subjectCn = upn): { caPem: string; leaf: ClientCredentials } {
    const at = (file: string) => join(dir, `${name}-${file}`);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      at('ca.key'),
      '-out',
      at('ca.pem'),
      '-subj',
      `/CN=${name} CA/O=External`,
      '-days',
      '30',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    ssl(
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      at('leaf.key'),
      '-out',
      at('leaf.csr'),
      '-subj',
      `/CN=${subjectCn}`,
    );
    writeFileSync(
      at('ext.cnf'),
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth,1.3.6.1.4.1.311.20.2.2\nsubjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:${upn},email:${upn}\n`,
    );
    ssl(
      'x509',
      '-req',
      '-in',
      at('leaf.csr'),
      '-CA',
      at('ca.pem'),
      '-CAkey',
      at('ca.key'),
      '-CAcreateserial',
      '-out',
      at('leaf.pem'),
      '-days',
      '10',
      '-extfile',
      at('ext.cnf'),
    );
    return { caPem: readFileSync(at('ca.pem'), 'utf8'), leaf: { cert: readFileSync(at('leaf.pem'), 'utf8'), key: readFileSync(at('leaf.key'), 'utf8') } };
  }

  /** Another client certificate from the external CA `name` (made by externalCa), for the UPN. */
  function anotherLeaf(name: string, leafName: string, upn: string): ClientCredentials {
    const at = (file: string) => join(dir, `${name}-${file}`);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    ssl(
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      at(`${leafName}.key`),
      '-out',
      at(`${leafName}.csr`),
      '-subj',
      `/CN=${upn}`,
    );
    ssl(
      'x509',
      '-req',
      '-in',
      at(`${leafName}.csr`),
      '-CA',
      at('ca.pem'),
      '-CAkey',
      at('ca.key'),
      '-CAcreateserial',
      '-out',
      at(`${leafName}.pem`),
      '-days',
      '10',
      '-extfile',
      at('ext.cnf'),
    );
    return { cert: readFileSync(at(`${leafName}.pem`), 'utf8'), key: readFileSync(at(`${leafName}.key`), 'utf8') };
  }

  /** A DER CRL signed by the external CA `name` (made by externalCa) listing the given leaves, valid for `seconds` (openssl ca -gencrl). */
  function crlOf(name: string, revokedLeafPems: string[], seconds = 86_400): Buffer {
    const at = (file: string) => join(dir, `${name}-${file}`);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    writeFileSync(at('index.txt'), '');
    writeFileSync(at('crlnumber'), '01\n');
    writeFileSync(at('ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${at('index.txt')}\ncrlnumber=${at('crlnumber')}\ndefault_md=sha256\n`);
    const ca = ['-config', at('ca.cnf'), '-keyfile', at('ca.key'), '-cert', at('ca.pem')];
    revokedLeafPems.forEach((pem, index) => {
      writeFileSync(at(`revoked-${index}.pem`), pem);
      ssl('ca', ...ca, '-revoke', at(`revoked-${index}.pem`), '-crl_reason', 'keyCompromise');
    });
    ssl('ca', ...ca, '-gencrl', '-crlsec', String(seconds), '-out', at('crl.pem'));
    return execFileSync('openssl', ['crl', '-in', at('crl.pem'), '-outform', 'DER'], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cloudcard-certlogin-'));
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      log.push(String(chunk));
      return true;
    });
    stack = await startStackOn(backend, { certListener: { port: 0 }, logLevel: 'INFO' });
    issuer = `${stack.url}/t/demo`;
    basicAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    const issued = await directoryServices(stack.runtime).clients.create(
      'demo',
      {
        client_name: 'cert RP',
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code'],
        scope: 'openid profile',
        token_endpoint_auth_method: 'client_secret_post',
      },
      'admin',
    );
    rp = await oidc.discovery(new URL(issuer), issued.client.client_id, issued.clientSecret!, undefined, insecure);
    cardOfAlice = await enrol();
    alice = await cardCertificate(cardOfAlice);
    await connect(cardOfAlice);
  });
  afterAll(async () => {
    await stack?.close();
    stdout?.mockRestore();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('listens with HTTPS on a second port and advertises the card sign-in on the login page', async () => {
    expect(stack.certUrl).toMatch(/^https:\/\/localhost:\d+$/);
    expect(stack.certUrl).not.toBe(stack.url.replace('http:', 'https:'));
    const { url } = await authorizeUrl();
    const { response } = await new HttpBrowser().follow(url, REDIRECT);
    const page = await response.text();
    expect(page).toContain('name="password"');
    expect(page).toContain('Sign in with your smart card');
  });

  it('a card certificate signs alice in for an OIDC acr_values=smartcard request; the ID token says sc + pin (RFC 8176) and the smart-card acr', async () => {
    const { url, verifier, nonce } = await authorizeUrl({ acr_values: 'urn:cloudcard:acr:smartcard' });
    const browser = new HttpBrowser();
    const result = await signInWithCard(browser, url, REDIRECT, alice);
    // Only the card can satisfy this request: no password form is offered.
    expect(result.loginPage).not.toContain('name="password"');
    expect(result.url!.startsWith(REDIRECT)).toBe(true);
    const tokens = await redeem(result.url!, verifier, nonce);
    const claims = tokens.claims()!;
    expect(claims.sub).toBe('alice');
    expect(claims['acr']).toBe('urn:cloudcard:acr:smartcard');
    expect(claims['amr']).toEqual(['sc', 'pin', 'swk', 'mfa']);
    // The SSO session was set on the main origin: a second request is answered without any sign-in.
    const again = await authorizeUrl({ acr_values: 'urn:cloudcard:acr:smartcard' });
    const { url: answered } = await browser.follow(again.url, REDIRECT);
    expect(answered.startsWith(REDIRECT)).toBe(true);
    expect((await redeem(answered, again.verifier, again.nonce)).claims()!['acr']).toBe('urn:cloudcard:acr:smartcard');
    // The certificate login correlates the SSO session (no live card session of a device here: via the certificate).
    const sso = (await admin('GET', '/users/alice/sessions')).body.sessions.find((s: { id: string }) => s.id === claims['sid']);
    expect(sso?.correlation).toEqual({ state: 'correlated', via: 'certificate', at: expect.any(Number), network: expect.stringMatching(/^127\./) });
  });

  it('steps a password session up to the card when the smart-card acr is asked for', async () => {
    const browser = new HttpBrowser();
    const first = await passwordSignIn(browser);
    expect(first.claims()!['acr']).toBe('urn:cloudcard:acr:password');
    const passwordSession = browser.cookie('cc_sso');
    const { url, verifier, nonce } = await authorizeUrl({ acr_values: 'urn:cloudcard:acr:smartcard' });
    const result = await signInWithCard(browser, url, REDIRECT, alice);
    const claims = (await redeem(result.url!, verifier, nonce)).claims()!;
    expect([claims.sub, claims['acr']]).toEqual(['alice', 'urn:cloudcard:acr:smartcard']);
    expect(browser.cookie('cc_sso')).not.toBe(passwordSession);
  });

  it('a certificate from a trusted external CA signs in by its mapping rule (UPN), at the x509 acr', async () => {
    const external = externalCa('corp', 'alice@corp.example');
    const untrustedMapping = externalCa('nomap', 'alice@corp.example');
    const put = await admin('PUT', '/trusted-cas', {
      certificates: [{ certificate: external.caPem, mapping: { source: 'upn', domain: 'corp.example' } }, untrustedMapping.caPem],
    });
    expect(put.status).toBe(200);
    const { url, verifier, nonce } = await authorizeUrl();
    const result = await signInWithCard(new HttpBrowser(), url, REDIRECT, external.leaf);
    const claims = (await redeem(result.url!, verifier, nonce)).claims()!;
    expect([claims.sub, claims['acr'], claims['amr']]).toEqual(['alice', 'urn:cloudcard:acr:x509', ['sc', 'pop']]);
    // A CA listed without a mapping rule signs no one in.
    const noRule = await signInWithCard(new HttpBrowser(), (await authorizeUrl()).url, REDIRECT, untrustedMapping.leaf);
    expect(noRule.error?.status).toBe(403);
    expect(noRule.error?.body).toContain('Certificate not linked to a user');
  });

  it('checks the CRL the tenant gave for an external CA: a listed certificate is refused, no usable CRL refuses (fail closed)', async () => {
    const ca = externalCa('crlca', 'alice@crl.example');
    const revokedLeaf = anotherLeaf('crlca', 'revoked', 'alice@crl.example');
    const crls = new Map<string, Buffer>([
      ['/ca.crl', crlOf('crlca', [revokedLeaf.cert])],
      ['/stale.crl', crlOf('crlca', [], 1)],
      ['/other.crl', (externalCa('crlca-other', 'x@crl.example'), crlOf('crlca-other', []))],
    ]);
    const server = await loopbackServer((request, response) => {
      const body = crls.get(request.url ?? '');
      response.writeHead(body ? 200 : 404, { 'content-type': 'application/pkix-crl' });
      response.end(body ?? '');
    });
    const trustUrl = (crlUrl: string) =>
      admin('PUT', '/trusted-cas', { certificates: [{ certificate: ca.caPem, mapping: { source: 'upn', domain: 'crl.example' }, crl: { url: crlUrl } }] });
    const trust = (path: string) => trustUrl(`${server.url}${path}`);
    const signIn = async (leaf: ClientCredentials) => signInWithCard(new HttpBrowser(), (await authorizeUrl()).url, REDIRECT, leaf);
    try {
      expect((await trust('/ca.crl')).status).toBe(200);
      expect((await admin('GET', '/trusted-cas')).body.certificates[0].crl).toEqual({ url: `${server.url}/ca.crl` });

      const revoked = await signIn(revokedLeaf);
      expect(revoked.error?.status).toBe(403);
      expect(revoked.error?.body).toContain('Certificate revoked');
      // The CA's other certificate is not listed: it signs in, and the CRL was fetched once for both.
      const { url, verifier, nonce } = await authorizeUrl();
      const good = await signInWithCard(new HttpBrowser(), url, REDIRECT, ca.leaf);
      expect((await redeem(good.url!, verifier, nonce)).claims()!.sub).toBe('alice');
      expect(server.seen.filter((line) => line === 'GET /ca.crl')).toHaveLength(1);

      // No CRL at the URL (404), a CRL signed by another CA, a CRL past its nextUpdate: no usable CRL, so no sign-in.
      await new Promise((resolve) => setTimeout(resolve, 1_100)); // the stale CRL's one second is over
      for (const path of ['/missing.crl', '/other.crl', '/stale.crl']) {
        expect((await trust(path)).status).toBe(200);
        const refused = await signIn(ca.leaf);
        expect([path, refused.error?.status]).toEqual([path, 403]);
        expect(refused.error?.body).toContain('Certificate status unknown');
      }
    } finally {
      await server.close();
    }
    // Each outcome is a security event in the function log, like a password sign-in's.
    expect(certificateEvents()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'sign-in-failure', tenant: 'demo', reason: 'certificate:revoked' }),
        expect.objectContaining({ kind: 'sign-in-success', tenant: 'demo', username: 'alice', reason: 'certificate' }),
        expect.objectContaining({ kind: 'sign-in-failure', tenant: 'demo', reason: 'certificate:revocation-unknown' }),
      ]),
    );

    // The CRL server down (nothing listens on its port): no CRL, so no sign-in.
    expect((await trustUrl(`http://127.0.0.1:${await closedPort()}/ca.crl`)).status).toBe(200);
    const down = await signIn(ca.leaf);
    expect(down.error?.status).toBe(403);
    expect(down.error?.body).toContain('Certificate status unknown');

    // A CRL URL the outbound policy refuses (an internal address, plain http to a public host) is a 400
    // problem naming the entry, and nothing is written: the list stays as it was.
    for (const refusedUrl of ['https://169.254.169.254/latest/ca.crl', 'http://crl.example.com/ca.crl']) {
      const refused = await trustUrl(refusedUrl);
      expect([refusedUrl, refused.status, refused.type]).toEqual([refusedUrl, 400, expect.stringContaining('application/problem+json')]);
      expect(JSON.stringify(refused.body)).toContain('certificates.0.crl.url');
    }
    expect((await admin('GET', '/trusted-cas')).body.certificates[0].crl.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ca\.crl$/);
  });

  it('maps external certificates by e-mail SAN (the directory address) or by a subject attribute; refuses a rule without its domain', async () => {
    const byEmail = externalCa('mail', 'alice@demo.example');
    const bySubject = externalCa('subject', 'someone@elsewhere.example', 'alice');
    const bad = await admin('PUT', '/trusted-cas', { certificates: [{ certificate: byEmail.caPem, mapping: { source: 'upn' } }] });
    expect(bad.status).toBe(400);
    const put = await admin('PUT', '/trusted-cas', {
      certificates: [
        { certificate: byEmail.caPem, mapping: { source: 'email', domain: 'demo.example' } },
        { certificate: bySubject.caPem, mapping: { source: 'subject', attribute: 'CN' } },
      ],
    });
    expect(put.status).toBe(200);
    expect((await admin('GET', '/trusted-cas')).body.certificates.map((c: { mapping: unknown }) => c.mapping)).toEqual([
      { source: 'email', domain: 'demo.example' },
      { source: 'subject', attribute: 'CN' },
    ]);
    for (const leaf of [byEmail.leaf, bySubject.leaf]) {
      const { url, verifier, nonce } = await authorizeUrl();
      const result = await signInWithCard(new HttpBrowser(), url, REDIRECT, leaf);
      expect((await redeem(result.url!, verifier, nonce)).claims()!.sub).toBe('alice');
    }
  });

  it('a 9E card-authentication certificate (no PIN) signs in at the lower x509 acr; a 9C signing certificate is not for sign-in', async () => {
    const card = await enrol('alice', ['9a', '9c', '9e']);
    const cardAuth = await cardCertificate(card, 'alice', '9e');
    const signing = await cardCertificate(card, 'alice', '9c');
    await connect(card);
    const { url, verifier, nonce } = await authorizeUrl();
    const result = await signInWithCard(new HttpBrowser(), url, REDIRECT, cardAuth);
    const claims = (await redeem(result.url!, verifier, nonce)).claims()!;
    expect([claims['acr'], claims['amr']]).toEqual(['urn:cloudcard:acr:x509', ['sc', 'swk']]);
    const refused = await signInWithCard(new HttpBrowser(), (await authorizeUrl()).url, REDIRECT, signing);
    expect(refused.error?.status).toBe(403);
    expect(refused.error?.body).toContain('Certificate not for sign-in');
  });

  describe('refusals, each with its own page', () => {
    const refused = async (credentials: ClientCredentials | undefined, extra: Record<string, string> = {}) => {
      const result = await signInWithCard(new HttpBrowser(), (await authorizeUrl(extra)).url, REDIRECT, credentials);
      expect(result.error).toBeDefined();
      return result.error!;
    };

    it('no certificate', async () => {
      const error = await refused(undefined);
      expect(error.status).toBe(401);
      expect(error.body).toContain('No smart card certificate');
    });

    it('a certificate from a CA the tenant does not trust', async () => {
      const error = await refused(externalCa('rogue', 'alice@corp.example').leaf);
      expect(error.status).toBe(403);
      expect(error.body).toContain('Certificate not trusted');
    });

    it('a revoked card certificate', async () => {
      const card = await enrol();
      const revoked = await cardCertificate(card);
      await directoryServices(stack.runtime).cards!.revokeCertificate('demo', revoked.serial, 'keyCompromise');
      const error = await refused(revoked);
      expect(error.status).toBe(403);
      expect(error.body).toContain('Certificate revoked');
      expect(error.body).toContain('keyCompromise');
    });

    it('a disconnected card', async () => {
      const card = await enrol();
      const credentials = await cardCertificate(card);
      await connect(card);
      expect((await admin('POST', `/cards/${card.card.id}/disconnect`)).status).toBe(200);
      const error = await refused(credentials);
      expect(error.status).toBe(403);
      expect(error.body).toContain('Card not connected');
    });

    it('a deleted card', async () => {
      const card = await enrol();
      const credentials = await cardCertificate(card);
      expect((await admin('DELETE', `/cards/${card.card.id}`)).status).toBe(204);
      const error = await refused(credentials);
      expect(error.status).toBe(403);
      expect(error.body).toContain('Card deleted');
    });

    it("the wrong card: alice's card for a request bound to bob by id_token_hint", async () => {
      await directoryServices(stack.runtime).users.add('demo', { username: 'bob', displayName: 'Bob', password: 'bob password 123456' });
      const bob = await passwordSignIn(new HttpBrowser(), 'bob', 'bob password 123456');
      const error = await refused(alice, { id_token_hint: bob.id_token!, acr_values: 'urn:cloudcard:acr:smartcard' });
      expect(error.status).toBe(403);
      expect(error.body).toContain('Wrong card');
    });

    it('a code from the mutual-TLS origin cannot be redeemed by another browser', async () => {
      const { url } = await authorizeUrl();
      const { response } = await new HttpBrowser().follow(url, REDIRECT);
      const answer = await tlsGet(cardLinkOf(await response.text()), alice);
      expect(answer.status).toBe(303);
      const stranger = await new HttpBrowser().request(answer.location!);
      expect(stranger.status).toBe(400);
      expect(await stranger.text()).toContain('Sign-in expired');
    });
  });

  it('a SAML SP asking for the Smartcard context (exact) gets it after a certificate login', async () => {
    const metadataXml = await (await fetch(`${issuer}/saml/metadata`)).text();
    const idpCert = /<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/.exec(metadataXml)![1]!;
    const credentials = await spCredentials('smartcard SP');
    const entityId = 'https://smartcard.example.test/sp';
    const acs = 'https://smartcard.example.test/acs';
    const sp = new SAML({
      entryPoint: `${issuer}/saml/sso`,
      issuer: entityId,
      callbackUrl: acs,
      idpCert,
      privateKey: credentials.keyPem,
      publicCert: credentials.certPem,
      signatureAlgorithm: 'sha256',
      audience: entityId,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: true,
      authnContext: [AUTHN_CLASS.smartcard],
      racComparison: 'exact',
    });
    const runtime = stack.runtime;
    await createSaml(
      createOidc({ directory: runtime.directory, state: runtime.state, clock: runtime.clock, random: runtime.random }),
      runtime.directory,
    ).serviceProviders.register('demo', sp.generateServiceProviderMetadata(null, credentials.certPem));
    const result = await signInWithCard(new HttpBrowser(), await sp.getAuthorizeUrlAsync('', undefined, {}), acs, alice);
    expect(result.loginPage).not.toContain('name="password"');
    const form = formOf(await result.response!.text());
    const { profile } = await sp.validatePostResponseAsync({ SAMLResponse: form.fields['SAMLResponse']! });
    expect(profile!.getAssertionXml!()).toContain(`<saml:AuthnContextClassRef>${AUTHN_CLASS.smartcard}</saml:AuthnContextClassRef>`);
  });
});
