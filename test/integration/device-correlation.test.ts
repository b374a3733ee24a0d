import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { CardApiClient, CardApiError, generateDeviceKey, type DeviceKey } from '../../agent/sdk.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS } from '../support/backends.ts';
import { cardAccessToken, select } from '../support/card-flows.ts';
import { HttpBrowser } from '../support/http-browser.ts';
import { authorizeWithLogin, basic, pkce, postForm, registerClient, RP_REDIRECT, type RegisteredClient } from '../support/oidc-flows.ts';
import { allowRegistration, startStackOn } from '../support/oidc-stack.ts';
import { fetchFrom } from '../support/source-fetch.ts';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
/** The user's machine: its agent and its browser share this source address. */
const MACHINE = '127.0.0.5';

type SessionJson = { id: string; kind: string; correlation?: Record<string, unknown>; reasons?: string[]; decision?: string; score?: number };

/**
 * Issue 13, device correlation and CAEP levels through HTTP: the agent (the SDK, from the machine's
 * address) opens a card session with its device key and registers the device; a portal sign-in from the
 * same address is correlated with that device (admin sessions API), its SSO reuse gets the
 * `device-correlated` credit, the RP's refresh-token family inherits the correlation, and once the card
 * session ends the next reuse and the next refresh carry `correlation-lost`.
 * A CAEP risk-level-change HIGH signed by a configured transmitter steps up the next refresh; a
 * device-compliance-change `not-compliant` for the correlated device denies the next SSO reuse.
 */
