import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../cli/errors.ts';
import { calculateJwkThumbprint, CompactSign } from 'jose';
import { CardApiClient, CardApiError, generateDeviceKey, localDeviceReport, type DeviceKey } from '../../agent/sdk.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS } from '../support/backends.ts';
import { select } from '../support/card-flows.ts';
import { authorizeWithLogin, basic, pkce, postForm, RP_REDIRECT, type RegisteredClient } from '../support/oidc-flows.ts';
import { startStackOn } from '../support/oidc-stack.ts';
import { cli, seedDataDir } from '../support/processes.ts';

/**
 * Issue 13, devices: the agent registers its device (device key, OS, hostname hash, agent version) through
 * the card API with the SDK's code path; the admin API lists the user's devices, and removing one revokes
 * the refresh-token family that registered it (the device's PRT) so neither its refresh nor its access
 * tokens work any more.
 */
describe.each(BACKENDS)('agent devices (%s backend)', (backend) => {
  let stack: LocalStack;
  let adminAuth: string;
  const admin = (method: string, path: string) => fetch(`${stack.url}/t/demo/admin/v1${path}`, { method, headers: { Authorization: adminAuth } });

  beforeAll(async () => {
    stack = await startStackOn(backend);
    adminAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
  });
  afterAll(async () => stack?.close());

  /** A signed-in agent: access and refresh token of one family with the card scope. */
  async function signIn(): Promise<{ client: RegisteredClient; access: string; refresh: string }> {
    const issuer = `${stack.url}/t/demo`;
    const issued = await directoryServices(stack.runtime).clients.create(
      'demo',
      { client_name: 'agent', redirect_uris: [RP_REDIRECT], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid card offline_access' },
      'admin',
    );
    const client: RegisteredClient = { client_id: issued.client.client_id, client_secret: issued.clientSecret! };
    const { verifier, challenge } = pkce();
    const callback = await authorizeWithLogin(issuer, {
      client_id: client.client_id,
      scope: 'openid card offline_access',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const token = await postForm(
      `${issuer}/oidc/token`,
      { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: RP_REDIRECT, code_verifier: verifier },
      { Authorization: basic(client) },
    );
    expect(token.status).toBe(200);
    return { client, access: String(token.body['access_token']), refresh: String(token.body['refresh_token']) };
  }

  const registration = async (access: string, device: DeviceKey, payload: Record<string, unknown>) =>
    fetch(`${stack.url}/t/demo/card/v1/devices`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${access}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        proof: await new CompactSign(Buffer.from(JSON.stringify(payload)))
          .setProtectedHeader({ alg: 'ES256', typ: 'cloudcard-device+jwt', jwk: device.publicJwk })
          .sign(device.privateKey),
      }),
    });

  it('registers the device, lists it, and removing it revokes its PRT family and ends its card session', async () => {
    const enrolled = await directoryServices(stack.runtime).cards!.enrol('demo', {
      username: 'alice',
      slots: ['9c'],
      slotAlgorithms: { '9c': 'p256' },
      pin: '24681357',
      puk: '86427531',
    });
    const agent = await signIn();
    const device = await generateDeviceKey();
    const id = await calculateJwkThumbprint(device.publicJwk);
    const api = new CardApiClient({ tenantUrl: `${stack.url}/t/demo`, accessToken: () => agent.access });
    const opened = await api.openSession(enrolled.card.id, device);
    expect(await api.transmit(opened.session, select())).toBeInstanceOf(Uint8Array);

    const registered = await api.registerDevice(device, localDeviceReport('9.9.9', false));
    expect(registered).toMatchObject({ id, agentVersion: '9.9.9', cardSessionLive: false });
    expect(registered.hostnameHash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Registering again refreshes the report, keeping when it was first registered.
    const again = await api.registerDevice(device, { agentVersion: '9.9.10', cardSessionLive: true });
    expect(again).toMatchObject({ id, agentVersion: '9.9.10', cardSessionLive: true, registeredAt: registered.registeredAt });

    const listed = await admin('GET', '/users/alice/devices');
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { devices: unknown[] }).devices).toEqual([expect.objectContaining({ id, agentVersion: '9.9.10', cardSessionLive: true })]);

    expect((await admin('DELETE', `/users/alice/devices/${id}`)).status).toBe(204);
    const refreshed = await postForm(
      `${stack.url}/t/demo/oidc/token`,
      { grant_type: 'refresh_token', refresh_token: agent.refresh },
      { Authorization: basic(agent.client) },
    );
    expect(refreshed.body['error']).toBe('invalid_grant');
    await expect(api.cards()).rejects.toMatchObject({ status: 401 } satisfies Partial<CardApiError>);
    // The card session opened with the device key is a tombstone: the agent is told to remove the card.
    await expect(api.transmit(opened.session, select())).rejects.toMatchObject({ status: 403 } satisfies Partial<CardApiError>);
    expect(((await (await admin('GET', '/users/alice/devices')).json()) as { devices: unknown[] }).devices).toEqual([]);
    expect((await admin('DELETE', `/users/alice/devices/${id}`)).status).toBe(404);
    expect((await admin('GET', '/users/nobody/devices')).status).toBe(404);
  });

  it('refuses a registration for another URL, a stale one, an unknown member, and one without a token', async () => {
    const agent = await signIn();
    const device = await generateDeviceKey();
    const now = Math.floor(Date.now() / 1000);
    const aud = `${stack.url}/t/demo/card/v1/devices`;
    for (const payload of [
      { aud: `${stack.url}/t/other/card/v1/devices`, iat: now },
      { aud, iat: now - 3600 },
      { aud, iat: now, hostname: 'laptop-of-alice' },
      { aud, iat: now, cardSessionLive: 'yes' },
    ]) {
      const refused = await registration(agent.access, device, payload);
      expect(refused.status).toBe(400);
      expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    }
    expect((await registration('not-a-token', device, { aud, iat: now })).status).toBe(401);
    expect(((await (await admin('GET', '/users/alice/devices')).json()) as { devices: unknown[] }).devices).toEqual([]);
    expect((await registration(agent.access, device, { aud, iat: now, os: 'linux 6.1' })).status).toBe(200);
  });
});

describe('agent devices in the operator CLI', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-devices-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };

  beforeAll(async () => {
    await seedDataDir(env);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("lists a user's devices (table and JSON) and answers not found for an unknown device or user", async () => {
    const listed = await cli(['user', 'devices', 'demo', 'alice', '--json'], env);
    expect(listed.code).toBe(EXIT.ok);
    expect(listed.json()).toEqual([]);
    expect((await cli(['user', 'devices', 'demo', 'alice'], env)).stdout).toMatch(/^ID\s+OS\s+AGENTVERSION\s+CARDSESSIONLIVE/m);
    const unknown = await cli(['user', 'remove-device', 'demo', 'alice', 'no-such-device'], env);
    expect(unknown.code).toBe(EXIT.notFound);
    expect(unknown.stderr).toMatch(/no device no-such-device/);
    expect((await cli(['user', 'devices', 'demo', 'nobody'], env)).code).toBe(EXIT.notFound);
  });
});
