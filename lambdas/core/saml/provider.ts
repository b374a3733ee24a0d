import type { Oidc } from '../oidc/provider.ts';
import type { DirectoryStore, StateStore } from '../../ports.ts';
import { Federations } from './federations.ts';
import { IdpCertificates } from './idp-certificate.ts';
import { IssuedArtifacts } from './issued-artifacts.ts';
import { LogoutChain } from './logout-progress.ts';
import { ServiceProviders } from './service-providers.ts';
import { SessionParticipants } from './session-participants.ts';
import type { HttpPost } from './soap-client.ts';

/** What the protocol side needs beyond the OIDC models: the state table for artifacts, HTTP for SOAP calls to SPs. */
export interface SamlPorts {
  readonly state?: StateStore;
  readonly http?: HttpPost;
}

const noHttp: HttpPost = async () => {
  throw new Error('this deployment makes no back-channel calls');
};

/** The SAML IdP's models, over the OIDC provider's state models (interactions, sessions, keys, replay). */
export function createSaml(oidc: Oidc, directory: DirectoryStore, ports: SamlPorts = {}) {
  const federations = new Federations(directory, oidc.random);
  return {
    oidc,
    certificates: new IdpCertificates(oidc.keys, directory, oidc.clock),
    serviceProviders: new ServiceProviders(directory, oidc.clock),
    federations,
    ...(ports.state
      ? { artifacts: new IssuedArtifacts(ports.state, oidc.clock, oidc.random), participants: new SessionParticipants(ports.state), logoutChain: new LogoutChain(ports.state, oidc.clock) }
      : {}),
    http: ports.http ?? noHttp,
  };
}

export type Saml = ReturnType<typeof createSaml>;
