import { describe, expect, it } from '@jest/globals';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pem, pemBody, pemOfBody } from '../../lambdas/core/pki/pem.ts';

describe('PEM', () => {
  // A certificate made by openssl, so the armour and line layout are a real producer's.
  const dir = mkdtempSync(join(tmpdir(), 'pem-'));
  let certificatePem: string;
  try {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = join(dir, 'key.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    execFileSync('openssl', ['req', '-new', '-x509', '-key', keyFile, '-subj', '/CN=pem test', '-days', '1', '-out', join(dir, 'cert.pem')]);
    certificatePem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  it('reads the body of a labelled block and writes it back in the same form', () => {
    const body = pemBody(certificatePem);
    expect(body).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(body, 'base64')).toEqual(new X509Certificate(certificatePem).raw);
    expect(pemOfBody(body)).toBe(certificatePem);
    expect(pem('CERTIFICATE', Buffer.from(body, 'base64'))).toBe(certificatePem);
  });

  it('takes the block of the label asked for and a bare body as it is', () => {
    const crl = pem('X509 CRL', Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01));
    expect(pemBody(`junk before\n${crl}junk after`, 'X509 CRL')).toBe('MAMCAQE=');
    expect(pemBody(' MAMC\nAQE= ')).toBe('MAMCAQE=');
  });
});
