import 'reflect-metadata'; // @peculiar/x509 2.x needs a Reflect polyfill, imported before it
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** The mutual-TLS listener's server key and certificate (PEM). */
export interface ListenerCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /** Where they came from: the files given, or the ones made under the data directory. */
  readonly certFile: string;
}

/**
 * The local certificate-login listener's server certificate: the files given (env `CERT_TLS_CERT` and
 * `CERT_TLS_KEY`), else `cert-listener.pem` / `cert-listener-key.pem` under the data directory, made on
 * first start (self-signed, P-256, `localhost` and 127.0.0.1, two years). A browser has to be told to
 * trust it once; test clients pin it.
 */
export async function listenerCertificate(
  dataDir: string,
  given: { certFile?: string; keyFile?: string } = {},
  write: (path: string, content: string) => void,
): Promise<ListenerCertificate> {
  if (given.certFile || given.keyFile) {
    if (!given.certFile || !given.keyFile) throw new Error('CERT_TLS_CERT and CERT_TLS_KEY go together');
    return { certPem: readFileSync(given.certFile, 'utf8'), keyPem: readFileSync(given.keyFile, 'utf8'), certFile: given.certFile };
  }
  const certFile = join(dataDir, 'cert-listener.pem');
  const keyFile = join(dataDir, 'cert-listener-key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8'), certFile };
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[1]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8)))
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: 'CN=localhost, O=cloudcard local certificate login',
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 2 * 365 * 86_400_000),
      signingAlgorithm: algorithm,
      keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.1'], false),
        new x509.SubjectAlternativeNameExtension(
          [
            { type: 'dns', value: 'localhost' },
            { type: 'ip', value: '127.0.0.1' },
          ],
          false,
        ),
      ],
    },
    webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1],
  );
  const keyPem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string;
  const certPem = certificate.toString('pem');
  write(keyFile, keyPem);
  write(certFile, certPem.endsWith('\n') ? certPem : `${certPem}\n`);
  return { certPem, keyPem, certFile };
}
