import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { LocalStack } from '../../local/stack.ts';
import { authorizeWithLogin, basic, pkce, RP_REDIRECT, registerClient, type RegisteredClient } from '../support/oidc-flows.ts';
import { allowRegistration, startStackOn } from '../support/oidc-stack.ts';

const SPA_ORIGIN = new URL(RP_REDIRECT).origin; // https://rp.example.test
const APP_REDIRECT = 'https://app.example.test/cb';
const EVIL = 'https://evil.example.test';

/**
 * CORS through HTTP on the local stack (issue 11 item 8): preflights, `*` for public metadata, and for the
 * token, userinfo, revocation and introspection endpoints only the origins of the requesting client's
 * registered redirect URIs, never reflected for anyone else and never with credentials.
 */
describe('CORS for browser apps', () => {
  let stack: LocalStack;
  let issuer: string;
  let spa: RegisteredClient;
  let app: RegisteredClient;

  const call = async (method: string, path: string, headers: Record<string, string> = {}, form?: Record<string, string>) => {
    const response = await fetch(`${issuer}${path}`, {
      method,
      headers: { ...(form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}), ...headers },
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text && response.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  };
  const preflight = (path: string, origin: string, method = 'POST') =>
    call('OPTIONS', path, { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'authorization, content-type, dpop' });

  /** A fresh code for the SPA client (public, PKCE), through the portal. */
  async function spaCode(): Promise<{ code: string; verifier: string }> {
    const { verifier, challenge } = pkce();
    const callback = await authorizeWithLogin(issuer, { client_id: spa.client_id, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' });
    return { code: callback.searchParams.get('code')!, verifier };
  }
  const redeem = (code: { code: string; verifier: string }, origin?: string) =>
    call('POST', '/oidc/token', origin ? { Origin: origin } : {}, {
      grant_type: 'authorization_code',
      client_id: spa.client_id,
      code: code.code,
      code_verifier: code.verifier,
      redirect_uri: RP_REDIRECT,
    });

  beforeAll(async () => {
    stack = await startStackOn('embedded');
    issuer = `${stack.url}/t/demo`;
    await allowRegistration(stack);
    spa = await registerClient(issuer, { client_name: 'SPA', token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] });
    app = await registerClient(issuer, { client_name: 'Web app', redirect_uris: [APP_REDIRECT] });
  });
  afterAll(async () => stack?.close());

  it('answers preflights on the client endpoints for any origin, with *, the methods and DPoP among the headers', async () => {
    for (const [path, methods] of [
      ['/oidc/token', 'POST'],
      ['/oidc/userinfo', 'GET, POST'],
      ['/oidc/revoke', 'POST'],
      ['/oidc/introspect', 'POST'],
    ] as const) {
      for (const origin of [SPA_ORIGIN, EVIL]) {
        const answer = await preflight(path, origin);
        expect(answer.status).toBe(204);
        expect(answer.headers.get('access-control-allow-origin')).toBe('*');
        expect(answer.headers.get('access-control-allow-methods')).toBe(methods);
        expect(answer.headers.get('access-control-allow-headers')).toBe('Authorization, Content-Type, DPoP');
        expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
        expect(answer.headers.get('access-control-max-age')).toBe('600');
      }
    }
  });

  it('serves discovery and the JWKS to any origin with *, preflight included', async () => {
    for (const path of ['/.well-known/openid-configuration', '/oidc/jwks']) {
      expect((await preflight(path, EVIL, 'GET')).status).toBe(204);
      const answer = await call('GET', path, { Origin: EVIL });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('access-control-allow-origin')).toBe('*');
      expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
    }
    // An unknown tenant's 404 is readable too (the app can tell what went wrong).
    const missing = await fetch(`${stack.url}/t/nobody/.well-known/openid-configuration`, { headers: { Origin: EVIL } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('sends no CORS header and answers OPTIONS 405 on routes that do not opt in', async () => {
    for (const path of ['/oidc/authorize', '/portal/login', '/oidc/register', '/saml/sso']) {
      const answer = await preflight(path, SPA_ORIGIN, 'GET');
      expect(answer.status).toBe(405);
      expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    }
    const admin = await fetch(`${stack.url}/t/demo/admin/v1/users`, {
      method: 'OPTIONS',
      headers: { Origin: SPA_ORIGIN, 'Access-Control-Request-Method': 'GET' },
    });
    expect(admin.status).toBe(405);
    expect(admin.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("lets the SPA's origin read the token response, and refuses a foreign origin before the code is touched", async () => {
    const code = await spaCode();
    for (const origin of [EVIL, 'null', `${SPA_ORIGIN}:8443`, 'http://rp.example.test']) {
      const refused = await redeem(code, origin);
      expect(refused.status).toBe(400);
      expect(refused.body).toEqual({ error: 'invalid_request', error_description: `origin ${origin} is not allowed for this client` });
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect(refused.headers.get('vary')).toBe('Origin');
    }
    // The refused attempts consumed nothing: the SPA still redeems the code.
    const granted = await redeem(code, SPA_ORIGIN);
    expect(granted.status).toBe(200);
    expect(granted.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN);
    expect(granted.headers.get('access-control-expose-headers')).toBe('DPoP-Nonce, WWW-Authenticate');
    expect(granted.headers.get('access-control-allow-credentials')).toBeNull();
    expect(granted.headers.get('vary')).toBe('Origin');
    const accessToken = granted.body['access_token'] as string;

    // Errors are readable by the allowed origin too (an app must see invalid_grant or use_dpop_nonce).
    const replay = await redeem(code, SPA_ORIGIN);
    expect(replay.status).toBe(400);
    expect(replay.body).toMatchObject({ error: 'invalid_grant' });
    expect(replay.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN);

    // UserInfo: the origins of the token's client.
    const info = await call('GET', '/oidc/userinfo', { Origin: SPA_ORIGIN, Authorization: `Bearer ${accessToken}` });
    expect(info.status).toBe(401); // the replay above revoked the grant, and says so readably
    expect(info.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN);
    expect(info.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate');
    const foreign = await call('GET', '/oidc/userinfo', { Origin: EVIL, Authorization: `Bearer ${accessToken}` });
    expect(foreign.status).toBe(400);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("serves userinfo to the token client's origin only", async () => {
    const granted = await redeem(await spaCode(), SPA_ORIGIN);
    const token = granted.body['access_token'] as string;
    const mine = await call('GET', '/oidc/userinfo', { Origin: SPA_ORIGIN, Authorization: `Bearer ${token}` });
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ sub: 'alice' });
    expect(mine.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN);
    const byPost = await call('POST', '/oidc/userinfo', { Origin: SPA_ORIGIN }, { access_token: token });
    expect(byPost.status).toBe(200);
    expect(byPost.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN);
    // Another registered client's origin is not the token's client's.
    const other = await call('GET', '/oidc/userinfo', { Origin: new URL(APP_REDIRECT).origin, Authorization: `Bearer ${token}` });
    expect(other.status).toBe(400);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("holds revocation and introspection to the authenticating client's origins (Basic credentials)", async () => {
    const appOrigin = new URL(APP_REDIRECT).origin;
    for (const path of ['/oidc/revoke', '/oidc/introspect']) {
      const allowed = await call('POST', path, { Origin: appOrigin, Authorization: basic(app) }, { token: 'not-a-token' });
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('access-control-allow-origin')).toBe(appOrigin);
      const refused = await call('POST', path, { Origin: SPA_ORIGIN, Authorization: basic(app) }, { token: 'not-a-token' });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: 'invalid_request' });
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    }
    // A client_id that names no client allows no origin.
    const unknown = await call('POST', '/oidc/revoke', { Origin: SPA_ORIGIN }, { client_id: 'no-such-client', token: 'x' });
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('changes nothing for servers: no Origin, no CORS header', async () => {
    const answer = await call('POST', '/oidc/introspect', { Authorization: basic(app) }, { token: 'not-a-token' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    expect(answer.headers.get('vary')).toBe('Origin');
  });
});
