import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, decodeJwt, importJWK, type CryptoKey } from 'jose';
import * as oidc from 'openid-client';
import { browserSsoUrl, login, serviceToken } from '../../agent/login.ts';
import { newDeviceKey, readState, writeState, type AgentState } from '../../agent/state.ts';
import { AGENT_CLIENT_ID } from '../../lambdas/core/oidc/client.ts';
import { grantKey } from '../../lambdas/core/oidc/grants.ts';
import type { RiskRecord } from '../../lambdas/core/risk/context.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS, testClock, type BackendName } from '../support/backends.ts';
import { approveDevice } from '../support/device-approval.ts';
import { HttpBrowser } from '../support/http-browser.ts';
import { startStackOn } from '../support/oidc-stack.ts';
import { fetchFrom } from '../support/source-fetch.ts';

const PAYROLL = 'https://payroll.example.test/api';
const CALLBACK = 'http://127.0.0.1:9/callback';

type OAuthFailure = { error?: string; error_description?: string };
const failureOf = (promise: Promise<unknown>): Promise<OAuthFailure> =>
  promise.then(
    () => ({ error: 'none: it succeeded' }),
    (error: OAuthFailure) => error,
  );

/**
 * Issue 13's primary refresh token through HTTP: the agent's own sign-in (device flow, agent/login.ts)
 * binds its refresh token to the device key; openid-client then presents it with that key, another key
 * or none; RFC 8707 `resource` on the refresh grant; and the one-time browser-SSO transfer.
 */
