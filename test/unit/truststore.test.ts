import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTruststoreBundle, TRUSTSTORE_PLACEHOLDER_PEM } from '../../lambdas/core/pki/truststore.ts';

/** A self-signed CA made by OpenSSL, as an external issuer would make one. */
function makeCa(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cloudcard-truststore-'));
  try {
    return execFileSync(
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
        join(dir, 'key.pem'),
        '-subj',
        `/CN=${name}`,
        '-days',
        '30',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const split = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g) ?? [];

describe('truststore bundle (core/pki/truststore.ts)', () => {
  const a = makeCa('Alpha CA');
  const b = makeCa('Beta CA');
  const c = makeCa('Gamma CA');

  it('holds each certificate once, in canonical PEM, whatever the formatting it was collected in', () => {
    const crlf = a.replace(/\n/g, '\r\n');
    const bundle = buildTruststoreBundle([a, b, crlf, `\n\n${b}  \n`]);
    expect(split(bundle.pem)).toHaveLength(2);
    expect(bundle.fingerprints).toHaveLength(2);
    expect(split(bundle.pem).join('')).toBe(bundle.pem);
    expect(bundle.pem.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
  });

  it('gives the same bytes for the same set in any order, ordered by SHA-256 fingerprint', () => {
    const one = buildTruststoreBundle([a, b, c]);
    const two = buildTruststoreBundle([c, a, b, a]);
    expect(two.pem).toBe(one.pem);
    expect([...one.fingerprints]).toEqual([...one.fingerprints].sort());
    expect(split(one.pem).map((pem) => new X509Certificate(pem).fingerprint256)).toEqual(one.fingerprints);
  });

  it('holds the keyless placeholder CA when no tenant has a CA (API Gateway refuses an empty truststore)', () => {
    const empty = buildTruststoreBundle([]);
    expect(split(empty.pem)).toHaveLength(1);
    const placeholder = new X509Certificate(empty.pem);
    expect(placeholder.ca).toBe(true);
    expect(placeholder.subject).toContain('placeholder');
    expect(placeholder.checkIssued(placeholder)).toBe(true);
    expect(Date.parse(placeholder.validTo)).toBeGreaterThan(Date.parse('2100-01-01'));
    expect(empty.pem).toBe(new X509Certificate(TRUSTSTORE_PLACEHOLDER_PEM).toString());
    // Once a real CA is there, the placeholder is not.
    expect(buildTruststoreBundle([a]).fingerprints).toEqual([new X509Certificate(a).fingerprint256]);
  });

  it('refuses an unreadable certificate instead of publishing a bundle without it', () => {
    expect(() => buildTruststoreBundle([a, '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n'])).toThrow();
  });
});
