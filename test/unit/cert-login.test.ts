import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACR, acrSatisfies, requiredAcr, CERTIFICATE_ACRS } from '../../lambdas/core/oidc/claims.ts';
import { loginUsage, subjectAltNames } from '../../lambdas/core/pki/cert-login.ts';

/** Self-signed certificates made by openssl with the extensions given (the rules read only the leaf's own fields). */
function certificate(extensions: string[]): X509Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'cloudcard-certrules-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
        '-subj',
        '/CN=leaf',
        '-days',
        '2',
        '-addext',
        'basicConstraints=CA:FALSE',
        ...extensions.flatMap((e) => ['-addext', e]),
      ],
      { stdio: 'pipe' },
    );
    return new X509Certificate(readFileSync(join(dir, 'c.pem')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('certificate login rules', () => {
  it('accepts client authentication or smart card logon EKUs with a digitalSignature key usage', () => {
    expect(loginUsage(certificate(['keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth']))).toBe(true);
    expect(loginUsage(certificate(['extendedKeyUsage=1.3.6.1.4.1.311.20.2.2']))).toBe(true);
  });

  it('refuses a certificate for signing or encryption only, and one without an EKU', () => {
    expect(loginUsage(certificate(['keyUsage=critical,keyEncipherment', 'extendedKeyUsage=clientAuth']))).toMatch(/digitalSignature/);
    expect(loginUsage(certificate(['keyUsage=critical,digitalSignature', 'extendedKeyUsage=emailProtection']))).toMatch(/not for client authentication/);
    expect(loginUsage(certificate(['keyUsage=critical,digitalSignature']))).toMatch(/not for client authentication/);
  });

  it('accepts the PIV card-authentication EKU (9E) only where the tenant card CA issued it', () => {
    const cardAuth = certificate(['keyUsage=critical,digitalSignature', 'extendedKeyUsage=2.16.840.1.101.3.6.8']);
    expect(loginUsage(cardAuth)).toMatch(/not for client authentication/);
    expect(loginUsage(cardAuth, { cardAuthentication: true })).toBe(true);
  });

  it('reads UPN and e-mail subject alternative names, also values Node quotes', () => {
    const names = subjectAltNames(
      certificate(['subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@corp.example,email:alice@corp.example,DNS:host.example']),
    );
    expect(names).toEqual({ upn: ['alice@corp.example'], email: ['alice@corp.example'] });
    expect(subjectAltNames(certificate(['extendedKeyUsage=clientAuth']))).toEqual({ upn: [], email: [] });
  });

  it('ranks acr values: a certificate above password + code, the card with PIN highest; only a certificate meets a certificate acr', () => {
    expect(acrSatisfies(ACR.smartcard, [ACR.mfa])).toBe(true);
    expect(acrSatisfies(ACR.x509, [ACR.mfa])).toBe(true);
    expect(acrSatisfies(ACR.mfa, [ACR.x509])).toBe(false);
    expect(acrSatisfies(ACR.x509, [ACR.smartcard])).toBe(false);
    expect(acrSatisfies(ACR.smartcard, [ACR.x509])).toBe(true);
    expect(CERTIFICATE_ACRS).toContain(requiredAcr([ACR.smartcard]));
    expect(requiredAcr([ACR.mfa, ACR.smartcard])).toBe(ACR.mfa);
  });
});
