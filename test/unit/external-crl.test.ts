import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crlProblem, isRevoked, parseCrl } from '../../lambdas/core/pki/external-crl.ts';

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
