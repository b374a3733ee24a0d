import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { LocalStack } from '../../local/stack.ts';
import { HttpBrowser } from '../support/http-browser.ts';
import { authorizeWithLogin, basic, pkce, postForm, registerClient, RP_REDIRECT, type RegisteredClient } from '../support/oidc-flows.ts';
import { allowRegistration, startStackOn } from '../support/oidc-stack.ts';
import { cli, seedDataDir } from '../support/processes.ts';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';

/**
 * Issue 13's Shared Signals receiver: a loopback transmitter (its JWKS served on loopback, fetched through
 * the outbound URL policy) pushes Security Event Tokens (RFC 8935) signed with jose; a CAEP
 * session-revoked ends the user's sessions (the next refresh is invalid_grant); a foreign key, a replayed
 * jti, a wrong audience and an unknown issuer are refused with RFC 8935 error JSON.
 */
describe('Shared Signals receiver (RFC 8935 push, CAEP 1.0)', () => {
  let stack: LocalStack;
  let jwksServer: Server;
  let issuer = '';
  let adminAuth: string;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  let rp: RegisteredClient;
  const audience = 'https://cloudcard.test/t/demo';
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.url}/t/demo/admin/v1${path}`, {
      method,
      headers: { Authorization: adminAuth, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  const set = (
    events: Record<string, unknown>,
    options: { signWith?: CryptoKey; aud?: string; iss?: string; jti?: string; typ?: string; subId?: unknown } = {},
  ) =>
    new SignJWT({ events, ...(options.subId ? { sub_id: options.subId } : {}) })
      .setProtectedHeader({ alg: 'ES256', kid: options.signWith === otherKey ? 'other' : 'k1', typ: options.typ ?? 'secevent+jwt' })
      .setIssuer(options.iss ?? issuer)
      .setAudience(options.aud ?? audience)
      .setIssuedAt()
      .setJti(options.jti ?? randomUUID())
      .sign(options.signWith ?? key);
  const push = async (token: string, contentType = 'application/secevent+jwt') => {
    const response = await fetch(`${stack.url}/t/demo/ssf/push`, {
      method: 'POST',
      headers: { 'Content-Type': contentType, Accept: 'application/json' },
      body: token,
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as { err?: string; description?: string }) : undefined };
  };
  const signIn = async () => {
    const browser = new HttpBrowser();
    const { verifier, challenge } = pkce();
    const callback = await authorizeWithLogin(
      `${stack.url}/t/demo`,
      { client_id: rp.client_id, code_challenge: challenge, code_challenge_method: 'S256' },
      browser,
    );
    const issued = await postForm(
      `${stack.url}/t/demo/oidc/token`,
      { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: RP_REDIRECT, code_verifier: verifier },
      { Authorization: basic(rp) },
    );
    expect(issued.status).toBe(200);
    return String(issued.body['refresh_token']);
  };
  const refresh = (token: string) =>
    postForm(`${stack.url}/t/demo/oidc/token`, { grant_type: 'refresh_token', refresh_token: token }, { Authorization: basic(rp) });

  beforeAll(async () => {
    stack = await startStackOn('embedded');
    await allowRegistration(stack);
    adminAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwksServer = createServer(
      (_request, response) => void response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
    );
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', () => resolve()));
    issuer = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
    rp = await registerClient(`${stack.url}/t/demo`);
  });
  afterAll(async () => {
    jwksServer?.closeAllConnections();
    await new Promise<void>((resolve) => (jwksServer ? jwksServer.close(() => resolve()) : resolve()));
    await stack?.close();
  });

  it('configures transmitters through the admin API, refusing a bad document field by field', async () => {
    expect(await (await admin('GET', '/ssf-transmitters')).json()).toEqual({ transmitters: [] });
    const bad = await admin('PUT', '/ssf-transmitters', { transmitters: [{ issuer: 'x', audience: audience }] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { issues: string[] }).issues).toEqual(expect.arrayContaining([expect.stringMatching(/^transmitters\.0\.jwks_uri: /)]));
    const stored = await admin('PUT', '/ssf-transmitters', { transmitters: [{ issuer, jwks_uri: `${issuer}/jwks`, audience }] });
    expect(stored.status).toBe(200);
    expect(await (await admin('GET', '/ssf-transmitters')).json()).toEqual({ transmitters: [{ issuer, jwks_uri: `${issuer}/jwks`, audience }] });
    const spec = (await (await fetch(`${stack.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/t/{tenant}/admin/v1/ssf-transmitters', '/t/{tenant}/ssf/push']));
  });

  it('refuses a SET signed by another key, with a wrong audience, from an unknown issuer, replayed, or not a SET', async () => {
    const revoked = { [`${CAEP}session-revoked`]: { event_timestamp: Math.floor(Date.now() / 1000) } };
    const subId = { format: 'opaque', id: 'alice' };
    expect(await push(await set(revoked, { signWith: otherKey, subId }))).toEqual({
      status: 400,
      body: { err: 'invalid_key', description: expect.any(String) },
    });
    expect(await push(await set(revoked, { aud: 'https://elsewhere.example', subId }))).toEqual({
      status: 400,
      body: { err: 'invalid_audience', description: expect.any(String) },
    });
    expect(await push(await set(revoked, { iss: 'https://unknown.example', subId }))).toEqual({
      status: 400,
      body: { err: 'invalid_issuer', description: expect.any(String) },
    });
    expect((await push(await set(revoked, { typ: 'JWT', subId }))).body?.err).toBe('invalid_request');
    expect((await push('not a jwt')).body?.err).toBe('invalid_request');
    expect((await push(await set(revoked, { subId }), 'text/plain')).body?.err).toBe('invalid_request');

    // An event for a user nobody knows is accepted (nothing to change), and its jti is then used up.
    const once = await set(revoked, { subId: { format: 'opaque', id: 'nobody' } });
    expect((await push(once)).status).toBe(202);
    expect(await push(once)).toEqual({ status: 400, body: { err: 'invalid_request', description: expect.stringMatching(/already received/) } });
  });

  it("ends the subject's sessions on session-revoked: the next refresh is invalid_grant", async () => {
    const refreshToken = await signIn();
    const before = await refresh(refreshToken);
    expect(before.status).toBe(200);
    const pushed = await push(
      await set(
        { [`${CAEP}session-revoked`]: { event_timestamp: Math.floor(Date.now() / 1000) } },
        { subId: { format: 'email', email: 'Alice@demo.example' } },
      ),
    );
    expect(pushed).toEqual({ status: 202, body: undefined });
    const after = await refresh(String(before.body['refresh_token']));
    expect(after.status).toBe(400);
    expect(after.body['error']).toBe('invalid_grant');
  });

  it('revokes the families on credential-change (iss_sub subject) and accepts level and compliance changes', async () => {
    const refreshToken = await signIn();
    const changed = await push(
      await set(
        { [`${CAEP}credential-change`]: { credential_type: 'password', change_type: 'update' } },
        { subId: { format: 'iss_sub', iss: issuer, sub: 'alice' } },
      ),
    );
    expect(changed.status).toBe(202);
    expect((await refresh(refreshToken)).body['error']).toBe('invalid_grant');
    expect(
      (
        await push(
          await set(
            { [`${CAEP}risk-level-change`]: { current_level: 'HIGH', previous_level: 'LOW', risk_reason: 'leaked' } },
            { subId: { format: 'opaque', id: 'alice' } },
          ),
        )
      ).status,
    ).toBe(202);
    expect(
      (
        await push(
          await set({ [`${CAEP}assurance-level-change`]: { namespace: 'NIST-AAL', current_level: 'nist-aal1' } }, { subId: { format: 'opaque', id: 'alice' } }),
        )
      ).status,
    ).toBe(202);
    expect(
      (
        await push(
          await set(
            { [`${CAEP}device-compliance-change`]: { current_status: 'not-compliant', previous_status: 'compliant' } },
            { subId: { format: 'opaque', id: 'device-42' } },
          ),
        )
      ).status,
    ).toBe(202);
  });
});

describe('Shared Signals transmitters in the operator CLI', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-ssf-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };

  beforeAll(async () => {
    await seedDataDir(env);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('shows and sets the transmitters, naming a bad field', async () => {
    expect((await cli(['ssf-transmitters', 'show', 'demo'], env)).json()).toEqual({ transmitters: [] });
    const bad = await cli(['ssf-transmitters', 'set', 'demo', '--file', '-'], env, '{"transmitters":[{"issuer":"https://idp.example","audience":"a"}]}');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/transmitters\.0\.jwks_uri/);
    const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] };
    const set = await cli(
      ['ssf-transmitters', 'set', 'demo', '--file', '-'],
      env,
      JSON.stringify({ transmitters: [{ issuer: 'https://idp.example', jwks, audience: 'a' }] }),
    );
    expect(set.code).toBe(0);
    expect((await cli(['ssf-transmitters', 'show', 'demo'], env)).json()).toMatchObject({ transmitters: [{ issuer: 'https://idp.example', audience: 'a' }] });
  });
});
