import type { Clock, OutboundHttp, Random } from '../../ports.ts';
import type { OidcClient } from './client.ts';

/** The one event of OIDC Back-Channel Logout 1.0 §2.4. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** §2.4: the logout token's JWS `typ` (§4.1 recommends explicit typing). */
export const LOGOUT_TOKEN_TYPE = 'logout+jwt';
/** A logout token is consumed at once; two minutes cover clock skew and slow delivery. */
export const LOGOUT_TOKEN_SECONDS = 120;
/** One POST to an RP's back-channel endpoint must finish within this (under the outbound URL policy). */
export const BACKCHANNEL_TIMEOUT_MS = 2000;
/** The RP's answer is not read beyond this: only its status matters. */
const MAX_ANSWER_BYTES = 4096;

export interface LogoutTokenInput {
  readonly issuer: string;
  readonly clientId: string;
  readonly sub: string;
  /** The session id the RP saw in the ID token's `sid`; absent when the ended access had none. */
  readonly sid?: string;
  readonly jti: string;
  /** Epoch seconds. */
  readonly iat: number;
}

/**
 * The claims of a logout token (Back-Channel Logout §2.4): `iss`, `aud` (the client), `iat`, `exp`, `jti`,
 * `events` with the back-channel logout member, `sub` and, when the session had one, `sid`. Never a
 * `nonce` (§2.4: it is prohibited, so a logout token cannot pass for an ID token).
 */
export function logoutTokenClaims(input: LogoutTokenInput): Record<string, unknown> {
  return {
    iss: input.issuer,
    aud: input.clientId,
    iat: input.iat,
    exp: input.iat + LOGOUT_TOKEN_SECONDS,
    jti: input.jti,
    sub: input.sub,
    ...(input.sid ? { sid: input.sid } : {}),
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
  };
}

/** Whom to tell: a client that got tokens from the ended session or family. */
export interface OidcLogoutTarget {
  readonly clientId: string;
  readonly sub: string;
  readonly sid?: string;
}

/** `sent`: the RP answered 200/204; `not-registered`: the client asked for no back-channel logout (or is gone). */
export type OidcLogoutOutcome = 'sent' | 'not-registered';

export interface BackChannelLogoutDeps {
  readonly clients: { find(tenant: string, clientId: string): Promise<OidcClient | undefined> };
  /** Signs the claims with the tenant's current token key (the one its JWKS publishes), with this `typ`. */
  readonly sign: (tenant: string, claims: Record<string, unknown>, typ: string) => Promise<string>;
  readonly http: OutboundHttp;
  readonly clock: Clock;
  readonly random: Random;
}

/**
 * OIDC Back-Channel Logout 1.0, the OP side: a signed logout token POSTed (form-encoded `logout_token`,
 * §2.5) to the client's registered `backchannel_logout_uri`, through the outbound URL policy. Any answer
 * but 200 or 204, and any call failure, throws: the caller logs it as a failed participant logout.
 */
export class OidcBackChannelLogout {
  readonly #deps: BackChannelLogoutDeps;

  constructor(deps: BackChannelLogoutDeps) {
    this.#deps = deps;
  }

  async logout(tenant: string, issuer: string, target: OidcLogoutTarget): Promise<OidcLogoutOutcome> {
    const client = await this.#deps.clients.find(tenant, target.clientId);
    if (!client?.backchannel_logout_uri) return 'not-registered';
    // §2.2: a client that requires sid cannot use a token without one; it is told nothing rather than told wrongly.
    if (client.backchannel_logout_session_required && !target.sid) throw new Error('the client requires a sid and the ended access has none');
    const claims = logoutTokenClaims({
      issuer,
      clientId: client.client_id,
      sub: target.sub,
      ...(target.sid ? { sid: target.sid } : {}),
      jti: this.#deps.random.id(),
      iat: Math.floor(this.#deps.clock.now() / 1000),
    });
    const token = await this.#deps.sign(tenant, claims, LOGOUT_TOKEN_TYPE);
    const answer = await this.#deps.http.request(client.backchannel_logout_uri, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({ logout_token: token }).toString(),
      timeoutMs: BACKCHANNEL_TIMEOUT_MS,
      maxResponseBytes: MAX_ANSWER_BYTES,
    });
    // §2.8: 200 (or 204) means logged out; 400 and everything else mean it was not.
    if (answer.status !== 200 && answer.status !== 204) throw new Error(`the back-channel logout endpoint answered ${answer.status}`);
    return 'sent';
  }
}
