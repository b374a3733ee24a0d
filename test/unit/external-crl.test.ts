import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crlProblem, isRevoked, parseCrl } from '../../lambdas/core/pki/external-crl.ts';
import { CrlUnavailableError, ExternalCrls } from '../../lambdas/core/pki/external-crls.ts';
import { PolicedHttp } from '../../lambdas/adapters/outbound-http.ts';
import { loopbackServer, type LoopbackServer } from '../support/loopback-server.ts';

/** A CA made by openssl, a leaf it issued and revoked, and the DER CRL `openssl ca -gencrl` signs. */
function makeCa(dir: string, keyArgs: string[]): { ca: X509Certificate; revokedSerial: string; crl: Uint8Array } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(join(dir, 'ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${dir}/index.txt\ncrlnumber=${dir}/crlnumber\ndefault_md=sha256\ndefault_crl_days=1\n`);
  run(
    'req',
    '-x509',
    '-newkey',
    ...keyArgs,
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-subj',
    '/CN=External Test CA',
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
  );
  run('req', '-newkey', ...keyArgs, '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=alice');
  run('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '1');
  run('ca', '-config', 'ca.cnf', '-keyfile', 'ca.key', '-cert', 'ca.pem', '-revoke', 'leaf.pem');
  run('ca', '-config', 'ca.cnf', '-keyfile', 'ca.key', '-cert', 'ca.pem', '-gencrl', '-out', 'crl.pem');
  run('crl', '-in', 'crl.pem', '-outform', 'DER', '-out', 'crl.der');
  return {
    ca: new X509Certificate(readFileSync(join(dir, 'ca.pem'))),
    revokedSerial: new X509Certificate(readFileSync(join(dir, 'leaf.pem'))).serialNumber,
    crl: new Uint8Array(readFileSync(join(dir, 'crl.der'))),
  };
}

describe.each([
  ['RSA', ['rsa:2048']],
  ['ECDSA P-256', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
])('external CA CRL (%s)', (_name, keyArgs) => {
  let dir: string;
  let made: ReturnType<typeof makeCa>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cloudcard-crl-'));
    made = makeCa(dir, keyArgs);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses, verifies with the CA key and lists the revoked serial only', () => {
    const crl = parseCrl(made.crl);
    expect(crlProblem(crl, made.ca, Date.now())).toBeUndefined();
    expect(isRevoked(crl, made.revokedSerial)).toBe(true);
    expect(isRevoked(crl, '0123456789ABCDEF')).toBe(false);
  });

  it('refuses a tampered CRL (signature no longer verifies)', () => {
    const tampered = Uint8Array.from(made.crl);
    // Change the last byte of the revoked serial inside the signed part: still a CRL, no longer the CA's.
    const serial = Buffer.from(made.revokedSerial.length % 2 ? `0${made.revokedSerial}` : made.revokedSerial, 'hex');
    const at = Buffer.from(tampered).indexOf(serial);
    expect(at).toBeGreaterThan(0);
    tampered[at + serial.length - 1]! ^= 0x01;
    expect(crlProblem(parseCrl(tampered), made.ca, Date.now())).toMatch(/signature/);
  });

  it('refuses a CRL past its nextUpdate and one checked against another CA', () => {
    const crl = parseCrl(made.crl);
    expect(crlProblem(crl, made.ca, crl.nextUpdate! + 1)).toMatch(/nextUpdate/);
    // Issued by a CA whose clock is a minute ahead: usable; an hour ahead: not yet valid.
    expect(crlProblem(crl, made.ca, crl.thisUpdate - 60_000)).toBeUndefined();
    expect(crlProblem(crl, made.ca, crl.thisUpdate - 3_600_000)).toMatch(/not yet valid/);
    const other = mkdtempSync(join(tmpdir(), 'cloudcard-crl-other-'));
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', ...keyArgs, '-nodes', '-keyout', join(other, 'k'), '-out', join(other, 'c'), '-subj', '/CN=Other CA', '-days', '1'],
        { stdio: 'pipe' },
      );
      expect(crlProblem(crl, new X509Certificate(readFileSync(join(other, 'c'))), Date.now())).toMatch(/issuer/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('rejects bytes that are not a CRL', () => {
    expect(() => parseCrl(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00))).toThrow();
  });
});

describe('external CRLs per container (ExternalCrls, through the outbound adapter to a loopback CRL server)', () => {
  let dir: string;
  let made: ReturnType<typeof makeCa>;
  let server: LoopbackServer;
  let answer: { status: number; body: Uint8Array } = { status: 200, body: new Uint8Array() };
  let now = 0;
  const clock = { now: () => now };
  const http = new PolicedHttp({ policy: { allowLoopback: true }, log: () => undefined });
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cloudcard-crls-'));
    made = makeCa(dir, ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    answer = { status: 200, body: made.crl };
    server = await loopbackServer((_request, response) => {
      response.writeHead(answer.status, { 'content-type': 'application/pkix-crl' });
      response.end(Buffer.from(answer.body));
    });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fetches once for concurrent and later sign-ins, refetches after nextUpdate (at most an hour), and tells revoked from good', async () => {
    const crls = new ExternalCrls(http, clock);
    const crl = parseCrl(made.crl);
    now = crl.thisUpdate + 1_000;
    const url = `${server.url}/ca.crl`;
    server.seen.length = 0;
    const [first, second] = await Promise.all([crls.isRevoked(url, made.ca, made.revokedSerial), crls.isRevoked(url, made.ca, '0A')]);
    expect([first, second]).toEqual([true, false]);
    expect(await crls.isRevoked(url, made.ca, made.revokedSerial)).toBe(true);
    expect(server.seen).toEqual(['GET /ca.crl']);
    now += 60 * 60 * 1_000; // an hour later (the CRL holds a day): fetched again
    expect(await crls.isRevoked(url, made.ca, '0A')).toBe(false);
    expect(server.seen).toHaveLength(2);
    now = crl.nextUpdate! + 1; // past nextUpdate: the server still sends the stale CRL, which is refused
    await expect(crls.isRevoked(url, made.ca, '0A')).rejects.toThrow(/nextUpdate/);
  });

  it('fails closed when the CRL cannot be had, and waits 30 s before asking the server again', async () => {
    const crls = new ExternalCrls(http, clock);
    now = parseCrl(made.crl).thisUpdate + 1_000;
    const url = `${server.url}/down.crl`;
    server.seen.length = 0;
    answer = { status: 503, body: new Uint8Array() };
    await expect(crls.isRevoked(url, made.ca, '0A')).rejects.toBeInstanceOf(CrlUnavailableError);
    answer = { status: 200, body: made.crl };
    await expect(crls.isRevoked(url, made.ca, '0A')).rejects.toThrow(/answered 503/);
    expect(server.seen).toHaveLength(1);
    now += 30_001;
    expect(await crls.isRevoked(url, made.ca, '0A')).toBe(false);
    expect(server.seen).toHaveLength(2);
    // Not a CRL at all, and a CRL of another CA's key: both refused.
    answer = { status: 200, body: new TextEncoder().encode('<html>captive portal</html>') };
    await expect(new ExternalCrls(http, clock).isRevoked(`${server.url}/html`, made.ca, '0A')).rejects.toThrow(/did not send a CRL/);
    answer = { status: 200, body: made.crl };
    const other = makeCa(mkdtempSync(join(dir, 'other-')), ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    await expect(new ExternalCrls(http, clock).isRevoked(`${server.url}/ca.crl`, other.ca, '0A')).rejects.toThrow(/issuer|signature/);
  });
});
