import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import * as oidc from 'openid-client';
import { newDeviceKey, readState, writeState, type AgentState } from './state.ts';

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
    throw new Error(`${issuer} names no client for the agent (no ${AGENT_CLIENT_MEMBER} in its discovery): ask its operator to run "cloudcard client add-agent <tenant>", or pass --client-id`);
  }
  const config = new oidc.Configuration(metadata, named, undefined, oidc.None());
  if (isLocal(url)) oidc.allowInsecureRequests(config);
  return config;
}

/** Signs the user in and stores the tokens (and, on first login, a new device key). */
export async function login(options: LoginOptions): Promise<AgentState> {
  let previous: AgentState | undefined;
  try {
    previous = readState(options.stateDir);
  } catch {
    previous = undefined;
  }
  const sameIssuer = previous?.issuer === options.issuer;
  const config = await agentConfiguration(options.issuer, options.clientId);
  const clientId = config.clientMetadata().client_id;
  const tokens = options.flow === 'device' ? await deviceFlow(config, options) : await browserFlow(config, options);
  const state: AgentState = {
    version: 1,
    issuer: options.issuer,
    clientId,
    accessToken: tokens.access_token,
    ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
    expiresAt: Math.floor(Date.now() / 1000) + (tokens.expires_in ?? 300),
    deviceKey: sameIssuer && previous ? previous.deviceKey : previous?.deviceKey ?? (await newDeviceKey()),
  };
  writeState(options.stateDir, state);
  return state;
}

async function deviceFlow(config: oidc.Configuration, options: LoginOptions): Promise<oidc.TokenEndpointResponse> {
  const authorization = await oidc.initiateDeviceAuthorization(config, { scope: SCOPE });
  options.say(`To sign in, open ${authorization.verification_uri_complete ?? authorization.verification_uri} and enter the code ${authorization.user_code}`);
  return oidc.pollDeviceAuthorizationGrant(config, authorization);
}

async function browserFlow(config: oidc.Configuration, options: LoginOptions): Promise<oidc.TokenEndpointResponse> {
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
    return await oidc.authorizationCodeGrant(config, await callback, { pkceCodeVerifier: verifier, expectedState: state });
  } finally {
    server.close();
  }
}

function openWithSystemBrowser(url: string): void {
  const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined); // no desktop: the printed URL is the way
  child.unref();
}

/** One refresh at a time per state file: a rotated refresh token must not be spent twice. */
const refreshing = new Map<string, Promise<string>>();

/** A current access token: refreshed (and the state file rewritten) when it is about to expire. */
export function currentAccessToken(stateDir: string): Promise<string> {
  const inFlight = refreshing.get(stateDir);
  if (inFlight) return inFlight;
  const attempt = refreshIfNeeded(stateDir).finally(() => refreshing.delete(stateDir));
  refreshing.set(stateDir, attempt);
  return attempt;
}

async function refreshIfNeeded(stateDir: string): Promise<string> {
  const state = readState(stateDir);
  if (state.expiresAt - REFRESH_MARGIN_SECONDS > Date.now() / 1000) return state.accessToken;
  if (!state.refreshToken) throw new Error('the access token expired and there is no refresh token; run: cloudcard-agent login');
  const config = await configuration(state.issuer, state.clientId);
  const tokens = await oidc.refreshTokenGrant(config, state.refreshToken);
  writeState(stateDir, {
    ...state,
    accessToken: tokens.access_token,
    ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
    expiresAt: Math.floor(Date.now() / 1000) + (tokens.expires_in ?? 300),
  });
  return tokens.access_token;
}