describe.each(BACKENDS)('the agent’s primary refresh token (%s backend)', (backend: BackendName) => {
  let stack: LocalStack;
  const clock = testClock();
  const dirs: string[] = [];
  const issuer = (): string => `${stack.url}/t/demo`;
  const newDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-prt-'));
    dirs.push(dir);
    return dir;
  };

  /** `cloudcard-agent login --device`, approved by alice in the portal. */
  async function signedInAgent(): Promise<{ stateDir: string; state: AgentState }> {
    const stateDir = newDir();
    let approved: Promise<void> | undefined;
    await login({
      issuer: issuer(),
      stateDir,
      flow: 'device',
      say: (line) => {
        const [, url, code] = /open (\S+) and enter the code (\S+)/.exec(line) ?? [];
        if (url && code) approved = approveDevice(url, code);
      },
    });
    await approved;
    return { stateDir, state: readState(stateDir) };
  }

  /** openid-client as the agent's client, with a DPoP handle for a device key. */
  async function agentClient(deviceKey: AgentState['deviceKey']): Promise<{ config: oidc.Configuration; dpop: oidc.DPoPHandle }> {
    const config = await oidc.discovery(new URL(issuer()), AGENT_CLIENT_ID, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const privateKey = (await importJWK(deviceKey.privateJwk, 'ES256')) as CryptoKey;
    const publicKey = (await importJWK(deviceKey.publicJwk, 'ES256')) as CryptoKey;
    return { config, dpop: oidc.getDPoPHandle(config, { privateKey, publicKey }) };
  }

  const familyItem = async (accessToken: string) => {
    const gid = decodeJwt(accessToken)['gid'] as string;
    return stack.runtime.state.get<{ PK: string; SK: string; rtBinding?: string; revoked?: boolean; risk?: RiskRecord }>(grantKey(gid));
  };

  beforeAll(async () => {
    stack = await startStackOn(backend, { clock });
    // Each sign-in here is a device flow: a 1 s polling interval (the tenant's setting) instead of RFC 8628's 5 s.
    await directoryServices(stack.runtime).tenants.update('demo', { oidc: { deviceCodeIntervalSeconds: 1 } });
  });
  afterAll(async () => {
    await stack?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('binds the sign-in’s refresh token to the device key; a refresh without a proof is invalid_dpop_proof; access tokens are Bearer', async () => {
    const { state } = await signedInAgent();
    expect((await familyItem(state.accessToken))?.rtBinding).toBe(await calculateJwkThumbprint(state.deviceKey.publicJwk));
    // RFC 9449 §5: the refresh token alone is bound; the card API's access token is a Bearer token.
    expect(decodeJwt(state.accessToken)['cnf']).toBeUndefined();
    const { config, dpop } = await agentClient(state.deviceKey);
    expect(await failureOf(oidc.refreshTokenGrant(config, state.refreshToken!))).toMatchObject({ error: 'invalid_dpop_proof' });
    const rotated = await oidc.refreshTokenGrant(config, state.refreshToken!, undefined, { DPoP: dpop });
    expect(rotated.token_type.toLowerCase()).toBe('bearer');
    expect(rotated.refresh_token).not.toBe(state.refreshToken);
    // Rotated on use: the spent token is reuse, which ends the family.
    expect(await failureOf(oidc.refreshTokenGrant(config, state.refreshToken!, undefined, { DPoP: dpop }))).toMatchObject({ error: 'invalid_grant' });
    expect(await failureOf(oidc.refreshTokenGrant(config, rotated.refresh_token!, undefined, { DPoP: dpop }))).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses the PRT with a proof by another key and revokes its family', async () => {
    const { state } = await signedInAgent();
    const thief = await agentClient(await newDeviceKey());
    expect(await failureOf(oidc.refreshTokenGrant(thief.config, state.refreshToken!, undefined, { DPoP: thief.dpop }))).toMatchObject({
      error: 'invalid_grant',
    });
    const holder = await agentClient(state.deviceKey);
    expect(await failureOf(oidc.refreshTokenGrant(holder.config, state.refreshToken!, undefined, { DPoP: holder.dpop }))).toMatchObject({
      error: 'invalid_grant',
    });
    expect((await familyItem(state.accessToken))?.revoked).toBe(true);
  });

  it('scores unknown-device for a PRT whose key is no registered device of the user, not once the device is registered', async () => {
    const { state } = await signedInAgent();
    const jkt = await calculateJwkThumbprint(state.deviceKey.publicJwk);
    const { config, dpop } = await agentClient(state.deviceKey);
    const lastReasons = async (accessToken: string) => (await familyItem(accessToken))?.risk?.decisions.at(-1)?.reasons;
    // Not registered yet: the signal fires (10, below the step-up band: still allowed).
    const unregistered = await oidc.refreshTokenGrant(config, state.refreshToken!, undefined, { DPoP: dpop });
    expect(await lastReasons(unregistered.access_token)).toContain('unknown-device');
    // Registered (what the card API's POST /devices does): it no longer fires.
    const devices = directoryServices(stack.runtime).devices!;
    await devices.register('demo', 'alice', jkt, { os: 'linux', hostnameHash: 'h', agentVersion: '9.9.9', cardSessionLive: false });
    const registered = await oidc.refreshTokenGrant(config, unregistered.refresh_token!, undefined, { DPoP: dpop });
    expect(await lastReasons(registered.access_token)).not.toContain('unknown-device');
  });

  it('gives per-service access tokens (RFC 8707 resource): aud is the resource, only allowed ones, invalid_target spends nothing', async () => {
    const { stateDir, state } = await signedInAgent();
    const { config, dpop } = await agentClient(state.deviceKey);
    const refresh = (resource: string) => oidc.refreshTokenGrant(config, readState(stateDir).refreshToken!, { resource }, { DPoP: dpop });
    expect(await failureOf(refresh(PAYROLL))).toMatchObject({ error: 'invalid_target' });
    await directoryServices(stack.runtime).clients.setResources('demo', AGENT_CLIENT_ID, [PAYROLL]);
    expect(await failureOf(refresh(`${PAYROLL}#part`))).toMatchObject({ error: 'invalid_target' });
    expect(await failureOf(refresh('payroll/api'))).toMatchObject({ error: 'invalid_target' });
    expect(await failureOf(refresh('https://other.example.test/api'))).toMatchObject({ error: 'invalid_target' });

    // The same refresh token still works: the refusals above consumed nothing. serviceToken is the agent's own path.
    const token = await serviceToken(stateDir, PAYROLL);
    expect(token).toMatchObject({ token_type: expect.stringMatching(/^bearer$/i), resource: PAYROLL });
    expect(decodeJwt(token.access_token)).toMatchObject({ aud: PAYROLL, sub: 'alice', client_id: AGENT_CLIENT_ID });
    expect(readState(stateDir).refreshToken).not.toBe(state.refreshToken);
    // The access check ran with the target service in its context.
    expect((await familyItem(state.accessToken))?.risk?.decisions.at(-1)).toMatchObject({ kind: 'refresh', decision: 'allow', context: { resource: PAYROLL } });
    // A token for payroll is not a token for the tenant's own APIs (the card API checks aud).
    const cardApi = await fetch(`${issuer()}/card/v1/tokens`, { method: 'POST', headers: { Authorization: `Bearer ${token.access_token}` } });
    expect(cardApi.status).toBe(401);
  });

  it('rotates the PRT exactly once under 20 concurrent refreshes with its key', async () => {
    const { state } = await signedInAgent();
    const { config, dpop } = await agentClient(state.deviceKey);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => failureOf(oidc.refreshTokenGrant(config, state.refreshToken!, undefined, { DPoP: dpop }))),
    );
    expect(results.filter((r) => r.error === 'none: it succeeded')).toHaveLength(1);
    expect(results.filter((r) => r.error === 'invalid_grant')).toHaveLength(19);
  });

  it('brings an agent client made before the PRT up to date when add-agent runs again, leaving the rest as it was', async () => {
    const clients = directoryServices(stack.runtime).clients;
    await directoryServices(stack.runtime).tenants.create({ id: `legacy-${backend}` });
    const made = (await clients.addAgent(`legacy-${backend}`)).client;
    const { tenant: _t, first_party: _f, registered_by: _r, client_id_issued_at: _i, version: _v, ...metadata } = made;
    await clients.replaceMetadata(`legacy-${backend}`, AGENT_CLIENT_ID, {
      ...metadata,
      dpop_bound_access_tokens: false,
      bearer_access_tokens: false,
      client_name: 'renamed by the operator',
    });
    const again = await clients.addAgent(`legacy-${backend}`);
    expect(again).toMatchObject({
      created: false,
      client: { dpop_bound_access_tokens: true, bearer_access_tokens: true, client_name: 'renamed by the operator' },
    });
  });

  describe('browser SSO from the PRT', () => {
    /** An authorization request of the agent's client with prompt=none: a code only with a live SSO session. */
    const silentAuthorize = (): string =>
      `${issuer()}/oidc/authorize?${new URLSearchParams({ client_id: AGENT_CLIENT_ID, redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', prompt: 'none', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGGSN7FLYM', code_challenge_method: 'S256' })}`;

    it('opens a signed-in browser session once, from the same device, then refuses the replay', async () => {
      const { stateDir } = await signedInAgent();
      const url = await browserSsoUrl(stateDir, silentAuthorize());
      expect(url).toMatch(new RegExp(`^${issuer()}/portal/sso\\?transfer=sx_[A-Za-z0-9_-]{43}$`));

      // Another device (another source address) cannot use it, and its try does not burn it.
      const elsewhere = new HttpBrowser(fetchFrom(() => ({ address: '127.0.0.2' })));
      const refused = await elsewhere.request(url);
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain('made for another device');

      const browser = new HttpBrowser();
      const landed = await browser.follow(url, CALLBACK);
      expect(new URL(landed.url).searchParams.get('code')).toBeTruthy();

      const replay = await new HttpBrowser().request(url);
      expect(replay.status).toBe(410);
      expect(await replay.text()).toContain('already been used');
    });

    it('redeems a transfer exactly once under 5 concurrent redemptions', async () => {
      const { stateDir } = await signedInAgent();
      const url = await browserSsoUrl(stateDir, silentAuthorize());
      const statuses = await Promise.all(Array.from({ length: 5 }, async () => (await new HttpBrowser().request(url)).status));
      expect(statuses.filter((s) => s === 303)).toHaveLength(1);
      expect(statuses.filter((s) => s === 410)).toHaveLength(4);
    });

    it('refuses a target outside the tenant (no open redirect), another key, and no proof', async () => {
      const { stateDir, state } = await signedInAgent();
      await expect(browserSsoUrl(stateDir, 'https://evil.example.test/')).rejects.toMatchObject({ error: 'invalid_request' });
      await expect(browserSsoUrl(stateDir, `${stack.url}/t/other/portal/`)).rejects.toMatchObject({ error: 'invalid_request' });
      // The same PRT in a state with another device key.
      const copy = newDir();
      writeState(copy, { ...state, deviceKey: await newDeviceKey() });
      await expect(browserSsoUrl(copy, silentAuthorize())).rejects.toMatchObject({ error: 'invalid_grant' });
      const bare = await fetch(`${issuer()}/oidc/sso-transfer`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: AGENT_CLIENT_ID, refresh_token: state.refreshToken!, target: silentAuthorize() }).toString(),
      });
      expect(bare.status).toBe(400);
      expect(await bare.json()).toMatchObject({ error: 'invalid_dpop_proof' });
      // A rotated PRT no longer opens anything, even with its key.
      await directoryServices(stack.runtime).clients.setResources('demo', AGENT_CLIENT_ID, [PAYROLL]);
      await serviceToken(stateDir, PAYROLL);
      const stale = newDir();
      writeState(stale, state);
      await expect(browserSsoUrl(stale, silentAuthorize())).rejects.toMatchObject({ error: 'invalid_grant' });
    });

    // Last: it moves the stack's clock.
    it('refuses a transfer after its minute', async () => {
      const { stateDir } = await signedInAgent();
      const url = await browserSsoUrl(stateDir, silentAuthorize());
      clock.advance(61);
      const late = await new HttpBrowser().request(url);
      expect(late.status).toBe(410);
      expect(await late.text()).toContain('expired');
    });
  });
});
