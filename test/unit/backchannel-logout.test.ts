import { describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, jwtVerify, importJWK, SignJWT } from 'jose';
import { runBounded } from '../../lambdas/core/access/participant-logout.ts';
import { clientMetadataSchema, type OidcClient } from '../../lambdas/core/oidc/client.ts';
import { BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_SECONDS, logoutTokenClaims, OidcBackChannelLogout } from '../../lambdas/core/oidc/backchannel-logout.ts';
import type { OutboundAnswer, OutboundHttp, OutboundRequest } from '../../lambdas/ports.ts';

const ISSUER = 'https://id.example.test/t/demo';

describe('the logout token (OIDC Back-Channel Logout 1.0 §2.4)', () => {
  it('carries iss, aud, iat, exp, jti, sub, sid and the back-channel logout event, and never a nonce', () => {
    const claims = logoutTokenClaims({ issuer: ISSUER, clientId: 'client-one', sub: 'alice', sid: 'sid-1', jti: 'jti-1', iat: 1_700_000_000 });
    expect(claims).toEqual({
      iss: ISSUER,
      aud: 'client-one',
      iat: 1_700_000_000,
      exp: 1_700_000_000 + LOGOUT_TOKEN_SECONDS,
      jti: 'jti-1',
      sub: 'alice',
      sid: 'sid-1',
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    });
    expect(claims).not.toHaveProperty('nonce');
  });

  it('leaves sid out when the ended access had none (sub alone names the user)', () => {
    const claims = logoutTokenClaims({ issuer: ISSUER, clientId: 'client-one', sub: 'alice', jti: 'jti-1', iat: 1 });
    expect(claims).not.toHaveProperty('sid');
    expect(claims['sub']).toBe('alice');
  });
});

/** The outbound port as a recorder answering with a fixed status (the policy itself is tested on its own). */
function recordingHttp(status: number): OutboundHttp & { calls: { url: string; request: OutboundRequest }[] } {
  const calls: { url: string; request: OutboundRequest }[] = [];
  return {
    calls,
    check: async () => undefined,
    request: async (url, request): Promise<OutboundAnswer> => {
      calls.push({ url, request });
      return { status, contentType: '', body: '', bytes: new Uint8Array() };
    },
  };
}

const client = (overrides: Partial<OidcClient>): OidcClient => ({
  ...clientMetadataSchema.parse({ redirect_uris: ['https://rp.example/cb'] }),
  client_id: 'client-one',
  tenant: 'demo',
  first_party: false,
  registered_by: 'registration',
  client_id_issued_at: 1,
  version: 1,
  ...overrides,
});

async function channel(found: OidcClient | undefined, status: number) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const http = recordingHttp(status);
  const logout = new OidcBackChannelLogout({
    clients: { find: async () => found },
    sign: (_tenant, claims, typ) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ }).sign(privateKey),
    http,
    clock: { now: () => 1_700_000_000_000 },
    random: { id: () => 'random-jti', bytes: (n) => new Uint8Array(n) },
  });
  return { logout, http, publicKey: await importJWK(await exportJWK(publicKey), 'ES256') };
}

describe('OidcBackChannelLogout', () => {
  it('POSTs a signed logout token, form-encoded, to the registered URI; 200 and 204 mean done', async () => {
    for (const status of [200, 204]) {
      const { logout, http, publicKey } = await channel(client({ backchannel_logout_uri: 'https://rp.example/bcl' }), status);
      expect(await logout.logout('demo', ISSUER, { clientId: 'client-one', sub: 'alice', sid: 'sid-1' })).toBe('sent');
      expect(http.calls).toHaveLength(1);
      const { url, request } = http.calls[0]!;
      expect(url).toBe('https://rp.example/bcl');
      expect(request).toMatchObject({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
      expect(request.timeoutMs).toBeGreaterThan(0);
      const token = new URLSearchParams(request.body!).get('logout_token')!;
      const { payload, protectedHeader } = await jwtVerify(token, publicKey, {
        issuer: ISSUER,
        audience: 'client-one',
        typ: 'logout+jwt',
        currentDate: new Date(1_700_000_000_000),
      });
      expect(protectedHeader.typ).toBe('logout+jwt');
      expect(payload).toMatchObject({ sub: 'alice', sid: 'sid-1', jti: 'random-jti', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } });
    }
  });

  it('treats any other answer as not logged out', async () => {
    const { logout } = await channel(client({ backchannel_logout_uri: 'https://rp.example/bcl' }), 400);
    await expect(logout.logout('demo', ISSUER, { clientId: 'client-one', sub: 'alice', sid: 'sid-1' })).rejects.toThrow('answered 400');
  });

  it('sends nothing to a client without a back-channel URI, or one that is gone', async () => {
    for (const found of [client({}), undefined]) {
      const { logout, http } = await channel(found, 200);
      expect(await logout.logout('demo', ISSUER, { clientId: 'client-one', sub: 'alice', sid: 'sid-1' })).toBe('not-registered');
      expect(http.calls).toEqual([]);
    }
  });

  it('sends no sid-less token to a client that requires sid', async () => {
    const { logout, http } = await channel(client({ backchannel_logout_uri: 'https://rp.example/bcl', backchannel_logout_session_required: true }), 200);
    await expect(logout.logout('demo', ISSUER, { clientId: 'client-one', sub: 'alice' })).rejects.toThrow('requires a sid');
    expect(http.calls).toEqual([]);
  });
});

describe('client metadata for back-channel logout', () => {
  it('accepts an absolute URI (query allowed) and refuses a fragment, a relative URI, and session_required without a URI', () => {
    expect(
      clientMetadataSchema.parse({
        redirect_uris: ['https://rp.example/cb'],
        backchannel_logout_uri: 'https://rp.example/bcl?x=1',
        backchannel_logout_session_required: true,
      }),
    ).toMatchObject({ backchannel_logout_uri: 'https://rp.example/bcl?x=1', backchannel_logout_session_required: true });
    for (const bad of [
      { backchannel_logout_uri: 'https://rp.example/bcl#f' },
      { backchannel_logout_uri: '/bcl' },
      { backchannel_logout_session_required: true },
    ]) {
      expect(clientMetadataSchema.safeParse({ redirect_uris: ['https://rp.example/cb'], ...bad }).success).toBe(false);
    }
  });
});

describe('bounded delivery', () => {
  it('runs at most `parallelism` jobs at once and reports each outcome in order', async () => {
    let running = 0;
    let peak = 0;
    const job = (value: number) => async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      if (value === 3) throw new Error('refused');
      return value;
    };
    const results = await runBounded([1, 2, 3, 4, 5, 6, 7].map(job), 3, 60_000);
    expect(peak).toBe(3);
    expect(results.map((r) => r.state)).toEqual(['done', 'done', 'failed', 'done', 'done', 'done', 'done']);
    expect(results[0]).toEqual({ state: 'done', value: 1 });
  });

  it('gives up at the deadline: a job that never answers is a timeout, and no job starts after it', async () => {
    let started = 0;
    const hangs = () => {
      started++;
      return new Promise<string>(() => undefined);
    };
    const quick = async () => {
      started++;
      return 'ok';
    };
    const results = await runBounded([quick, hangs, hangs, quick], 2, 50);
    expect(results.map((r) => r.state)).toEqual(['done', 'timeout', 'timeout', 'timeout']);
    // The first worker took job 3 after job 1 and hangs there; job 4 was never started.
    expect(started).toBe(3);
  });
});
