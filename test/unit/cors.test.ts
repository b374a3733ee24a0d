import { describe, expect, it } from '@jest/globals';
import { clientOrigins } from '../../lambdas/core/oidc/client-origins.ts';
import { corsDecision, preflightResponse, PUBLIC_CORS, type CorsPolicy } from '../../lambdas/http/cors.ts';
import { Router } from '../../lambdas/http/router.ts';
import { requestClientId } from '../../lambdas/http/routes/oidc/cors.ts';
import type { ApiRequest } from '../../lambdas/http/types.ts';
import { json } from '../../lambdas/http/types.ts';

const request = (headers: Record<string, string> = {}, body?: Record<string, string>): ApiRequest => ({
  method: 'POST',
  path: '/t/acme/oidc/token',
  params: { tenant: 'acme' },
  query: {},
  repeatedQuery: [],
  headers,
  body,
  requestId: 'r',
  baseUrl: 'https://id.example.com',
});

const jwt = (payload: Record<string, unknown>): string =>
  `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;

describe('clientOrigins', () => {
  it('is the exact web origins of the registered redirect URIs, nothing for private-use schemes', () => {
    expect(
      clientOrigins([
        'https://app.example.com/cb',
        'https://app.example.com/other',
        'http://127.0.0.1:5173/spa',
        'http://127.0.0.1/callback',
        'com.example.app:/cb',
        'not a uri',
      ]),
    ).toEqual(['https://app.example.com', 'http://127.0.0.1:5173', 'http://127.0.0.1']);
  });
});

describe('requestClientId', () => {
  it("reads Basic credentials, client_id, a client assertion's sub, or the access token's client_id", () => {
    expect(requestClientId(request({ authorization: `Basic ${Buffer.from('my%20app:secret').toString('base64')}` }))).toBe('my app');
    expect(requestClientId(request({}, { client_id: 'spa' }))).toBe('spa');
    expect(requestClientId(request({}, { client_assertion: jwt({ iss: 'c1', sub: 'c1' }) }))).toBe('c1');
    expect(requestClientId(request({ authorization: `DPoP ${jwt({ client_id: 'spa' })}` }))).toBe('spa');
    expect(requestClientId(request({ authorization: `Bearer ${jwt({ client_id: 'rp' })}` }))).toBe('rp');
    expect(requestClientId(request({}, { access_token: jwt({ client_id: 'rp' }) }))).toBe('rp');
  });

  it('names no client for anything else', () => {
    expect(requestClientId(request())).toBeUndefined();
    expect(requestClientId(request({ authorization: 'Bearer opaque' }))).toBeUndefined();
    expect(requestClientId(request({ authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` }))).toBeUndefined();
    // The token being revoked or introspected is not the caller.
    expect(requestClientId(request({}, { token: jwt({ client_id: 'victim' }) }))).toBeUndefined();
  });
});

describe('the CORS mechanism', () => {
  const client: CorsPolicy = {
    kind: 'client',
    originsOf: async (r) => ((r.body as Record<string, string> | undefined)?.['client_id'] === 'spa' ? ['https://spa.example'] : []),
    refuse: (origin) => json(400, { error: 'invalid_request', origin }),
  };

  it('answers preflights with *, the methods and the allowed headers, never credentials', () => {
    const answer = preflightResponse(['GET', 'POST']);
    expect(answer.statusCode).toBe(204);
    expect(answer.headers).toEqual({
      Allow: 'GET, POST, OPTIONS',
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Methods': 'GET, POST',
      'Access-Control-Allow-Headers': 'Authorization, Content-Type, DPoP',
      'Access-Control-Max-Age': '600',
    });
  });

  it('gives public metadata * and exposes the DPoP and challenge headers', async () => {
    expect(await corsDecision(PUBLIC_CORS, request({ origin: 'https://any.example' }))).toEqual({
      headers: { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'DPoP-Nonce, WWW-Authenticate' },
    });
  });

  it("allows only the requesting client's origins, echoing that origin with Vary: Origin", async () => {
    expect(await corsDecision(client, request({ origin: 'https://spa.example' }, { client_id: 'spa' }))).toEqual({
      headers: { Vary: 'Origin', 'Access-Control-Allow-Origin': 'https://spa.example', 'Access-Control-Expose-Headers': 'DPoP-Nonce, WWW-Authenticate' },
    });
    for (const [origin, clientId] of [
      ['https://evil.example', 'spa'],
      ['https://spa.example', 'other'],
      ['null', 'spa'],
    ] as const) {
      const decision = await corsDecision(client, request({ origin }, { client_id: clientId }));
      expect(decision.headers).toEqual({ Vary: 'Origin' });
      expect(decision.refused?.statusCode).toBe(400);
    }
    expect(await corsDecision(client, request({}, { client_id: 'spa' }))).toEqual({ headers: { Vary: 'Origin' } });
  });

  it("is declared on routes: the router finds a path's policy and methods for the preflight", () => {
    const ok = async () => json(200, {});
    const router = new Router([
      { method: 'GET', path: '/t/:tenant/oidc/userinfo', handle: ok, cors: client },
      { method: 'POST', path: '/t/:tenant/oidc/userinfo', handle: ok, cors: client },
      { method: 'GET', path: '/t/:tenant/oidc/authorize', handle: ok },
    ]);
    expect(router.corsAt('/t/acme/oidc/userinfo')).toEqual({ policy: client, methods: ['GET', 'POST'] });
    expect(router.corsAt('/t/acme/oidc/authorize')).toBeUndefined();
  });
});