describe.each(BACKENDS)('device correlation and CAEP levels (%s backend)', (backend) => {
  let stack: LocalStack;
  let adminAuth: string;
  let rp: RegisteredClient;
  let enrolledCard: string;
  let transmitterKey: CryptoKey;
  const transmitter = 'https://signals.example';
  const audience = 'https://cloudcard.test/t/demo';
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.url}/t/demo/admin/v1${path}`, {
      method,
      headers: { Authorization: adminAuth, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const sessions = async (): Promise<SessionJson[]> => ((await (await admin('GET', '/users/alice/sessions')).json()) as { sessions: SessionJson[] }).sessions;
  const sidOf = (idToken: unknown) => String(JSON.parse(Buffer.from(String(idToken).split('.')[1]!, 'base64url').toString())['sid']);

  /** The agent on the machine: card API calls from its address, a device key, the card's session opened and the device registered. */
  async function agentOnMachine(): Promise<{ api: CardApiClient; device: DeviceKey; id: string; session: string }> {
    const access = await cardAccessToken(stack);
    const api = new CardApiClient({ tenantUrl: `${stack.url}/t/demo`, accessToken: () => access, fetch: fetchFrom(() => ({ address: MACHINE })) });
    const device = await generateDeviceKey();
    const opened = await api.openSession(enrolledCard, device);
    expect(await api.transmit(opened.session, select())).toBeInstanceOf(Uint8Array);
    await api.registerDevice(device, { agentVersion: '1.0.0', cardSessionLive: true });
    return { api, device, id: await calculateJwkThumbprint(device.publicJwk), session: opened.session };
  }

  /** A browser at `address` signs in on the portal for the RP: its SSO session id and the RP's tokens. */
  async function browserSignIn(address: string): Promise<{ browser: HttpBrowser; sid: string; refresh: string; silently: () => Promise<URL> }> {
    const browser = new HttpBrowser(fetchFrom(() => ({ address })));
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
    const silently = async () => {
      const params = new URLSearchParams({
        response_type: 'code',
        client_id: rp.client_id,
        redirect_uri: RP_REDIRECT,
        scope: 'openid',
        prompt: 'none',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      return new URL((await browser.follow(`${stack.url}/t/demo/oidc/authorize?${params}`, RP_REDIRECT)).url);
    };
    return { browser, sid: sidOf(issued.body['id_token']), refresh: String(issued.body['refresh_token']), silently };
  }

  const push = async (events: Record<string, unknown>, subId: unknown) => {
    const token = await new SignJWT({ events, sub_id: subId })
      .setProtectedHeader({ alg: 'ES256', kid: 't1', typ: 'secevent+jwt' })
      .setIssuer(transmitter)
      .setAudience(audience)
      .setIssuedAt()
      .setJti(randomUUID())
      .sign(transmitterKey);
    return (await fetch(`${stack.url}/t/demo/ssf/push`, { method: 'POST', headers: { 'Content-Type': 'application/secevent+jwt' }, body: token })).status;
  };

  beforeAll(async () => {
    stack = await startStackOn(backend);
    await allowRegistration(stack);
    adminAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    rp = await registerClient(`${stack.url}/t/demo`);
    enrolledCard = (
      await directoryServices(stack.runtime).cards!.enrol('demo', {
        username: 'alice',
        slots: ['9c'],
        slotAlgorithms: { '9c': 'p256' },
        pin: '24681357',
        puk: '86427531',
      })
    ).card.id;
    const pair = await generateKeyPair('ES256');
    transmitterKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 't1', alg: 'ES256', use: 'sig' };
    expect((await admin('PUT', '/ssf-transmitters', { transmitters: [{ issuer: transmitter, jwks: { keys: [jwk] }, audience }] })).status).toBe(200);
  });
  afterAll(async () => stack?.close());

  it('correlates a sign-in from the machine with its device, credits its reuse, and scores correlation-lost once the card session ends', async () => {
    const agent = await agentOnMachine();

    // A sign-in from elsewhere is not correlated.
    const elsewhere = await browserSignIn('127.0.0.6');
    expect((await sessions()).find((s) => s.id === elsewhere.sid)?.correlation).toBeUndefined();

    const signedIn = await browserSignIn(MACHINE);
    const stored = (await sessions()).find((s) => s.id === signedIn.sid);
    expect(stored?.correlation).toEqual({
      state: 'correlated',
      via: 'card-session',
      at: expect.any(Number),
      network: MACHINE,
      device: agent.id,
      card: enrolledCard,
      cardSession: expect.any(String),
    });

    // SSO reuse from the machine: allowed, with the correlation credit.
    expect((await signedIn.silently()).searchParams.get('code')).toBeTruthy();
    expect((await sessions()).find((s) => s.id === signedIn.sid)).toMatchObject({
      decision: 'allow',
      score: 0,
      reasons: ['device-correlated'],
      correlation: { state: 'correlated' },
    });

    // The RP's refresh-token family started with the session's correlation (the code carried it); its
    // refreshes come from the RP's back end, another address: no credit, nothing lost either.
    const refresh = async (token: string) =>
      postForm(`${stack.url}/t/demo/oidc/token`, { grant_type: 'refresh_token', refresh_token: token }, { Authorization: basic(rp) });
    const familyOf = async () => (await sessions()).find((s) => s.kind === 'refresh-family' && s.correlation?.['device'] === agent.id);
    const refreshed = await refresh(signedIn.refresh);
    expect(refreshed.status).toBe(200);
    expect(await familyOf()).toMatchObject({ decision: 'allow', reasons: [], correlation: { state: 'correlated', via: 'card-session' } });

    // The card is taken out: the agent closes its session. The next reuse carries correlation-lost.
    await agent.api.close(agent.session);
    expect((await signedIn.silently()).searchParams.get('code')).toBeTruthy();
    expect((await sessions()).find((s) => s.id === signedIn.sid)).toMatchObject({
      decision: 'allow',
      score: 30,
      reasons: ['correlation-lost'],
      correlation: { state: 'lost', lostBecause: 'card-session-ended', device: agent.id, lostAt: expect.any(Number) },
    });
    // And so does the family's next refresh.
    expect((await refresh(String(refreshed.body['refresh_token']))).status).toBe(200);
    expect(await familyOf()).toMatchObject({
      decision: 'allow',
      score: 30,
      reasons: ['correlation-lost'],
      correlation: { state: 'lost', lostBecause: 'card-session-ended' },
    });
  });

  it('a card session superseded by another device loses the correlation', async () => {
    const agent = await agentOnMachine();
    const signedIn = await browserSignIn(MACHINE);
    expect((await sessions()).find((s) => s.id === signedIn.sid)?.correlation).toMatchObject({ state: 'correlated', device: agent.id });
    // Another machine's agent takes the card over.
    const access = await cardAccessToken(stack);
    const other = new CardApiClient({ tenantUrl: `${stack.url}/t/demo`, accessToken: () => access, fetch: fetchFrom(() => ({ address: '127.0.0.7' })) });
    await other.openSession(enrolledCard, await generateDeviceKey());
    expect((await signedIn.silently()).searchParams.get('code')).toBeTruthy();
    expect((await sessions()).find((s) => s.id === signedIn.sid)).toMatchObject({
      reasons: ['correlation-lost'],
      correlation: { state: 'lost', lostBecause: 'card-session-superseded' },
    });
  });

  it('a CAEP risk-level-change HIGH steps up the next refresh; a non-compliant correlated device denies SSO reuse and card sessions', async () => {
    const agent = await agentOnMachine();
    const signedIn = await browserSignIn(MACHINE);
    const first = await postForm(
      `${stack.url}/t/demo/oidc/token`,
      { grant_type: 'refresh_token', refresh_token: signedIn.refresh },
      { Authorization: basic(rp) },
    );
    expect(first.status).toBe(200);

    expect(
      await push(
        { [`${CAEP}risk-level-change`]: { current_level: 'HIGH', previous_level: 'LOW', risk_reason: 'leaked credentials' } },
        { format: 'opaque', id: 'alice' },
      ),
    ).toBe(202);
    const stepped = await postForm(
      `${stack.url}/t/demo/oidc/token`,
      { grant_type: 'refresh_token', refresh_token: String(first.body['refresh_token']) },
      { Authorization: basic(rp) },
    );
    expect(stepped.status).toBe(400);
    expect(stepped.body).toMatchObject({ error: 'insufficient_user_authentication', acr_values: 'urn:cloudcard:acr:mfa' });
    const family = (await sessions()).find((s) => s.kind === 'refresh-family' && s.reasons?.includes('risk-level-high'));
    expect(family).toMatchObject({ decision: 'step-up', score: 60, reasons: ['risk-level-high'] });
    expect(await push({ [`${CAEP}risk-level-change`]: { current_level: 'LOW', previous_level: 'HIGH' } }, { format: 'opaque', id: 'alice' })).toBe(202);

    // The device the browser session is correlated with is reported non-compliant: its reuse is denied
    // (the session ends: login_required), and the device can no longer open a card session.
    expect(
      await push(
        { [`${CAEP}device-compliance-change`]: { current_status: 'not-compliant', previous_status: 'compliant' } },
        { format: 'opaque', id: agent.id },
      ),
    ).toBe(202);
    expect((await signedIn.silently()).searchParams.get('error')).toBe('login_required');
    expect((await sessions()).find((s) => s.id === signedIn.sid)).toBeUndefined();
    await expect(agent.api.openSession(enrolledCard, agent.device)).rejects.toBeInstanceOf(CardApiError);
  });
});
