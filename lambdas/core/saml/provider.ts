import type { Oidc } from '../oidc/provider.ts';
import type { DirectoryStore, OutboundHttp, StateStore } from '../../ports.ts';
import { NO_OUTBOUND } from '../outbound/none.ts';
import { Federations } from './federations.ts';
import { IdpCertificates } from './idp-certificate.ts';
import { IssuedArtifacts } from './issued-artifacts.ts';
import { LogoutChain } from './logout-progress.ts';
import { ServiceProviders } from './service-providers.ts';
import { SessionParticipants } from './session-participants.ts';

/** What the protocol side needs beyond the OIDC models: the state table for artifacts, outbound HTTP for SOAP calls to SPs. */
export interface SamlPorts {
  readonly state?: StateStore;
  /** Without it, no back-channel call is made and no SP with a back-channel endpoint can be registered. */
  readonly outbound?: OutboundHttp;
}

/** The SAML IdP's models, over the OIDC provider's state models (interactions, sessions, keys, replay). */
export function createSaml(oidc: Oidc, directory: DirectoryStore, ports: SamlPorts = {}) {
  const federations = new Federations(directory, oidc.random);
  return {
    oidc,
    certificates: new IdpCertificates(oidc.keys, directory, oidc.clock),
    serviceProviders: new ServiceProviders(directory, oidc.clock, ports.outbound ?? NO_OUTBOUND),
    federations,
    ...(ports.state
      ? {
          artifacts: new IssuedArtifacts(ports.state, oidc.clock, oidc.random),
          participants: new SessionParticipants(ports.state),
          logoutChain: new LogoutChain(ports.state, oidc.clock),
        }
      : {}),
    http: ports.outbound ?? NO_OUTBOUND,
  };
}

export type Saml = ReturnType<typeof createSaml>;
