import type { RoutesFactory } from '../../apps.ts';
import { readAuthority } from '../../core/cards/authority.ts';
import { CrlPublisher } from '../../core/pki/crl.ts';
import { OcspResponder } from '../../core/pki/ocsp.ts';
import { CertificateRegistry } from '../../core/pki/registry.ts';
import { pkiRoutes } from '../routes/pki/index.ts';

/**
 * The tenant card CAs' public PKI endpoints: CA certificate, CRL, OCSP. Anonymous and cheap; it reads the
 * card partition (CA, issued certificates), signs with the CA key (CRL refresh, OCSP answers) and writes
 * only the published CRL.
 */
export const pkiContext: RoutesFactory = (runtime) => {
  if (!runtime.residentKeys) throw new Error('the pki context needs resident keys (the tenant CA key signs CRLs and OCSP answers)');
  const registry = new CertificateRegistry(runtime.directory, runtime.clock);
  return pkiRoutes({
    authority: (tenant) => readAuthority(runtime.directory, tenant),
    crls: new CrlPublisher(runtime.directory, runtime.residentKeys, registry, runtime.clock),
    ocsp: new OcspResponder(runtime.directory, runtime.residentKeys, registry, runtime.clock),
    clock: runtime.clock,
  });
};
