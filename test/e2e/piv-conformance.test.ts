import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { decodeAll } from '../../lambdas/core/piv/tlv.ts';
import { ROOT } from '../support/emulator.ts';
import { DEMO_PASSWORD } from '../support/oidc-stack.ts';
import { freePort, READER, startPcscd, type Pcscd } from '../support/pcsc.ts';
import { agentDeviceLogin } from '../support/agent-device-login.ts';
import { cli, start, type Started } from '../support/processes.ts';

const AGENT = join(ROOT, 'agent', 'bin', 'cloudcard-agent.js');
const PIN = '123456';
const PUK = '12345678';
const PKCS11 = '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';
const ENGINE = '/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so';

type Name = 'rsa' | 'ec';

/**
 * A command with stdin on /dev/null (support's tool() writes an empty stdin, which a command that exits
 * first answers with EPIPE), killed after two minutes. Asynchronous: the gateway runs in this process.
 */
function quiet(command: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/**
 * Issue 16 with real middleware: two KMS-resident cards of one user (RSA acknowledged as PKCS#1-only, and
 * P-256) in vpcd's two slots, through pcscd, OpenSC, NSS, yubico-piv-tool and OpenSSL (its PKCS#11 engine
 * for TLS client authentication against `openssl s_server -Verify`).
 */
describe('PIV conformance with real middleware: token names, KMS-resident RSA in TLS, signed CHUID and Security Object', () => {
  let dataDir: string;
  let stateDir: string;
  let work: string;
  let stack: LocalStack;
  let pcscd: Pcscd;
  let agent: Started | undefined;
  const cards: Record<Name, { id: string; label: string; managementKey: string }> = {
    rsa: { id: '', label: 'Alice rsa card', managementKey: '' },
    ec: { id: '', label: 'Alice ec card', managementKey: '' },
  };

  const readerOf = (name: Name): string => {
    const ordered = [cards.rsa.id, cards.ec.id].sort();
    return `${READER} 00 0${ordered.indexOf(cards[name].id)}`;
  };
  const tokenName = (name: Name): string => `${cards[name].label} (${cards[name].id.slice(0, 6)})`;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cc-conf-data-'));
    stateDir = mkdtempSync(join(tmpdir(), 'cc-conf-state-'));
    work = mkdtempSync(join(tmpdir(), 'cc-conf-work-'));
    const port = await freePort();
    stack = await startLocalStack({ port, dataDir, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD });
    await stack.close();
    // KMS-resident custody (the local stand-in for KMS keys), and 3DES for Debian's yubico-piv-tool 2.2.
    expect((await cli(['--data-dir', dataDir, 'tenant', 'update', 'demo', '--management-alg', '3des', '--custody', 'kms-resident'], {})).code).toBe(0);
    // An explicit RSA algorithm under KMS-resident custody is refused with the reason ...
    const refused = await cli(['--data-dir', dataDir, 'card', 'enroll', 'demo', 'alice', '--alg', 'rsa2048', '--pin', PIN, '--puk', PUK], {});
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/RSA-PSS \(TLS 1\.3 client authentication/);
    // ... and enrolled with the acknowledgement, with a warning.
    for (const [name, args] of [
      ['rsa', ['--alg', 'rsa2048', '--resident-rsa', 'pkcs1-only']],
      ['ec', []],
    ] as const) {
      const enrolled = await cli(
        ['--data-dir', dataDir, '--json', 'card', 'enroll', 'demo', 'alice', ...args, '--pin', PIN, '--puk', PUK, '--label', cards[name].label],
        {},
      );
      expect(enrolled.code).toBe(0);
      if (name === 'rsa') expect(enrolled.stderr).toContain('warning: KMS-resident RSA keys sign PKCS#1 v1.5 blocks only');
      const result = JSON.parse(enrolled.stdout) as { card: { id: string; slots: Array<{ algorithm: string }> }; managementKey: { hex: string } };
      cards[name].managementKey = result.managementKey.hex;
      expect(result.card.slots.map((s) => s.algorithm)).toEqual(
        name === 'rsa' ? ['rsa2048', 'rsa2048', 'rsa2048', 'rsa2048'] : ['p256', 'p256', 'p256', 'p256'],
      );
      cards[name].id = result.card.id;
    }
    stack = await startLocalStack({ port, dataDir, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD });
    // The tenant card CA, the trust anchor of every check below (TLS client certificates, content signatures).
    const ca = await fetch(`${stack.url}/t/demo/pki/ca`, { headers: { Accept: 'application/pkix-cert' } });
    writeFileSync(join(work, 'ca.pem'), new X509Certificate(Buffer.from(await ca.arrayBuffer())).toString());
    pcscd = await startPcscd();
    await agentDeviceLogin(AGENT, stateDir, `${stack.url}/t/demo`);
    agent = start([AGENT, '--state-dir', stateDir, 'run', '--vpcd-port', String(pcscd.vpcdPort)], { CLOUDCARD_AGENT_HOME: stateDir });
    const deadline = Date.now() + 60_000;
    let readers = '';
    while (Date.now() < deadline) {
      readers = (await quiet('opensc-tool', ['--list-readers'])).stdout;
      if ((readers.match(new RegExp(`Yes\\s+${READER}`, 'g')) ?? []).length === 2) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(readers.match(new RegExp(`Yes\\s+${READER}`, 'g'))).toHaveLength(2);
  }, 240_000);

  afterAll(async () => {
    agent?.child.kill('SIGTERM');
    await agent?.exited;
    await pcscd?.stop();
    await stack?.close();
    for (const dir of [dataDir, stateDir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('names each card’s token after its label and short id: pkcs11-tool -L and NSS certutil tell the two cards of one user apart', async () => {
    const listed = await quiet('pkcs11-tool', ['--module', PKCS11, '-L']);
    expect(listed.status).toBe(0);
    for (const name of ['rsa', 'ec'] as const) expect(listed.stdout).toContain(`token label        : ${tokenName(name)}\n`);
    const nss = join(work, 'nss');
    mkdirSync(nss);
    expect((await quiet('certutil', ['-N', '-d', `sql:${nss}`, '--empty-password'])).status).toBe(0);
    expect((await quiet('modutil', ['-dbdir', `sql:${nss}`, '-add', 'opensc', '-libfile', PKCS11, '-force'])).status).toBe(0);
    const certs = await quiet('certutil', ['-L', '-h', 'all', '-d', `sql:${nss}`]);
    expect(certs.status).toBe(0);
    const nicknames = certs.stdout
      .split('\n')
      .map((line) => line.replace(/\s+u,u,u\s*$/, ''))
      .filter((line) => line.includes(':Certificate for PIV Authentication'));
    expect(nicknames.sort()).toEqual([`${tokenName('ec')}:Certificate for PIV Authentication`, `${tokenName('rsa')}:Certificate for PIV Authentication`]);
  });

  describe('TLS client authentication through OpenSSL’s PKCS#11 engine against openssl s_server -Verify', () => {
    let serverPort: number;
    const opensslConf = (): string => join(work, 'openssl.cnf');

    beforeAll(async () => {
      writeFileSync(
        opensslConf(),
        [
          'openssl_conf = init',
          '[init]',
          'engines = engines',
          '[engines]',
          'pkcs11 = pkcs11',
          '[pkcs11]',
          'engine_id = pkcs11',
          `dynamic_path = ${ENGINE}`,
          `MODULE_PATH = ${PKCS11}`,
          'init = 0',
          '',
        ].join('\n'),
      );
      const server = await quiet('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(work, 'server.key'),
        '-out',
        join(work, 'server.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ]);
      expect(server.status).toBe(0);
      for (const name of ['rsa', 'ec'] as const) {
        const read = await quiet('pkcs11-tool', [
          '--module',
          PKCS11,
          '--slot-description',
          readerOf(name),
          '--read-object',
          '--type',
          'cert',
          '--id',
          '01',
          '--output-file',
          join(work, `${name}-9a.der`),
        ]);
        expect(read.status).toBe(0);
      }
      serverPort = await freePort();
    });

    /** One handshake: s_server accepts one connection, requires a client certificate from the card CA. */
    const handshake = async (name: Name, options: string[]): Promise<{ client: { status: number | null; stdout: string; stderr: string }; server: string }> => {
      // stdin stays open: s_server ends a connection at end of input.
      const server = spawn(
        'openssl',
        [
          's_server',
          '-accept',
          `127.0.0.1:${serverPort}`,
          '-naccept',
          '1',
          '-cert',
          join(work, 'server.pem'),
          '-key',
          join(work, 'server.key'),
          '-Verify',
          '1',
          '-verify_return_error',
          '-CAfile',
          join(work, 'ca.pem'),
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let serverOutput = '';
      server.stdout.on('data', (chunk: Buffer) => (serverOutput += chunk.toString()));
      server.stderr.on('data', (chunk: Buffer) => (serverOutput += chunk.toString()));
      const serverClosed = new Promise((resolve) => server.once('close', resolve));
      while (!serverOutput.includes('ACCEPT')) await new Promise((r) => setTimeout(r, 50));
      const uri = `pkcs11:token=${encodeURIComponent(tokenName(name))};id=%01;type=private;pin-value=${PIN}`;
      const client = await quiet(
        'openssl',
        [
          's_client',
          '-connect',
          `127.0.0.1:${serverPort}`,
          ...options,
          '-engine',
          'pkcs11',
          '-keyform',
          'engine',
          '-key',
          uri,
          '-cert',
          join(work, `${name}-9a.der`),
          '-certform',
          'DER',
          '-CAfile',
          join(work, 'server.pem'),
          '-verify_return_error',
          '-brief',
        ],
        { OPENSSL_CONF: opensslConf() },
      );
      server.kill('SIGTERM');
      await serverClosed;
      return { client, server: serverOutput };
    };

    it.each([['-tls1_3'], ['-tls1_2']])('a KMS-resident P-256 card authenticates with %s', async (version) => {
      const { client, server } = await handshake('ec', [version]);
      expect(client.status).toBe(0);
      expect(client.stderr).toContain(`Protocol version: TLSv1.${version === '-tls1_3' ? 3 : 2}`);
      expect(server).toContain(`subject=CN = ${tokenName('ec')}, UID = alice, O = demo`);
      expect(server).toContain('Peer signature type: ECDSA');
    });

    it('a KMS-resident RSA card authenticates with TLS 1.2 when the client offers PKCS#1 v1.5 signatures only', async () => {
      const { client, server } = await handshake('rsa', ['-tls1_2', '-client_sigalgs', 'RSA+SHA256:RSA+SHA384:RSA+SHA512']);
      expect(client.status).toBe(0);
      expect(client.stderr).toContain('Protocol version: TLSv1.2');
      expect(server).toContain(`subject=CN = ${tokenName('rsa')}, UID = alice, O = demo`);
      expect(server).toContain('Peer signature type: RSA\n');
    });

    it('OpenSC announces RSA-PSS for every PIV RSA key (padding on the host): the card cannot narrow the mechanisms, so it refuses clearly instead', async () => {
      const mechanisms = await quiet('pkcs11-tool', ['--module', PKCS11, '--slot-description', readerOf('rsa'), '-M']);
      expect(mechanisms.status).toBe(0);
      expect(mechanisms.stdout).toContain('RSA-PKCS-PSS');
      expect(mechanisms.stdout).toContain('RSA-PKCS,');
    });

    it.each([
      ['TLS 1.3 (RSA-PSS only)', ['-tls1_3']],
      ['TLS 1.2 with OpenSSL’s default (RSA-PSS first)', ['-tls1_2']],
    ])('a KMS-resident RSA card fails %s with a clear reason: the card answers 6A80, PKCS#11 "Data invalid"', async (_what, options) => {
      const { client, server } = await handshake('rsa', options);
      expect(client.status).not.toBe(0);
      expect(client.stderr).toContain('PKCS#11 module:ERR_CKR_error:Data invalid');
      expect(client.stderr).not.toContain('token not recognized');
      expect(server).not.toContain('Peer signature type: RSA');
    });
  });

  describe('signed CHUID and Security Object, read with yubico-piv-tool and checked with openssl', () => {
    const readObject = async (name: Name, id: number): Promise<Buffer> => {
      const file = join(work, `${name}-${id.toString(16)}.bin`);
      const read = await quiet('yubico-piv-tool', ['-r', readerOf(name), '-a', 'read-object', '--id', `0x${id.toString(16)}`, '-f', 'binary', '-o', file]);
      expect({ id: id.toString(16), status: read.status, stderr: read.stderr }).toEqual({ id: id.toString(16), status: 0, stderr: expect.any(String) });
      return readFileSync(file);
    };

    const openssl = async (args: string[]): Promise<string> => {
      const run = await quiet('openssl', args);
      expect({ args: args.join(' '), status: run.status, stderr: run.stderr }).toEqual({ args: args.join(' '), status: 0, stderr: expect.any(String) });
      return run.stdout;
    };
    const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex').toUpperCase();
    /** The LDSSecurityObject inside the Security Object's BB, after openssl verified its SignedData. */
    const verifiedSecurityObject = async (name: Name): Promise<{ mapping: string; hashes: string }> => {
      const items = decodeAll(await readObject(name, 0x5fc106))!;
      expect(items.map((i) => i.tag)).toEqual([0xba, 0xbb, 0xfe]);
      writeFileSync(join(work, 'so.p7'), items[1]!.value);
      await openssl([
        'cms',
        '-verify',
        '-inform',
        'DER',
        '-in',
        join(work, 'so.p7'),
        '-binary',
        '-CAfile',
        join(work, 'ca.pem'),
        '-purpose',
        'any',
        '-out',
        join(work, 'lds.der'),
      ]);
      return { mapping: Buffer.from(items[0]!.value).toString('hex'), hashes: await openssl(['asn1parse', '-inform', 'DER', '-in', join(work, 'lds.der')]) };
    };

    it('the CHUID carries a detached SignedData (3E) by a content signer with id-PIV-content-signing from the tenant CA, over the CHUID before it', async () => {
      const chuid = await readObject('ec', 0x5fc102);
      const items = decodeAll(chuid)!;
      expect(items.map((i) => i.tag)).toEqual([0x30, 0x34, 0x35, 0x3e, 0xfe]);
      const signature = items.find((i) => i.tag === 0x3e)!.value;
      expect(signature.length).toBeGreaterThan(100);
      // The signed content is the CHUID's bytes up to the 3E element.
      const signedPart = chuid.subarray(0, chuid.indexOf(Buffer.from([0x3e, 0x82])));
      writeFileSync(join(work, 'chuid.p7'), signature);
      writeFileSync(join(work, 'chuid-content'), signedPart);
      await openssl([
        'cms',
        '-verify',
        '-inform',
        'DER',
        '-in',
        join(work, 'chuid.p7'),
        '-content',
        join(work, 'chuid-content'),
        '-binary',
        '-CAfile',
        join(work, 'ca.pem'),
        '-purpose',
        'any',
        '-signer',
        join(work, 'signer.pem'),
        '-out',
        '/dev/null',
      ]);
      const signer = await openssl(['x509', '-in', join(work, 'signer.pem'), '-noout', '-subject', '-ext', 'extendedKeyUsage']);
      expect(signer).toContain('CN = demo PIV content signer');
      expect(signer).toContain('2.16.840.1.101.3.6.7');
      const printed = await openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', join(work, 'chuid.p7')]);
      expect(printed).toMatch(/eContentType: .*\(2\.16\.840\.1\.101\.3\.6\.1\)/);
      // A changed CHUID no longer verifies.
      signedPart[signedPart.length - 1]! ^= 1;
      writeFileSync(join(work, 'chuid-content'), signedPart);
      expect(
        (
          await quiet('openssl', [
            'cms',
            '-verify',
            '-inform',
            'DER',
            '-in',
            join(work, 'chuid.p7'),
            '-content',
            join(work, 'chuid-content'),
            '-binary',
            '-CAfile',
            join(work, 'ca.pem'),
            '-purpose',
            'any',
            '-out',
            '/dev/null',
          ])
        ).status,
      ).not.toBe(0);
    });

    it('the Security Object maps data groups to container IDs and its signed LDSSecurityObject holds the SHA-256 of the CHUID, CCC and each certificate object', async () => {
      const { mapping, hashes } = await verifiedSecurityObject('ec');
      // DG1 CHUID 3000, DG2 CCC DB00, DG3 Discovery 6050, DG4 Key History 6060, DG5..8 certificates 0101, 0100, 0102, 0500.
      expect(mapping).toBe('013000' + '02db00' + '036050' + '046060' + '050101' + '060100' + '070102' + '080500');
      for (const id of [0x5fc102, 0x5fc107, 0x5fc105, 0x5fc10a, 0x5fc10b, 0x5fc101])
        expect({ id: id.toString(16), hashed: hashes.includes(sha256(await readObject('ec', id))) }).toEqual({ id: id.toString(16), hashed: true });
      expect(hashes).toContain('sha256');
    });

    it('re-signs the Security Object when the holder imports a new certificate (yubico-piv-tool), so it stays current', async () => {
      const before = await readObject('ec', 0x5fc10a);
      await openssl([
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(work, 'new.key'),
        '-out',
        join(work, 'new.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=re-issued',
      ]);
      const imported = await quiet('yubico-piv-tool', [
        '-r',
        readerOf('ec'),
        `--key=${cards.ec.managementKey}`,
        '-a',
        'import-certificate',
        '-s',
        '9c',
        '-i',
        join(work, 'new.pem'),
      ]);
      expect({ status: imported.status, stderr: imported.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
      const after = await readObject('ec', 0x5fc10a);
      expect(sha256(after)).not.toBe(sha256(before));
      const { hashes } = await verifiedSecurityObject('ec');
      expect(hashes).toContain(sha256(after));
      expect(hashes).not.toContain(sha256(before));
    });
  });
});
