import type { Clock, OutboundHttp, Random } from '../../ports.ts';
import type { SamlLogoutOutcome, SamlParticipantRecord } from '../access/participant-logout.ts';
import type { OidcSettings } from '../directory/tenant.ts';
import type { ReplayCache } from '../oidc/replay.ts';
import type { IdpCertificates } from './idp-certificate.ts';
import { logoutOverSoap } from './logout.ts';
import { samlEndpoints } from './metadata.ts';
import { spEndpoint, type ServiceProvider } from './service-providers.ts';
import { BINDING } from './xml.ts';

export interface SamlBackChannelDeps {
  readonly serviceProviders: { find(tenant: string, entityId: string): Promise<ServiceProvider | undefined> };
  readonly certificates: Pick<IdpCertificates, 'signingKey'>;
  readonly settings: (tenant: string) => Promise<OidcSettings>;
  readonly http: OutboundHttp;
  readonly replay: ReplayCache;
  readonly clock: Clock;
  readonly random: Random;
}

/**
 * SAML Single Logout from the IdP without a browser (Core §3.7, SOAP binding): a participant whose SP
 * metadata has a SOAP SingleLogoutService gets our signed LogoutRequest (its NameID and SessionIndex)
 * and must answer a signed LogoutResponse with Success; one with only Redirect/POST endpoints cannot be
 * reached without the user's browser (`front-channel-only`). A failure throws.
 */
export class SamlBackChannelLogout {
  readonly #deps: SamlBackChannelDeps;

  constructor(deps: SamlBackChannelDeps) {
    this.#deps = deps;
  }

  async logout(tenant: string, issuer: string, participant: SamlParticipantRecord): Promise<SamlLogoutOutcome> {
    const sp = await this.#deps.serviceProviders.find(tenant, participant.spEntityId);
    if (!sp?.singleLogout?.length) return 'not-registered';
    if (!spEndpoint(sp.singleLogout, BINDING.soap)) return 'front-channel-only';
    const endpoints = samlEndpoints(issuer);
    const done = await logoutOverSoap(sp, participant, {
      tenant,
      idpEntityId: endpoints.entityId,
      sloUrl: endpoints.slo,
      now: this.#deps.clock.now(),
      random: this.#deps.random,
      key: await this.#deps.certificates.signingKey(tenant, await this.#deps.settings(tenant)),
      http: this.#deps.http,
      replay: this.#deps.replay,
    });
    if (!done) throw new Error('the service provider did not confirm the logout');
    return 'sent';
  }
}
