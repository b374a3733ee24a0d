import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { importJWK, SignJWT, type CryptoKey } from 'jose';
import * as oidc from 'openid-client';
import { newDeviceKey, readState, withStateLock, writeState, type AgentState } from './state.ts';

const SCOPE = 'openid card offline_access';
const REDIRECT_PATH = '/callback';
/** Refresh when less than this many seconds are left. */
const REFRESH_MARGIN_SECONDS = 60;

export interface LoginOptions {
  readonly issuer: string;
  readonly stateDir: string;
  /** The OAuth client to sign in with; default: the one the tenant's discovery names (`cloudcard_agent_client_id`). */
  readonly clientId?: string;
  /** `browser`: authorization code + PKCE on a loopback redirect (RFC 8252); `device`: RFC 8628. */
  readonly flow: 'browser' | 'device';
  /** Where to tell the user what to do (URLs, codes). */
  readonly say: (line: string) => void;
  /** Opens a URL in the user's browser; default: xdg-open, else just print it. */
  readonly openBrowser?: (url: string) => void;
}

/** The non-standard discovery member naming the tenant's agent client (`cloudcard client add-agent`). */
export const AGENT_CLIENT_MEMBER = 'cloudcard_agent_client_id';

const isLocal = (url: URL): boolean => url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
const insecureOnLoopback = (url: URL) => (isLocal(url) ? { execute: [oidc.allowInsecureRequests] } : undefined);

/** Discovery of the tenant's issuer (plain HTTP allowed only for a loopback issuer, i.e. the local stack). */
async function configuration(issuer: string, clientId: string): Promise<oidc.Configuration> {
  const url = new URL(issuer);
  return oidc.discovery(url, clientId, undefined, oidc.None(), insecureOnLoopback(url));
}

/**
 * The client to sign in with: the one given, else the agent client the tenant's operator made, as its
 * discovery document names it. The agent never registers clients itself.
 */
async function agentConfiguration(issuer: string, clientId: string | undefined): Promise<oidc.Configuration> {
  if (clientId) return configuration(issuer, clientId);
  const url = new URL(issuer);
  const discovered = await oidc.discovery(url, AGENT_CLIENT_MEMBER, undefined, oidc.None(), insecureOnLoopback(url));
  const metadata = discovered.serverMetadata();
  const named = metadata[AGENT_CLIENT_MEMBER];
  if (typeof named !== 'string' || !named) {
    throw new Error(
      `${issuer} names no client for the agent (no ${AGENT_CLIENT_MEMBER} in its discovery): ask its operator to run "cloudcard client add-agent <tenant>", or pass --client-id`,
    );
  }
  const config = new oidc.Configuration(metadata, named, undefined, oidc.None());
  if (isLocal(url)) oidc.allowInsecureRequests(config);
  return config;
}

/**
 * The device key as the DPoP key of every token request (RFC 9449): the refresh token the agent gets is
 * bound to it, which makes it the device's primary refresh token (PRT), useless without this key.
 */
async function dpopHandle(config: oidc.Configuration, deviceKey: AgentState['deviceKey']): Promise<oidc.DPoPHandle> {
  const privateKey = (await importJWK(deviceKey.privateJwk, 'ES256')) as CryptoKey;
  const publicKey = (await importJWK(deviceKey.publicJwk, 'ES256')) as CryptoKey;
  return oidc.getDPoPHandle(config, { privateKey, publicKey });
}

/** Signs the user in and stores the tokens (and, on first login, a new device key). */
export async function login(options: LoginOptions): Promise<AgentState> {
  let previous: AgentState | undefined;
  try {
    previous = readState(options.stateDir);
  } catch {
    previous = undefined;
  }
  // The device key exists before the sign-in: the first token request already proves it.
  const deviceKey = previous?.deviceKey ?? (await newDeviceKey());
  const config = await agentConfiguration(options.issuer, options.clientId);
  const clientId = config.clientMetadata().client_id;
  const DPoP = await dpopHandle(config, deviceKey);
  const tokens = options.flow === 'device' ? await deviceFlow(config, options, DPoP) : await browserFlow(config, options, DPoP);
  const state: AgentState = {
    version: 1,
    issuer: options.issuer,
    clientId,
    accessToken: tokens.access_token,
    ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
    expiresAt: Math.floor(Date.now() / 1000) + (tokens.expires_in ?? 300),
    deviceKey,
  };
  await withStateLock(options.stateDir, async () => writeState(options.stateDir, state));
  return state;
}

async function deviceFlow(config: oidc.Configuration, options: LoginOptions, DPoP: oidc.DPoPHandle): Promise<oidc.TokenEndpointResponse> {
  const authorization = await oidc.initiateDeviceAuthorization(config, { scope: SCOPE });
  options.say(`To sign in, open ${authorization.verification_uri_complete ?? authorization.verification_uri} and enter the code ${authorization.user_code}`);
  return oidc.pollDeviceAuthorizationGrant(config, authorization, undefined, { DPoP });
}

async function browserFlow(config: oidc.Configuration, options: LoginOptions, DPoP: oidc.DPoPHandle): Promise<oidc.TokenEndpointResponse> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const redirectUri = `http://127.0.0.1:${(server.address() as { port: number }).port}${REDIRECT_PATH}`;
  try {
    const callback = new Promise<URL>((resolve) => {
      server.on('request', (request, response) => {
        const url = new URL(request.url ?? '/', redirectUri);
        if (url.pathname !== REDIRECT_PATH) return void response.writeHead(404).end();
        response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('cloudcard-agent: signed in; you can close this window.');
        resolve(url);
      });
    });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: SCOPE,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    options.say(`Sign in at: ${url.toString()}`);
    (options.openBrowser ?? openWithSystemBrowser)(url.toString());
    return await oidc.authorizationCodeGrant(config, await callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
  } finally {
    server.close();
  }
}

