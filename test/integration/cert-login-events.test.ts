import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicedHttp } from '../../lambdas/adapters/outbound-http.ts';
import { Tenants } from '../../lambdas/core/directory/tenant.ts';
import { Users } from '../../lambdas/core/directory/user.ts';
import { CertificateLogins } from '../../lambdas/core/pki/cert-login.ts';
import { ExternalCrls } from '../../lambdas/core/pki/external-crls.ts';
import { CertificateRegistry } from '../../lambdas/core/pki/registry.ts';
import { TrustedCas } from '../../lambdas/core/pki/trusted-cas.ts';
import type { SecurityEvent } from '../../lambdas/core/security-events.ts';
import { BACKENDS, openBackend, testClock, type Backend } from '../support/backends.ts';
import { closedPort } from '../support/loopback-server.ts';

/** An openssl-made external CA and a client certificate from it whose subject CN is the username. */
function externalCa(dir: string, username: string): { caPem: string; leafPem: string } {
  const at = (file: string) => join(dir, file);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    at('ca.key'),
    '-out',
    at('ca.pem'),
    '-subj',
    '/CN=Events CA',
    '-days',
    '30',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
  );
  ssl('req', '-new', ...ec, '-keyout', at('leaf.key'), '-out', at('leaf.csr'), '-subj', `/CN=${username}`);
  writeFileSync(at('ext.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
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
  return { caPem: readFileSync(at('ca.pem'), 'utf8'), leafPem: readFileSync(at('leaf.pem'), 'utf8') };
}

/**
 * Certificate login reports every outcome through the security-event port, like the password sign-in:
 * `sign-in-success` (reason `certificate`) or `sign-in-failure` (reason `certificate:{failure}`), with the
 * client's address; a CA whose CRL cannot be had gives `certificate:revocation-unknown`.
 */
describe.each(BACKENDS)('certificate login security events (%s backend)', (name) => {
  const clock = testClock();
  const events: SecurityEvent[] = [];
  const http = new PolicedHttp({ policy: { allowLoopback: true }, log: () => undefined });
  let backend: Backend;
  let dir: string;
  let trustedCas: TrustedCas;
  let logins: CertificateLogins;
  let ca: { caPem: string; leafPem: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cc-certevents-'));
    backend = await openBackend(name, clock);
    const tenants = new Tenants(backend.directory, clock);
    const users = new Users(backend.directory, tenants, clock);
    await tenants.create({ id: 'acme' });
    await users.add('acme', { username: 'alice' });
    trustedCas = new TrustedCas(backend.directory, tenants, clock, { outbound: http });
    logins = new CertificateLogins({
      directory: backend.directory,
      users,
      registry: new CertificateRegistry(backend.directory, clock),
      trustedCas,
      crls: new ExternalCrls(http, clock),
      clock,
      events: { emit: (event) => events.push(event) },
    });
    ca = externalCa(dir, 'alice');
  });
  afterAll(async () => {
    await backend?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports a refusal with its reason, an unknown revocation status included, and a success with the user', async () => {
    const ip = '192.0.2.7';
    await expect(logins.authenticate('acme', undefined, {}, ip)).rejects.toMatchObject({ reason: 'no-certificate' });
    expect(events.at(-1)).toEqual({ kind: 'sign-in-failure', tenant: 'acme', ip, reason: 'certificate:no-certificate' });

    // The CA's CRL server is down: fail closed, and the event says why.
    const crl = { url: `http://127.0.0.1:${await closedPort()}/ca.crl` };
    await trustedCas.replace('acme', { certificates: [{ certificate: ca.caPem, mapping: { source: 'subject' }, crl }] });
    await expect(logins.authenticate('acme', ca.leafPem, {}, ip)).rejects.toMatchObject({ reason: 'revocation-unknown' });
    expect(events.at(-1)).toEqual({ kind: 'sign-in-failure', tenant: 'acme', ip, reason: 'certificate:revocation-unknown' });

    // Without a CRL the CA's certificate signs alice in.
    await trustedCas.replace('acme', { certificates: [{ certificate: ca.caPem, mapping: { source: 'subject' } }] });
    expect(await logins.authenticate('acme', ca.leafPem, {}, ip)).toMatchObject({ sub: 'alice', source: 'external' });
    expect(events.at(-1)).toEqual({ kind: 'sign-in-success', tenant: 'acme', ip, username: 'alice', reason: 'certificate' });
    expect(events).toHaveLength(3);
  });
});
