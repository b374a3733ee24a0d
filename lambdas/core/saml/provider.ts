import type { Oidc } from '../oidc/provider.ts';
import type { DirectoryStore } from '../../ports.ts';
import { IdpCertificates } from './idp-certificate.ts';
import { PersistentNameIds } from './response.ts';
import { ServiceProviders } from './service-providers.ts';

/** The SAML IdP's models, over the OIDC provider's state models (interactions, sessions, keys, replay). */
export function createSaml(oidc: Oidc, directory: DirectoryStore) {
  return {
    oidc,
    certificates: new IdpCertificates(oidc.keys, directory, oidc.clock),
    serviceProviders: new ServiceProviders(directory, oidc.clock),
    persistentNameIds: new PersistentNameIds(directory, oidc.random),
  };
}

export type Saml = ReturnType<typeof createSaml>;