export function openWithSystemBrowser(url: string): void {
  const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined); // no desktop: the printed URL is the way
  child.unref();
}

/** One refresh at a time per state file in this process (the lock file orders processes). */
const refreshing = new Map<string, Promise<string>>();

/** A current access token (for the card API): refreshed (and the state file rewritten) when it is about to expire. */
export function currentAccessToken(stateDir: string): Promise<string> {
  const inFlight = refreshing.get(stateDir);
  if (inFlight) return inFlight;
  const attempt = (async () => {
    // The common case, a token still good, needs no lock; a refresh re-reads under it.
    const state = readState(stateDir);
    if (state.expiresAt - REFRESH_MARGIN_SECONDS > Date.now() / 1000) return state.accessToken;
    return withStateLock(stateDir, () => refreshIfNeeded(stateDir));
  })().finally(() => refreshing.delete(stateDir));
  refreshing.set(stateDir, attempt);
  return attempt;
}

/**
 * Spends the PRT once (DPoP proof by the device key), and stores its successor before anything else can
 * read the state: the caller holds the state lock. `parameters` may ask for a service (RFC 8707 resource).
 */
async function rotatePrt(stateDir: string, parameters?: Record<string, string>): Promise<{ state: AgentState; tokens: oidc.TokenEndpointResponse }> {
  const state = readState(stateDir);
  if (!state.refreshToken) throw new Error('there is no refresh token; run: cloudcard-agent login');
  const config = await configuration(state.issuer, state.clientId);
  const tokens = await oidc.refreshTokenGrant(config, state.refreshToken, parameters, { DPoP: await dpopHandle(config, state.deviceKey) });
  const next: AgentState = { ...state, ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}) };
  writeState(stateDir, next);
  return { state: next, tokens };
}

async function refreshIfNeeded(stateDir: string): Promise<string> {
  // Read under the lock: another process may have refreshed while this one waited.
  const state = readState(stateDir);
  if (state.expiresAt - REFRESH_MARGIN_SECONDS > Date.now() / 1000) return state.accessToken;
  if (!state.refreshToken) throw new Error('the access token expired and there is no refresh token; run: cloudcard-agent login');
  const { state: rotated, tokens } = await rotatePrt(stateDir);
  writeState(stateDir, { ...rotated, accessToken: tokens.access_token, expiresAt: Math.floor(Date.now() / 1000) + (tokens.expires_in ?? 300) });
  return tokens.access_token;
}

/** What `cloudcard-agent token --json` prints. */
export interface ServiceToken {
  readonly access_token: string;
  readonly token_type: string;
  readonly expires_in?: number;
  readonly scope?: string;
  readonly resource: string;
}

/**
 * An access token for one service (RFC 8707 `resource`: its `aud`), from the PRT. The PRT rotates and its
 * successor is stored under the state lock; the card-API token in the state is left as it is.
 */
export async function serviceToken(stateDir: string, resource: string): Promise<ServiceToken> {
  const { tokens } = await withStateLock(stateDir, () => rotatePrt(stateDir, { resource }));
  return {
    access_token: tokens.access_token,
    token_type: tokens.token_type,
    ...(tokens.expires_in !== undefined ? { expires_in: tokens.expires_in } : {}),
    ...(tokens.scope !== undefined ? { scope: tokens.scope } : {}),
    resource,
  };
}

/** An RFC 9449 proof by the device key for one request, with the server's nonce when it gave one. */
async function dpopProof(deviceKey: AgentState['deviceKey'], method: string, url: string, nonce: string | undefined): Promise<string> {
  const key = await importJWK(deviceKey.privateJwk, 'ES256');
  return new SignJWT({ htm: method, htu: url, jti: randomUUID(), ...(nonce ? { nonce } : {}) })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: deviceKey.publicJwk })
    .setIssuedAt()
    .sign(key);
}

/**
 * A one-time URL that opens a signed-in browser session at `target` (a URL of the tenant): the IdP's
 * `oidc/sso-transfer` answers it for the PRT and a DPoP proof by the device key. The PRT is not spent;
 * the state lock keeps a concurrent rotation from making the presented token stale.
 */
export async function browserSsoUrl(stateDir: string, target: string): Promise<string> {
  return withStateLock(stateDir, async () => {
    const state = readState(stateDir);
    if (!state.refreshToken) throw new Error('there is no refresh token; run: cloudcard-agent login');
    const endpoint = `${state.issuer}/oidc/sso-transfer`;
    const body = new URLSearchParams({ client_id: state.clientId, refresh_token: state.refreshToken, target }).toString();
    let nonce: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
          DPoP: await dpopProof(state.deviceKey, 'POST', endpoint, nonce),
        },
        body,
      });
      const answer = (await response.json().catch(() => ({}))) as { url?: unknown; error?: string; error_description?: string };
      if (response.ok && typeof answer.url === 'string') return answer.url;
      const offered = response.headers.get('dpop-nonce');
      // RFC 9449 §8: the first request learns the server's nonce; one retry with it.
      if (answer.error === 'use_dpop_nonce' && offered && attempt === 0) {
        nonce = offered;
        continue;
      }
      throw Object.assign(new Error(`${state.issuer} refused browser SSO (HTTP ${response.status})`), {
        error: answer.error ?? 'server_error',
        ...(answer.error_description ? { error_description: answer.error_description } : {}),
      });
    }
  });
}
