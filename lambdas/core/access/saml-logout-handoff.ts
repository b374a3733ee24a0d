import type { Clock, OutboundHttp, Random } from '../../ports.ts';
import type { SamlLogoutOutcome, SamlParticipantRecord } from './participant-logout.ts';

/** The JWS `typ` of a hand-off: signed by the tenant's token key, accepted only at the saml function's hand-off endpoint. */
export const SAML_LOGOUT_HANDOFF_TYPE = 'cloudcard-saml-logout+jwt';
/** Lives long enough for one call, and its `jti` is spent on use. */
export const HANDOFF_SECONDS = 60;
/** Above the saml function's one SOAP call (3 s), within the whole delivery's 5 s. */
export const HANDOFF_TIMEOUT_MS = 4500;

/** The saml function's endpoint that takes a hand-off (under `{issuer}`, so the API routes it to that function). */
export const samlLogoutHandOffUrl = (issuer: string): string => `${issuer}/saml/backchannel-logout`;

const OUTCOMES: readonly SamlLogoutOutcome[] = ['sent', 'not-registered', 'front-channel-only'];

export interface SamlLogoutHandOffDeps {
  /** Signs the claims with the tenant's current token key, with this `typ`. */
  readonly sign: (tenant: string, claims: Record<string, unknown>, typ: string) => Promise<string>;
  readonly http: OutboundHttp;
  readonly clock: Clock;
  readonly random: Random;
}

/**
 * SAML back-channel logout from a function that bundles no XML (the oidc function: refresh and authorize
 * denials, Shared Signals): the participant is handed to the saml function, which signs and sends the
 * LogoutRequest. The hand-off names the participant only by (SP, SessionIndex) — the saml function reads
 * the rest from its own store and acts only for a session that has ended — and is a JWS signed by the
 * tenant's token key, for the hand-off URL, with a single-use `jti`. Called through the outbound URL
 * policy like any call; anything but a 200 with a known outcome throws.
 */
export class SamlLogoutHandOff {
  readonly #deps: SamlLogoutHandOffDeps;

  constructor(deps: SamlLogoutHandOffDeps) {
    this.#deps = deps;
  }

  async logout(tenant: string, issuer: string, participant: SamlParticipantRecord): Promise<SamlLogoutOutcome> {
    const url = samlLogoutHandOffUrl(issuer);
    const iat = Math.floor(this.#deps.clock.now() / 1000);
    const claims = {
      iss: issuer,
      aud: url,
      iat,
      exp: iat + HANDOFF_SECONDS,
      jti: this.#deps.random.id(),
      sp: participant.spEntityId,
      sessionIndex: participant.sessionIndex,
    };
    const token = await this.#deps.sign(tenant, claims, SAML_LOGOUT_HANDOFF_TYPE);
    const answer = await this.#deps.http.request(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/jwt', Accept: 'application/json' },
      body: token,
      timeoutMs: HANDOFF_TIMEOUT_MS,
      maxResponseBytes: 1024,
    });
    if (answer.status !== 200) throw new Error(`the SAML logout hand-off answered ${answer.status}`);
    const outcome = (JSON.parse(answer.body) as { outcome?: unknown }).outcome;
    if (!OUTCOMES.includes(outcome as SamlLogoutOutcome)) throw new Error('the SAML logout hand-off gave no outcome');
    return outcome as SamlLogoutOutcome;
  }
}
