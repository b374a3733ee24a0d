import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnrolResult } from '../../lambdas/core/cards/cards.ts';
import { directoryKeys } from '../../lambdas/core/directory/keys.ts';
import { TRUSTSTORE_PLACEHOLDER_PEM } from '../../lambdas/core/pki/truststore.ts';
import { dataFiles, type LocalStack } from '../../local/stack.ts';
import { BACKENDS, testClock, type BackendName } from '../support/backends.ts';
import { startStackOn } from '../support/oidc-stack.ts';

/** A self-signed CA made by OpenSSL, as an external issuer's would be. */
function externalCa(name: string): string {
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

const fingerprints = (pem: string): string[] =>
  (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block).fingerprint256);
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

/**
 * The mutual-TLS truststore through the public admin API of the running stack: the same publication the
 * admin function does in AWS (S3 object + domain truststore version), written to the data directory.
 */
describe.each(BACKENDS)('mutual-TLS truststore on the %s backend', (backend: BackendName) => {
  const clock = testClock();
  let stack: LocalStack;
  let basicAuth: string;
  const bundle = () => readFileSync(dataFiles(stack.dataDir).truststore, 'utf8');

  const admin = async (tenant: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${stack.url}/t/${tenant}/admin/v1${path}`, {
      method,
      headers: { Authorization: basicAuth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as any };
  };
  const makeTenant = async (tenant: string) => {
    expect((await admin(tenant, 'POST', '/tenant', {})).status).toBe(201);
    expect((await admin(tenant, 'POST', '/users', { username: 'alice', email: 'alice@example.com', displayName: 'Alice Example' })).status).toBe(201);
  };
  const enrol = async (tenant: string): Promise<EnrolResult> => {
    const response = await admin(tenant, 'POST', '/cards', { username: 'alice', slots: ['9a'], algorithm: 'p256' });
    expect(response.status).toBe(201);
    return response.body as EnrolResult;
  };
  const caPem = async (tenant: string) => (await fetch(`${stack.url}/t/${tenant}/pki/ca`, { headers: { Accept: 'application/x-pem-file' } })).text();

  beforeAll(async () => {
    stack = await startStackOn(backend, { clock });
    basicAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("holds every tenant CA, and each tenant's trusted CAs, rewritten as they are created, added and removed", async () => {
    // At start: whatever CAs exist (the demo tenant may have none yet), or the keyless placeholder.
    const initial = fingerprints(bundle());
    expect(initial.length).toBeGreaterThan(0);

    await makeTenant('ts-one');
    await makeTenant('ts-two');
    const external = externalCa('Partner smart card CA');
    expect((await admin('ts-one', 'PUT', '/trusted-cas', { certificates: [external] })).status).toBe(200);
    expect(fingerprints(bundle())).toContain(fingerprint(external));

    // A tenant CA is created by the first enrolment: it joins the bundle, the placeholder leaves it.
    await enrol('ts-two');
    const twoCa = await caPem('ts-two');
    expect(fingerprints(bundle())).toEqual(expect.arrayContaining([fingerprint(external), fingerprint(twoCa)]));
    expect(fingerprints(bundle())).not.toContain(fingerprint(TRUSTSTORE_PLACEHOLDER_PEM));

    await enrol('ts-one');
    const oneCa = await caPem('ts-one');
    expect(fingerprints(bundle())).toEqual(expect.arrayContaining([fingerprint(external), fingerprint(twoCa), fingerprint(oneCa)]));

    // Removing the trusted CA removes it; the tenant CAs stay. Each certificate appears once, in a stable order.
    expect((await admin('ts-one', 'PUT', '/trusted-cas', { certificates: [] })).status).toBe(200);
    const after = fingerprints(bundle());
    expect(after).not.toContain(fingerprint(external));
    expect(after).toEqual(expect.arrayContaining([fingerprint(twoCa), fingerprint(oneCa)]));
    expect(new Set(after).size).toBe(after.length);
    expect(after).toEqual([...after].sort());
  });

  it('repairs a publication that did not happen: the next enrolment publishes a CA the last bundle lacks', async () => {
    await makeTenant('ts-three');
    await enrol('ts-three');
    const threeCa = await caPem('ts-three');
    // As if the write had failed after the CA was stored: a stale bundle and no record of it.
    writeFileSync(dataFiles(stack.dataDir).truststore, TRUSTSTORE_PLACEHOLDER_PEM);
    await stack.runtime.directory.delete(directoryKeys.truststore());
    await enrol('ts-three');
    expect(fingerprints(bundle())).toContain(fingerprint(threeCa));
  });

  it('refuses a bad trusted CA list without rewriting the bundle', async () => {
    const before = bundle();
    const response = await admin('ts-one', 'PUT', '/trusted-cas', {
      certificates: [externalCa('Fine CA'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
    });
    expect(response.status).toBe(400);
    expect(bundle()).toBe(before);
  });
});
