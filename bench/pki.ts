import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoItemStore } from '../lambdas/adapters/dynamodb/item-store.ts';
import { DIRECTORY_TABLE } from '../lambdas/adapters/dynamodb/schema.ts';
import { LocalKeyCustody } from '../lambdas/adapters/local/key-custody.ts';
import { LocalResidentKeys } from '../lambdas/adapters/local/resident-keys.ts';
import { systemClock } from '../lambdas/adapters/system.ts';
import { CardAuthority } from '../lambdas/core/cards/authority.ts';
import { buildCrl, CrlPublisher } from '../lambdas/core/pki/crl.ts';
import { OcspResponder } from '../lambdas/core/pki/ocsp.ts';
import { CertificateRegistry, certificateKeys, REVOCATION_REASON_NAMES, type CertificateRecord } from '../lambdas/core/pki/registry.ts';
import { startEmbeddedStore } from '../local/embedded-store.ts';
import { ensureTable } from '../local/tables.ts';
import { ms, summarize, table } from './stats.ts';

export const PKI_BENCH_DEFAULTS = { revoked: 10_000, runs: 5, ocspCalls: 200 } as const;

/**
 * The card CA's revocation machinery at scale, in process on the embedded store (dynalite) with the local
 * CA key: a tenant with `revoked` revoked certificates; the time to list them (the sparse GSI1 query, page
 * by page), to build and sign the CRL over them, and to publish it whole (list + sign + the parts and the
 * head written); then OCSP answers (parse, one register read, sign) one at a time.
 */
export async function benchPki(options: { revoked: number; runs: number; ocspCalls: number }): Promise<string> {
  const store = await startEmbeddedStore();
  const client = store.client();
  const dir = mkdtempSync(join(tmpdir(), 'cc-bench-pki-'));
  try {
    await ensureTable(client, 'bench-pki-directory', DIRECTORY_TABLE);
    const directory = new DynamoItemStore({ client, tableName: 'bench-pki-directory', role: 'directory' });
    const keys = new LocalResidentKeys(directory, new LocalKeyCustody('bench-kek', randomBytes(32)));
    const tenant = 'bench';
    const ca = await new CardAuthority(directory, keys, systemClock).authority(tenant);
    const registry = new CertificateRegistry(directory, systemClock);

    // Revoked certificate records exactly as a revocation leaves them (written directly: the setup is not measured).
    const serials: string[] = [];
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000).toISOString();
    for (let i = 0; i < options.revoked; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, options.revoked - i) }, async (_, j) => {
          const serial = `1${randomBytes(16).toString('hex').slice(1)}`;
          serials.push(serial);
          const record: CertificateRecord = {
            ...certificateKeys.record(tenant, serial),
            type: 'certificate',
            tenant,
            serial,
            card: `card${i + j}`,
            slot: '9a',
            notAfter: new Date(Date.now() + 3 * 365 * 86_400_000).toISOString(),
            issuedAt: at,
            status: 'revoked',
            revokedAt: at,
            reason: REVOCATION_REASON_NAMES[(i + j) % REVOCATION_REASON_NAMES.length]!,
            GSI1PK: certificateKeys.revokedPartition(tenant),
            GSI1SK: serial,
          };
          await directory.put(record);
        }),
      );
    }

    const list: number[] = [];
    const sign: number[] = [];
    const publish: number[] = [];
    const publisher = new CrlPublisher(directory, keys, registry, systemClock);
    let der: Uint8Array = new Uint8Array();
    for (let run = 0; run < options.runs; run += 1) {
      let start = performance.now();
      const entries = await registry.revoked(tenant);
      list.push(performance.now() - start);
      if (entries.length !== options.revoked) throw new Error(`listed ${entries.length} of ${options.revoked}`);
      start = performance.now();
      der = await buildCrl(ca, keys, entries, run + 1, new Date());
      sign.push(performance.now() - start);
      start = performance.now();
      await publisher.publish(tenant);
      publish.push(performance.now() - start);
    }
    // The CRL is a real one: OpenSSL reads it and its entry count.
    const crlFile = join(dir, 'crl.der');
    writeFileSync(crlFile, der);
    const text = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const listed = (text.match(/Serial Number:/g) ?? []).length;
    if (listed !== options.revoked) throw new Error(`openssl lists ${listed} entries`);

    // OCSP: a request for a revoked serial, made by OpenSSL.
    writeFileSync(join(dir, 'ca.pem'), ca.certificate.toString('pem'));
    execFileSync('openssl', ['ocsp', '-issuer', join(dir, 'ca.pem'), '-serial', `0x${serials[0]}`, '-reqout', join(dir, 'req.der')]);
    const request = new Uint8Array(readFileSync(join(dir, 'req.der')));
    const responder = new OcspResponder(directory, keys, registry, systemClock);
    for (let i = 0; i < 20; i += 1) await responder.respond(tenant, request);
    const ocsp: number[] = [];
    for (let i = 0; i < options.ocspCalls; i += 1) {
      const start = performance.now();
      await responder.respond(tenant, request);
      ocsp.push(performance.now() - start);
    }

    const row = (name: string, samples: number[]) => {
      const s = summarize(samples);
      return [name, String(s.n), ms(s.p50), ms(s.p95)];
    };
    return [
      `${options.revoked} revoked entries; CRL ${der.length} bytes (${Math.ceil(Buffer.from(der).toString('base64').length / 300_000)} stored parts), read back by \`openssl crl\` with all ${listed} entries.`,
      '',
      table(
        ['step', 'n', 'p50 ms', 'p95 ms'],
        [
          row(`list the revoked (GSI1 query, ${Math.ceil(options.revoked / 1000)} pages)`, list),
          row('build and sign the CRL (core/pki/der.ts, local CA key)', sign),
          row('publish: list + build + sign + store parts and head', publish),
          row('OCSP answer (parse, one register read, sign), revoked serial', ocsp),
        ],
      ),
    ].join('\n');
  } finally {
    client.destroy();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node bench/pki.ts` runs this part alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${await benchPki({ ...PKI_BENCH_DEFAULTS, revoked: Number(process.env['BENCH_PKI_REVOKED'] ?? PKI_BENCH_DEFAULTS.revoked) })}\n`);
}
