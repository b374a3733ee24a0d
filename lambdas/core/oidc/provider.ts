import type { Clock, DirectoryStore, KeyCustody, OutboundHttp, Random, Signer, StateStore } from '../../ports.ts';
import { NO_OUTBOUND } from '../outbound/none.ts';
import { ClientKeys } from './client-keys.ts';
import { PushedRequests } from './pushed-requests.ts';
import { Clients, type OidcClient } from './client.ts';
import { ReadCache } from '../read-cache.ts';
import { AuthorizationCodes } from './codes.ts';
import { Consents } from './consents.ts';
import { DeviceCodes } from './device-codes.ts';
import { DpopNonces, DpopVerifier } from './dpop.ts';
import { Grants, RevokedAccessTokens } from './grants.ts';
import { Interactions } from './interactions.ts';
import { TenantKeys } from './keys.ts';
import { RefreshTokens } from './refresh-tokens.ts';
import { InitialAccessTokens } from './registration-tokens.ts';
import { ReplayCache } from './replay.ts';
import { SsoSessions } from './sessions.ts';
import { SsoTransfers } from './sso-transfers.ts';
import { TokenIssuer } from './tokens.ts';

export interface OidcDeps {
  readonly directory: DirectoryStore;
  readonly state: StateStore;
  readonly clock: Clock;
  readonly random: Random;
  readonly custody?: KeyCustody;
  readonly platformSigner?: Signer;
  /** Fetches clients' `jwks_uri` under the outbound URL policy; without it no jwks_uri is accepted. */
  readonly outbound?: OutboundHttp;
  /** Serve a client read at most this long ago (the oidc function's token path); 0 or absent: always read. */
  readonly clientCacheMs?: number;
}

/** Every model of the OpenID Provider, wired once per process over the runtime's ports. */
export function createOidc(deps: OidcDeps) {
  const { directory, state, clock, random } = deps;
  const keys = new TenantKeys({
    directory,
    clock,
    ...(deps.custody ? { custody: deps.custody } : {}),
    ...(deps.platformSigner ? { platformSigner: deps.platformSigner } : {}),
  });
  const replay = new ReplayCache(state, clock);
  const nonces = new DpopNonces(state, clock, random);
  const outbound = deps.outbound ?? NO_OUTBOUND;
  return {
    clock,
    keys,
    tokens: new TokenIssuer(keys, clock, random),
    clients: new Clients(directory, clock, random, outbound, deps.clientCacheMs ? new ReadCache<OidcClient>(clock, deps.clientCacheMs) : undefined),
    clientKeys: new ClientKeys(outbound, clock),
    pushedRequests: new PushedRequests(state, clock),
    consents: new Consents(directory),
    initialAccessTokens: new InitialAccessTokens(state, clock, random),
    grants: new Grants(state, clock),
    revokedAccessTokens: new RevokedAccessTokens(state),
    codes: new AuthorizationCodes(state, clock),
    refreshTokens: new RefreshTokens(state),
    interactions: new Interactions(state, clock, random),
    sessions: new SsoSessions(state, clock, random),
    ssoTransfers: new SsoTransfers(state, clock),
    devices: new DeviceCodes(state, clock),
    replay,
    nonces,
    dpop: new DpopVerifier({ replay, nonces, clock }),
    random,
  };
}

export type Oidc = ReturnType<typeof createOidc>;
