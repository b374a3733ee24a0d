import 'reflect-metadata'; // @peculiar/x509 2.x needs a Reflect polyfill (tsyringe), imported before it
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** An RSA key (PKCS#8 PEM) and a self-signed certificate (PEM) for a test service provider. */
export async function spCredentials(name: string): Promise<{ keyPem: string; certPem: string; certBase64: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const signingKey = await webcrypto.subtle.importKey('pkcs8', privateKey.export({ format: 'der', type: 'pkcs8' }), algorithm, false, ['sign']);
  const spki = await webcrypto.subtle.importKey('spki', publicKey.export({ format: 'der', type: 'spki' }), algorithm, true, ['verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: algorithm,
    keys: { privateKey: signingKey, publicKey: spki },
  });
  const certPem = certificate.toString('pem');
  return { keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, certPem, certBase64: certificate.toString('base64') };
}

export const SCHEMA_DIR = path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'schemas', 'saml');

/** Whether a tool is on PATH; under CI=true a missing tool is an error, not a skip. */
export function haveTool(tool: string): boolean {
  const found = spawnSync(tool, ['--version'], { encoding: 'utf8' }).error === undefined;
  if (!found && process.env['CI'] === 'true') throw new Error(`${tool} is required in CI (apt-get install libxml2-utils xmlsec1)`);
  return found;
}

function tempFile(name: string, content: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cc-saml-'));
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

/** `xmllint --schema` from the schema directory (the schemas import each other by relative name). */
export function xmllintValidate(xml: string, schema: string): { ok: boolean; output: string } {
  const file = tempFile('doc.xml', xml);
  const run = spawnSync('xmllint', ['--noout', '--nonet', '--schema', schema, file], { cwd: SCHEMA_DIR, encoding: 'utf8' });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

/** `xmlsec1 --verify` of the signature on the element with the given ID attribute, with a pinned certificate. */
export function xmlsecVerify(xml: string, certPem: string, idAttr: string): { ok: boolean; output: string } {
  const file = tempFile('signed.xml', xml);
  const cert = tempFile('cert.pem', certPem);
  const run = spawnSync('xmlsec1', ['--verify', '--enabled-reference-uris', 'same-doc', '--id-attr:ID', idAttr, '--pubkey-cert-pem', cert, file], {
    encoding: 'utf8',
  });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}
