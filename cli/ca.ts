import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { pkiUrls } from '../lambdas/core/pki/urls.ts';
import { REVOCATION_REASON_NAMES } from '../lambdas/core/pki/registry.ts';
import { cardsOf, type ActionFactory } from './cards.ts';
import { print } from './output.ts';
import { pem } from '../lambdas/core/pki/pem.ts';

/** `ca show|crl|revoke`: the tenant card CA, its CRL, and revoking one of its certificates by serial. */
export function addCaCommands(program: Command, action: ActionFactory): void {
  const ca = program
    .command('ca')
    .description("a tenant's card CA: its certificate, its CRL, revoking a certificate it issued")
    .addHelpText(
      'after',
      [
        '',
        "With --stack, revoking (and `ca crl` when the stored CRL is due) signs a new CRL with the tenant's CA key:",
        'kms:Sign on keys tagged cloudcard:stack=cloudcard-{stage} and cloudcard:purpose=card-ca.',
      ].join('\n'),
    );
  ca.command('show')
    .description('show the tenant card CA certificate (subject, validity, fingerprint, its public PKI URLs); --pem prints the certificate')
    .argument('<tenant>', 'tenant id')
    .option('--pem', 'print the certificate in PEM only')
    .action(
      action(async (target, json, tenantId: string, o: { pem?: boolean }) => {
        const { certificate } = await cardsOf(target).authority(tenantId);
        const der = new Uint8Array(certificate.rawData);
        if (o.pem) {
          process.stdout.write(pem('CERTIFICATE', der));
          return;
        }
        const fingerprint = Buffer.from(await certificate.getThumbprint('SHA-256'))
          .toString('hex')
          .toUpperCase()
          .replace(/(..)(?!$)/g, '$1:');
        const shown = {
          tenant: tenantId,
          subject: certificate.subject,
          serialNumber: certificate.serialNumber,
          notBefore: certificate.notBefore.toISOString(),
          notAfter: certificate.notAfter.toISOString(),
          sha256: fingerprint,
          ...(target.baseUrl ? { urls: pkiUrls(target.baseUrl, tenantId) } : {}),
          pem: pem('CERTIFICATE', der),
        };
        if (json) print(shown, [], true);
        else {
          const { pem: text, urls, ...rest } = shown;
          for (const [name, value] of Object.entries({ ...rest, ...(urls ? { 'CA URL': urls.ca, 'CRL URL': urls.crl, 'OCSP URL': urls.ocsp } : {}) }))
            process.stdout.write(`${`${name}:`.padEnd(14)}${value}\n`);
          process.stdout.write(`\n${text}`);
        }
      }),
    );
  ca.command('crl')
    .description('print the CRL the PKI endpoint serves (PEM), or write it as DER with --out; one is published if none is current')
    .argument('<tenant>', 'tenant id')
    .option('--out <file>', 'write the DER CRL to this file')
    .action(
      action(async (target, json, tenantId: string, o: { out?: string }) => {
        const crl = await cardsOf(target).crl(tenantId);
        if (o.out) writeFileSync(o.out, crl.der);
        const summary = {
          tenant: tenantId,
          number: crl.number,
          thisUpdate: crl.thisUpdate.toISOString(),
          nextUpdate: crl.nextUpdate.toISOString(),
          bytes: crl.der.length,
        };
        if (json) print({ ...summary, ...(o.out ? { out: o.out } : { pem: pem('X509 CRL', crl.der) }) }, [], true);
        else if (o.out) process.stdout.write(`CRL number ${crl.number} (${crl.der.length} bytes, next update ${summary.nextUpdate}) written to ${o.out}\n`);
        else process.stdout.write(pem('X509 CRL', crl.der));
      }),
    );
  ca.command('revoke')
    .description('revoke one certificate the tenant CA issued, by serial number (hex); a new CRL is published at once')
    .argument('<tenant>', 'tenant id')
    .argument('<serial>', 'serial number in hex (as `openssl x509 -serial` or `card show` print it)')
    .requiredOption('--reason <reason>', `one of ${REVOCATION_REASON_NAMES.join(', ')}`)
    .action(
      action(async (target, json, tenantId: string, serial: string, o: { reason: string }) => {
        const record = await cardsOf(target).revokeCertificate(tenantId, serial.replace(/^0x/i, ''), o.reason);
        if (json) print(record, [], true);
        else process.stdout.write(`certificate ${record.serial} (card ${record.card}, slot ${record.slot}) revoked: ${record.reason} at ${record.revokedAt}\n`);
      }),
    );
}
