import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as x509 from '@peculiar/x509';
import { execFile } from 'node:child_process';
import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CardSummary, EnrolResult } from '../../lambdas/core/cards/cards.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS, testClock, type BackendName } from '../support/backends.ts';
import { certificateKeys } from '../../lambdas/core/pki/registry.ts';
import { startStackOn } from '../support/oidc-stack.ts';

const run = promisify(execFile);

/** A self-signed certificate made here: a CA or not, valid in the window given. */
async function selfSigned(options: { ca: boolean; notBefore: Date; notAfter: Date }): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: `CN=external ${options.ca ? 'CA' : 'leaf'}`,
      notBefore: options.notBefore,
      notAfter: options.notAfter,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
      extensions: [new x509.BasicConstraintsExtension(options.ca, undefined, true)],
    },
    webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1],
  );
  return certificate.toString('pem');
}

/** openssl's output and exit status, without throwing on a non-zero exit (a refused verify is a result). */
async function openssl(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('openssl', args);
    return { code: 0, out: `${stdout}${stderr}` };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, out: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

/**
 * The tenant card CA as a PKI, through the public endpoints of the running local stack and checked by
 * OpenSSL as any relying party would: `openssl verify -crl_check` against the served CRL, `openssl ocsp`
 * against the responder (POST) and a GET request, for a good, a revoked and a deleted card's certificate.
 */
describe.each(BACKENDS)('card CA PKI on the %s backend', (backend: BackendName) => {
  const clock = testClock();
  const tenant = 'pki';
  let stack: LocalStack;
  let basicAuth: string;
  let dir: string;
  let good: EnrolResult;
  let revoked: EnrolResult;
  let deleted: EnrolResult;

  const admin = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${stack.url}/t/${tenant}/admin/v1${path}`, {
      method,
      headers: { Authorization: basicAuth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as any };
  };
  const enrol = async (): Promise<EnrolResult> => {
    const response = await admin('POST', '/cards', { username: 'alice', slots: ['9a'], algorithm: 'p256' });
    if (response.status !== 201) throw new Error(`enrol: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body as EnrolResult;
  };
  const pemOf = async (card: EnrolResult): Promise<string> => {
    const shown = (await admin('GET', `/cards/${card.card.id}`)).body as CardSummary;
    return shown.slots[0]!.certificate!.pem;
  };
  const file = (name: string, content: string | Uint8Array): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const fetchCrlPem = async (): Promise<string> => {
    const response = await fetch(`${stack.url}/t/${tenant}/pki/crl`, { headers: { Accept: 'application/pkix-crl' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pkix-crl');
    const der = file('crl.der', new Uint8Array(await response.arrayBuffer()));
    const converted = await openssl(['crl', '-inform', 'DER', '-in', der, '-out', join(dir, 'crl.pem')]);
    expect(converted.code).toBe(0);
    return join(dir, 'crl.pem');
  };
  const ocsp = (certPath: string, ...extra: string[]) =>
    openssl([
      'ocsp',
      '-issuer',
      join(dir, 'ca.pem'),
      '-CAfile',
      join(dir, 'ca.pem'),
      '-cert',
      certPath,
      '-url',
      `${stack.url}/t/${tenant}/pki/ocsp`,
      '-header',
      'Accept=application/ocsp-response',
      '-resp_text',
      ...extra,
    ]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cloudcard-pki-'));
    stack = await startStackOn(backend, { clock });
    basicAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    const base = `${stack.url}/t/${tenant}/admin/v1`;
    expect(
      (await fetch(`${base}/tenant`, { method: 'POST', headers: { Authorization: basicAuth, 'Content-Type': 'application/json' }, body: '{}' })).status,
    ).toBe(201);
    expect((await admin('POST', '/users', { username: 'alice', email: 'alice@example.com', displayName: 'Alice Example' })).status).toBe(201);
    good = await enrol();
    revoked = await enrol();
    deleted = await enrol();
    file('good.pem', await pemOf(good));
    file('revoked.pem', await pemOf(revoked));
    file('deleted.pem', await pemOf(deleted));
  });
  afterAll(async () => {
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers bytes to clients that send no Accept header (openssl ocsp -url, curl), and text routes stay text', async () => {
    // curl -H 'Accept:' removes the header: what OpenSSL's OCSP client and Windows' CRL fetcher send.
    const curl = async (path: string, out: string) =>
      run('curl', ['-sS', '-H', 'Accept:', '-o', join(dir, out), '-w', '%{content_type}', `${stack.url}${path}`]);
    expect((await curl(`/t/${tenant}/pki/ca`, 'noaccept-ca.der')).stdout).toBe('application/pkix-cert');
    expect(new X509Certificate(readFileSync(join(dir, 'noaccept-ca.der'))).ca).toBe(true);
    expect((await curl(`/t/${tenant}/pki/crl`, 'noaccept-crl.der')).stdout).toBe('application/pkix-crl');
    expect((await openssl(['crl', '-inform', 'DER', '-in', join(dir, 'noaccept-crl.der'), '-noout'])).code).toBe(0);
    expect((await curl('/health/live', 'noaccept-health.json')).stdout).toMatch(/json/);
    expect(JSON.parse(readFileSync(join(dir, 'noaccept-health.json'), 'utf8'))).toMatchObject({ status: expect.any(String) });
    file('ca.pem', new X509Certificate(readFileSync(join(dir, 'noaccept-ca.der'))).toString());
    const answer = await openssl([
      'ocsp',
      '-issuer',
      join(dir, 'ca.pem'),
      '-CAfile',
      join(dir, 'ca.pem'),
      '-cert',
      join(dir, 'good.pem'),
      '-url',
      `${stack.url}/t/${tenant}/pki/ocsp`,
    ]);
    expect(answer.out).toContain('Response verify OK');
    expect(answer.out).toMatch(/good\.pem: good/);
  });

  it('serves the CA certificate as DER, or PEM when asked, the same certificate either way', async () => {
    const der = await fetch(`${stack.url}/t/${tenant}/pki/ca`, { headers: { Accept: 'application/pkix-cert' } });
    expect(der.status).toBe(200);
    expect(der.headers.get('content-type')).toBe('application/pkix-cert');
    const derBytes = Buffer.from(await der.arrayBuffer());
    const pem = await fetch(`${stack.url}/t/${tenant}/pki/ca`, { headers: { Accept: 'application/x-pem-file' } });
    expect(pem.headers.get('content-type')).toBe('application/x-pem-file');
    const pemText = await pem.text();
    expect(pemText).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    const parsed = new X509Certificate(pemText);
    expect(parsed.raw.equals(derBytes)).toBe(true);
    expect(parsed.ca).toBe(true);
    file('ca.pem', pemText);
    // A tenant without a card CA has none to serve.
    expect((await fetch(`${stack.url}/t/nocards/pki/ca`)).status).toBe(404);
  });

  it('issues card certificates naming the CRL distribution point and the OCSP and CA issuer URLs', async () => {
    const text = (await openssl(['x509', '-in', join(dir, 'good.pem'), '-noout', '-text'])).out;
    expect(text).toContain(`URI:${stack.url}/t/${tenant}/pki/crl`);
    expect(text).toContain(`OCSP - URI:${stack.url}/t/${tenant}/pki/ocsp`);
    expect(text).toContain(`CA Issuers - URI:${stack.url}/t/${tenant}/pki/ca`);
  });

  it('says good over OCSP (POST, nonce echoed, signed by the CA) for a card certificate in use', async () => {
    const answer = await ocsp(join(dir, 'good.pem'));
    expect(answer.out).toContain('Response verify OK');
    expect(answer.out).toMatch(/good\.pem: good/);
    expect(answer.out).toContain('OCSP Nonce');
    expect(answer.out).not.toContain('WARNING: no nonce');
    expect(answer.code).toBe(0);
  });

  it('revokes a card certificate on an administrator revoke, in the CRL and over OCSP', async () => {
    const response = await admin('POST', `/cards/${revoked.card.id}/revoke`, { reason: 'keyCompromise' });
    expect(response.status).toBe(200);
    expect(response.body.revoked).toHaveLength(1);
    expect(response.body.card.slots[0].certificate.revoked.reason).toBe('keyCompromise');
    const crl = await fetchCrlPem();
    const goodVerify = await openssl(['verify', '-crl_check', '-CAfile', join(dir, 'ca.pem'), '-CRLfile', crl, join(dir, 'good.pem')]);
    expect(goodVerify.out).toContain('good.pem: OK');
    expect(goodVerify.code).toBe(0);
    const revokedVerify = await openssl(['verify', '-crl_check', '-CAfile', join(dir, 'ca.pem'), '-CRLfile', crl, join(dir, 'revoked.pem')]);
    expect(revokedVerify.out).toContain('certificate revoked');
    expect(revokedVerify.code).not.toBe(0);
    const crlText = (await openssl(['crl', '-in', crl, '-noout', '-text'])).out;
    expect(crlText).toContain('X509v3 CRL Number');
    expect(crlText).toContain('Key Compromise');
    expect(crlText).toMatch(/Next Update: /);
    const answer = await ocsp(join(dir, 'revoked.pem'));
    expect(answer.out).toContain('Response verify OK');
    expect(answer.out).toMatch(/revoked\.pem: revoked/);
    expect(answer.out).toContain('Reason: keyCompromise');
  });

  it('reuses a signed OCSP answer without a nonce until the certificate changes state, which is answered at once', async () => {
    const card = await enrol();
    const certificate = file('polled.pem', await pemOf(card));
    const requestPath = join(dir, 'polled-req.der');
    expect((await openssl(['ocsp', '-issuer', join(dir, 'ca.pem'), '-cert', certificate, '-no_nonce', '-reqout', requestPath])).code).toBe(0);
    const ask = async () => {
      const response = await fetch(`${stack.url}/t/${tenant}/pki/ocsp`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/ocsp-request', Accept: 'application/ocsp-response' },
        body: readFileSync(requestPath),
      });
      expect(response.status).toBe(200);
      return Buffer.from(await response.arrayBuffer());
    };
    const first = await ask();
    // The same bytes: one CA signature served to a polling relying party.
    expect((await ask()).equals(first)).toBe(true);
    const read = async (der: Buffer) =>
      (
        await openssl([
          'ocsp',
          '-respin',
          file('polled-resp.der', der),
          '-issuer',
          join(dir, 'ca.pem'),
          '-CAfile',
          join(dir, 'ca.pem'),
          '-reqin',
          requestPath,
          '-resp_text',
        ])
      ).out;
    expect(await read(first)).toMatch(/Cert Status: good/);
    expect((await admin('POST', `/cards/${card.card.id}/revoke`, { reason: 'superseded' })).status).toBe(200);
    const after = await ask();
    expect(after.equals(first)).toBe(false);
    const text = await read(after);
    expect(text).toContain('Response verify OK');
    expect(text).toMatch(/Cert Status: revoked/);
  });

  it('revokes every certificate of a deleted card (cessationOfOperation) in the next CRL', async () => {
    expect((await admin('DELETE', `/cards/${deleted.card.id}`)).status).toBe(204);
    const crl = await fetchCrlPem();
    const verify = await openssl(['verify', '-crl_check', '-CAfile', join(dir, 'ca.pem'), '-CRLfile', crl, join(dir, 'deleted.pem')]);
    expect(verify.out).toContain('certificate revoked');
    expect((await openssl(['crl', '-in', crl, '-noout', '-text'])).out).toContain('Cessation Of Operation');
    expect((await ocsp(join(dir, 'deleted.pem'))).out).toContain('Reason: cessationOfOperation');
  });

  it('serves the CRL as PEM when asked, and the same CRL to every request until the next revocation', async () => {
    const der = Buffer.from(await (await fetch(`${stack.url}/t/${tenant}/pki/crl`, { headers: { Accept: 'application/pkix-crl' } })).arrayBuffer());
    const again = Buffer.from(await (await fetch(`${stack.url}/t/${tenant}/pki/crl`, { headers: { Accept: 'application/pkix-crl' } })).arrayBuffer());
    expect(again.equals(der)).toBe(true);
    const pem = await fetch(`${stack.url}/t/${tenant}/pki/crl`, { headers: { Accept: 'application/x-pem-file' } });
    expect(pem.headers.get('content-type')).toBe('application/x-pem-file');
    const text = await pem.text();
    expect(text).toMatch(/^-----BEGIN X509 CRL-----\n/);
    expect(Buffer.from(text.replace(/-----[^-]+-----|\s/g, ''), 'base64').equals(der)).toBe(true);
  });

  it('answers an OCSP GET (base64 request, URL-encoded, in the path)', async () => {
    const request = join(dir, 'req.der');
    expect((await openssl(['ocsp', '-issuer', join(dir, 'ca.pem'), '-cert', join(dir, 'revoked.pem'), '-reqout', request])).code).toBe(0);
    const encoded = encodeURIComponent(readFileSync(request).toString('base64'));
    const response = await fetch(`${stack.url}/t/${tenant}/pki/ocsp/${encoded}`, { headers: { Accept: 'application/ocsp-response' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/ocsp-response');
    const respPath = file('resp.der', new Uint8Array(await response.arrayBuffer()));
    const text = await openssl(['ocsp', '-respin', respPath, '-issuer', join(dir, 'ca.pem'), '-CAfile', join(dir, 'ca.pem'), '-reqin', request, '-resp_text']);
    expect(text.out).toContain('Response verify OK');
    expect(text.out).toContain('Cert Status: revoked');
  });

  it('says unknown for a serial the CA never issued, unauthorized for another issuer, malformedRequest for garbage', async () => {
    const unknown = await openssl([
      'ocsp',
      '-issuer',
      join(dir, 'ca.pem'),
      '-CAfile',
      join(dir, 'ca.pem'),
      '-serial',
      '0x1234567890',
      '-url',
      `${stack.url}/t/${tenant}/pki/ocsp`,
      '-header',
      'Accept=application/ocsp-response',
    ]);
    expect(unknown.out).toContain('Response verify OK');
    expect(unknown.out).toMatch(/0x1234567890: unknown/);

    const key = join(dir, 'other.key');
    const other = join(dir, 'other.pem');
    expect(
      (
        await openssl([
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          key,
          '-out',
          other,
          '-subj',
          '/CN=other CA',
          '-days',
          '1',
        ])
      ).code,
    ).toBe(0);
    const foreign = await openssl([
      'ocsp',
      '-issuer',
      other,
      '-cert',
      other,
      '-url',
      `${stack.url}/t/${tenant}/pki/ocsp`,
      '-header',
      'Accept=application/ocsp-response',
    ]);
    expect(foreign.out).toContain('unauthorized');

    const post = (body: Uint8Array) =>
      fetch(`${stack.url}/t/${tenant}/pki/ocsp`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/ocsp-request', Accept: 'application/ocsp-response' },
        body,
      });
    const malformed = await post(new TextEncoder().encode('not an OCSP request'));
    expect(malformed.status).toBe(200);
    expect(Buffer.from(await malformed.arrayBuffer()).toString('hex')).toBe('30030a0101'); // OCSPResponse { malformedRequest }
    const truncated = await post(readFileSync(join(dir, 'req.der')).subarray(0, 20));
    expect(Buffer.from(await truncated.arrayBuffer()).toString('hex')).toBe('30030a0101');
    const get = await fetch(`${stack.url}/t/${tenant}/pki/ocsp/${encodeURIComponent('***')}`, { headers: { Accept: 'application/ocsp-response' } });
    expect(Buffer.from(await get.arrayBuffer()).toString('hex')).toBe('30030a0101');
    const wrongType = await fetch(`${stack.url}/t/${tenant}/pki/ocsp`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(wrongType.status).toBe(415);
  });

  it('keeps the trusted external CA list (PUT whole, GET), refusing a non-CA or expired certificate and writing nothing then', async () => {
    expect((await admin('GET', '/trusted-cas')).body).toEqual({ certificates: [] });
    const day = 86_400_000;
    const now = clock.now();
    const ca = await selfSigned({ ca: true, notBefore: new Date(now - day), notAfter: new Date(now + 365 * day) });
    const put = await admin('PUT', '/trusted-cas', { certificates: [ca] });
    expect(put.status).toBe(200);
    expect(put.body.certificates).toHaveLength(1);
    expect(put.body.certificates[0]).toMatchObject({ subject: 'CN=external CA', sha256: new X509Certificate(ca).fingerprint256 });
    expect(new X509Certificate(put.body.certificates[0].pem).raw.equals(new X509Certificate(ca).raw)).toBe(true);

    const leaf = await selfSigned({ ca: false, notBefore: new Date(now - day), notAfter: new Date(now + 365 * day) });
    const expired = await selfSigned({ ca: true, notBefore: new Date(now - 30 * day), notAfter: new Date(now - day) });
    const refused = await admin('PUT', '/trusted-cas', { certificates: [ca, leaf, expired, 'not a certificate'] });
    expect(refused.status).toBe(400);
    expect(refused.body.issues).toEqual([
      'certificates.1: not a CA certificate (basicConstraints cA is not set)',
      expect.stringMatching(/^certificates\.2: expired on /),
      expect.stringMatching(/^certificates\.3: exactly one PEM certificate/),
    ]);
    const listed = await admin('GET', '/trusted-cas');
    expect(listed.body.certificates.map((c: { sha256: string }) => c.sha256)).toEqual([new X509Certificate(ca).fingerprint256]);
    expect((await fetch(`${stack.url}/t/${tenant}/admin/v1/trusted-cas`)).status).toBe(401);
  });

  it('refuses an unknown revocation reason with problem JSON, revoking nothing', async () => {
    const response = await admin('POST', `/cards/${good.card.id}/revoke`, { reason: 'bored' });
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.body)).toContain('keyCompromise');
    expect((await ocsp(join(dir, 'good.pem'))).out).toMatch(/good\.pem: good/);
  });

  // Above 4096 bytes the CA key signs the CRL's SHA-256 digest (KMS DIGEST); moto signs a DIGEST request as
  // a raw message (README, moto gaps), so this case runs where the signature can be right.
  (backend === 'embedded' ? it : it.skip)(
    'publishes a CRL too large for one RAW signing request (150 more revoked certificates) that OpenSSL verifies',
    async () => {
      const at = new Date(Math.floor(clock.now() / 1000) * 1000).toISOString();
      for (let i = 0; i < 150; i += 1) {
        const serial = `7${i.toString(16).padStart(31, '0')}`;
        await stack.runtime.directory.put({
          ...certificateKeys.record(tenant, serial),
          type: 'certificate',
          tenant,
          serial,
          card: `bulk${i}`,
          slot: '9a',
          notAfter: at,
          issuedAt: at,
          status: 'revoked',
          revokedAt: at,
          reason: 'superseded',
          GSI1PK: certificateKeys.revokedPartition(tenant),
          GSI1SK: serial,
        });
      }
      // Any revocation publishes: the good card's 9a certificate, superseded.
      expect((await admin('POST', `/cards/${good.card.id}/revoke`, { reason: 'superseded' })).status).toBe(200);
      const crl = await fetchCrlPem();
      expect(readFileSync(join(dir, 'crl.der')).length).toBeGreaterThan(4096);
      const verify = await openssl(['crl', '-in', crl, '-CAfile', join(dir, 'ca.pem'), '-noout']);
      expect(verify.out).toContain('verify OK');
      expect((await openssl(['verify', '-crl_check', '-CAfile', join(dir, 'ca.pem'), '-CRLfile', crl, join(dir, 'good.pem')])).out).toContain(
        'certificate revoked',
      );
    },
  );
});
