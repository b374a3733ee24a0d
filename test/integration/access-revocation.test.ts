import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { CardApiClient, CardApiError, generateDeviceKey } from '../../agent/sdk.ts';
import { ownerPartition } from '../../lambdas/core/access/owner-index.ts';
import { directoryServices, type DirectoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS, testClock } from '../support/backends.ts';
import { generalAuthenticate, pkcs1Block, select, sw, verifyPin } from '../support/card-flows.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { basic, pkce, postForm, RP_REDIRECT, type RegisteredClient } from '../support/oidc-flows.ts';
import { DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';

const SP_ENTITY = 'https://sp.example.test/metadata';
const SP_METADATA = `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${SP_ENTITY}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.test/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>`;

/**
 * Issue 10 items 1, 9, 10 through HTTP on both backends: disabling a user or a tenant ends every
 * continuation of their access (refresh, code and device-code redemption, SSO reuse in OIDC and SAML,
 * userinfo, card sessions), card deletion ends its session, a stolen refresh token or code presented by
 * another client or key revokes nothing, and a DPoP-bound token is no Bearer token at the card API.
 */
describe.each(BACKENDS)('access revocation on the %s backend', (backend) => {
  const clock = testClock();
  let stack: LocalStack;
  let services: DirectoryServices;
  let adminAuth: string;
  const issuerOf = (tenant: string) => `${stack.url}/t/${tenant}`;

  beforeAll(async () => {
    stack = await startStackOn(backend, { clock });
    services = directoryServices(stack.runtime);
    adminAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    await services.serviceProviders.register('demo', SP_METADATA);
  });
  afterAll(async () => stack?.close());

  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.url}${path}`, {
      method,
      headers: { Authorization: adminAuth, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  /** An operator-made confidential client (first-party: no consent page). */
  async function client(tenant: string, metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
    const issued = await services.clients.create(
      tenant,
      {
        client_name: 'test',
        redirect_uris: [RP_REDIRECT],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        scope: 'openid offline_access card',
        ...metadata,
      },
      'admin',
    );
    return { ...issued.client, ...(issued.clientSecret ? { client_secret: issued.clientSecret } : {}) };
  }

  async function user(tenant: string, username: string): Promise<void> {
    await services.users.add(tenant, { username, password: DEMO_PASSWORD });
  }

  /** Authorize in this browser; signs in as `username` on the portal when there is no usable SSO session. */
  async function authorize(tenant: string, browser: HttpBrowser, username: string, params: Record<string, string>): Promise<URL> {
    const url = new URL(`${issuerOf(tenant)}/oidc/authorize`);
    for (const [name, value] of Object.entries({ response_type: 'code', redirect_uri: RP_REDIRECT, scope: 'openid offline_access', ...params }))
      url.searchParams.set(name, value);
    let { response, url: at } = await browser.follow(url.toString(), RP_REDIRECT);
    if (at.startsWith(RP_REDIRECT)) return new URL(at);
    const login = formOf(await response.text());
    ({ url: at } = await browser.follow(login.action, RP_REDIRECT, { form: { ...login.fields, username, password: DEMO_PASSWORD } }));
    return new URL(at);
  }

  async function codeFlow(tenant: string, browser: HttpBrowser, username: string, rp: RegisteredClient, extra: Record<string, string> = {}) {
    const { verifier, challenge } = pkce();
    const callback = await authorize(tenant, browser, username, {
      client_id: rp.client_id,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...extra,
    });
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`no code: ${callback.toString()}`);
    return { code, verifier };
  }

  const redeem = (tenant: string, rp: RegisteredClient, code: string, verifier: string) =>
    postForm(
      `${issuerOf(tenant)}/oidc/token`,
      { grant_type: 'authorization_code', code, redirect_uri: RP_REDIRECT, code_verifier: verifier },
      { Authorization: basic(rp) },
    );
  const refresh = (tenant: string, rp: RegisteredClient, token: string) =>
    postForm(`${issuerOf(tenant)}/oidc/token`, { grant_type: 'refresh_token', refresh_token: token }, { Authorization: basic(rp) });

  /** Signs in and returns the tokens of a redeemed code. */
  async function tokensFor(tenant: string, browser: HttpBrowser, username: string, rp: RegisteredClient, scope = 'openid offline_access') {
    const { code, verifier } = await codeFlow(tenant, browser, username, rp, { scope });
    const tokens = await redeem(tenant, rp, code, verifier);
    expect(tokens.status).toBe(200);
    return { access: String(tokens.body['access_token']), refresh: String(tokens.body['refresh_token']) };
  }

  /** RFC 8628: a device code, approved in `browser` through its SSO session. */
  async function approvedDeviceCode(tenant: string, browser: HttpBrowser, rp: RegisteredClient): Promise<string> {
    const started = await postForm(`${issuerOf(tenant)}/oidc/device_authorization`, { scope: 'openid' }, { Authorization: basic(rp) });
    expect(started.status).toBe(200);
    const { response } = await browser.follow(`${issuerOf(tenant)}/portal/device`, RP_REDIRECT, { form: { user_code: String(started.body['user_code']) } });
    const confirm = formOf(await response.text());
    const { response: done } = await browser.follow(confirm.action, RP_REDIRECT, { form: { ...confirm.fields, decision: 'allow' } });
    expect(done.status).toBe(200);
    return String(started.body['device_code']);
  }

  it('after a user is disabled: refresh, code and device-code redemption, prompt=none, SAML SSO reuse and userinfo are all refused', async () => {
    await user('demo', 'dora');
    const rp = await client('demo');
    const browser = new HttpBrowser();
    const tokens = await tokensFor('demo', browser, 'dora', rp);
    // Granted before the disable, redeemed after.
    const pendingCode = await codeFlow('demo', browser, 'dora', rp, { prompt: 'none' });
    const deviceCode = await approvedDeviceCode('demo', browser, rp);
    const sso = browser.cookie('cc_sso');
    expect(sso).toBeDefined();
    // Before: the SSO session answers SAML IdP-initiated SSO at once (a form post to the SP's ACS).
    const samlBefore = await browser.request(`${issuerOf('demo')}/saml/sso/idp?sp=${encodeURIComponent(SP_ENTITY)}`);
    expect(samlBefore.status).toBe(200);
    expect(await samlBefore.text()).toContain('SAMLResponse');

    expect((await admin('POST', '/t/demo/admin/v1/users/dora/disable')).status).toBe(200);

    const refreshed = await refresh('demo', rp, tokens.refresh);
    expect(refreshed.status).toBe(400);
    expect(refreshed.body['error']).toBe('invalid_grant');
    const redeemed = await redeem('demo', rp, pendingCode.code, pendingCode.verifier);
    expect(redeemed.status).toBe(400);
    expect(redeemed.body['error']).toBe('invalid_grant');
    const polled = await postForm(
      `${issuerOf('demo')}/oidc/token`,
      { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode },
      { Authorization: basic(rp) },
    );
    expect(polled.status).toBe(400);
    expect(polled.body['error']).toBe('invalid_grant');
    const userinfo = await fetch(`${issuerOf('demo')}/oidc/userinfo`, { headers: { Authorization: `Bearer ${tokens.access}` } });
    expect(userinfo.status).toBe(401);
    expect(userinfo.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(((await userinfo.json()) as Record<string, unknown>)['error']).toBe('invalid_token');

    // SAML first, while the browser still holds the cookie: the refused session counts as none (fresh login).
    const samlAfter = await browser.request(`${issuerOf('demo')}/saml/sso/idp?sp=${encodeURIComponent(SP_ENTITY)}`);
    expect(samlAfter.status).toBe(303);
    expect(samlAfter.headers.get('location')).toContain('/portal/login');
    // The disable had already ended the session; a copy of the old cookie gets login_required at prompt=none.
    const { challenge } = pkce();
    const url = new URL(`${issuerOf('demo')}/oidc/authorize`);
    for (const [name, value] of Object.entries({
      response_type: 'code',
      client_id: rp.client_id,
      redirect_uri: RP_REDIRECT,
      scope: 'openid',
      prompt: 'none',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }))
      url.searchParams.set(name, value);
    const answer = await fetch(url, { redirect: 'manual', headers: { Cookie: `cc_sso=${sso}` } });
    expect(answer.status).toBe(303);
    expect(new URL(answer.headers.get('location')!).searchParams.get('error')).toBe('login_required');

    // Enabling her again (admin API) lets her sign in anew; nothing from before comes back.
    const enabled = await admin('POST', '/t/demo/admin/v1/users/dora/enable');
    expect(enabled.status).toBe(200);
    expect(((await enabled.json()) as { status: string }).status).toBe('active');
    expect((await refresh('demo', rp, tokens.refresh)).body['error']).toBe('invalid_grant');
    expect((await fetch(`${issuerOf('demo')}/oidc/userinfo`, { headers: { Authorization: `Bearer ${tokens.access}` } })).status).toBe(401);
    clock.advance(2);
    const again = await tokensFor('demo', new HttpBrowser(), 'dora', rp);
    expect((await refresh('demo', rp, again.refresh)).status).toBe(200);
  });

  it('ends card sessions at once when the user is disabled: VERIFY and GENERAL AUTHENTICATE get access-revoked', async () => {
    await user('demo', 'carl');
    const enrolled = await services.cards!.enrol('demo', { username: 'carl', slots: ['9a'], pin: '24681357', puk: '86427531' });
    const rp = await client('demo');
    const token = (await tokensFor('demo', new HttpBrowser(), 'carl', rp, 'openid card')).access;
    const api = new CardApiClient({ tenantUrl: issuerOf('demo'), accessToken: () => token });
    const opened = await api.openSession(enrolled.card.id, await generateDeviceKey());
    expect(sw(await api.transmit(opened.session, select()))).toBe(0x9000);
    expect(sw(await api.transmit(opened.session, verifyPin('24681357')))).toBe(0x9000);

    expect((await admin('POST', '/t/demo/admin/v1/users/carl/disable')).status).toBe(200);

    for (const command of [generalAuthenticate(0x07, 0x9a, pkcs1Block(Buffer.from('x'), 256)), verifyPin('24681357')]) {
      const refused = await api.transmit(opened.session, command).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(CardApiError);
      expect((refused as CardApiError).status).toBe(403);
      expect((refused as CardApiError).type).toBe('https://cloudcard.dev/problems/access-revoked');
      expect((refused as CardApiError).mustRemoveCard).toBe(true);
    }
    // The card no longer names the session, and the session's PIV state (PIN verified) is gone.
    expect((await services.cards!.get('demo', enrolled.card.id)).connected).toBe(false);
    const owned = await stack.runtime.state.query({ index: 'GSI1', partition: ownerPartition('demo', 'carl') });
    const session = owned.items.find((item) => String(item['GSI1SK']).startsWith('CARDSESS#'))!;
    expect(session['ended']).toBe('access-revoked');
    expect(session['piv']).toBeUndefined();
    // Every grant and SSO session of the user went too.
    expect(owned.items.filter((item) => String(item['GSI1SK']).startsWith('GRANT#')).every((item) => item['revoked'] === true)).toBe(true);
    expect(owned.items.some((item) => String(item['GSI1SK']).startsWith('SSO#'))).toBe(false);
  });

  it('a disabled tenant ends its card sessions and tokens, and re-enabling it brings none back', async () => {
    await services.tenants.create({ id: 'shut' });
    await user('shut', 'tess');
    const enrolled = await services.cards!.enrol('shut', { username: 'tess', slots: ['9a'], pin: '24681357', puk: '86427531' });
    const rp = await client('shut');
    const tokens = await tokensFor('shut', new HttpBrowser(), 'tess', rp, 'openid offline_access card');
    const api = new CardApiClient({ tenantUrl: issuerOf('shut'), accessToken: () => tokens.access });
    const opened = await api.openSession(enrolled.card.id, await generateDeviceKey());
    expect(sw(await api.transmit(opened.session, verifyPin('24681357')))).toBe(0x9000);

    expect((await admin('PATCH', '/t/shut/admin/v1/tenant', { status: 'disabled' })).status).toBe(200);
    const refused = await api.transmit(opened.session, generalAuthenticate(0x07, 0x9a, pkcs1Block(Buffer.from('x'), 256))).catch((error: unknown) => error);
    expect((refused as CardApiError).type).toBe('https://cloudcard.dev/problems/access-revoked');

    expect((await admin('PATCH', '/t/shut/admin/v1/tenant', { status: 'active' })).status).toBe(200);
    const still = await api.transmit(opened.session, generalAuthenticate(0x07, 0x9a, pkcs1Block(Buffer.from('x'), 256))).catch((error: unknown) => error);
    expect((still as CardApiError).status).toBe(403);
    const refreshed = await refresh('shut', rp, tokens.refresh);
    expect(refreshed.status).toBe(400);
    expect(refreshed.body['error']).toBe('invalid_grant');
  });

  it('deleting a card ends its open session at once (the session item is scrubbed)', async () => {
    await user('demo', 'dirk');
    const enrolled = await services.cards!.enrol('demo', { username: 'dirk', slots: ['9a'], pin: '24681357', puk: '86427531' });
    const token = (await tokensFor('demo', new HttpBrowser(), 'dirk', await client('demo'), 'openid card')).access;
    const api = new CardApiClient({ tenantUrl: issuerOf('demo'), accessToken: () => token });
    const opened = await api.openSession(enrolled.card.id, await generateDeviceKey());
    expect(sw(await api.transmit(opened.session, verifyPin('24681357')))).toBe(0x9000);

    expect((await admin('DELETE', `/t/demo/admin/v1/cards/${enrolled.card.id}`)).status).toBe(204);
    const refused = await api.transmit(opened.session, select()).catch((error: unknown) => error);
    expect((refused as CardApiError).status).toBe(410);
    expect((refused as CardApiError).mustRemoveCard).toBe(true);
    const owned = await stack.runtime.state.query({ index: 'GSI1', partition: ownerPartition('demo', 'dirk'), sortPrefix: `CARDSESS#${enrolled.card.id}#` });
    expect(owned.items).toHaveLength(1);
    expect(owned.items[0]!['ended']).toBe('card-deleted');
    expect(owned.items[0]!['piv']).toBeUndefined();
  });

  describe('a token presented by the wrong client or key revokes nothing (item 9)', () => {
    it('another client presenting the victim’s refresh token or code is refused, and the victim’s still work', async () => {
      await user('demo', 'vera');
      const victim = await client('demo');
      const attacker = await client('demo');
      const browser = new HttpBrowser();
      const tokens = await tokensFor('demo', browser, 'vera', victim);
      const stolen = await refresh('demo', attacker, tokens.refresh);
      expect(stolen.status).toBe(400);
      expect(stolen.body['error']).toBe('invalid_grant');
      expect((await refresh('demo', victim, tokens.refresh)).status).toBe(200);

      const { code, verifier } = await codeFlow('demo', browser, 'vera', victim);
      expect((await redeem('demo', attacker, code, verifier)).status).toBe(400);
      expect((await redeem('demo', victim, code, verifier)).status).toBe(200);
    });

    it('a DPoP-bound refresh token with another key is refused, and where the tenant weights key mismatch 0 the holder’s key still refreshes', async () => {
      // Token protection (issue 13) revokes the family on a key mismatch by default (test/integration/token-protection.test.ts);
      // a tenant that prefers "a stolen token revokes nothing" weights the signal 0.
      await services.tenants.setRiskPolicy('demo', { weights: { 'key-mismatch': 0 } });
      await user('demo', 'wanda');
      const rp = await client('demo', { token_endpoint_auth_method: 'none' });
      const holder = await dpopKey();
      const thief = await dpopKey();
      const tokenUrl = `${issuerOf('demo')}/oidc/token`;
      const { code, verifier } = await codeFlow('demo', new HttpBrowser(), 'wanda', rp, { scope: 'openid offline_access card' });
      const issued = await withDpop(holder, tokenUrl, (proof) =>
        postForm(
          tokenUrl,
          { grant_type: 'authorization_code', code, redirect_uri: RP_REDIRECT, code_verifier: verifier, client_id: rp.client_id },
          { DPoP: proof },
        ),
      );
      expect(issued.status).toBe(200);
      const refreshToken = String(issued.body['refresh_token']);
      const form = { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: rp.client_id };
      const stolen = await withDpop(thief, tokenUrl, (proof) => postForm(tokenUrl, form, { DPoP: proof }));
      expect(stolen.status).toBe(400);
      expect(stolen.body['error']).toBe('invalid_grant');
      const own = await withDpop(holder, tokenUrl, (proof) => postForm(tokenUrl, form, { DPoP: proof }));
      expect(own.status).toBe(200);

      // Item 10: that DPoP-bound access token is refused as a Bearer token by the card API.
      const bound = String(own.body['access_token']);
      const cards = await fetch(`${issuerOf('demo')}/card/v1/tokens`, { method: 'POST', headers: { Authorization: `Bearer ${bound}` } });
      expect(cards.status).toBe(401);
      expect(((await cards.json()) as Record<string, unknown>)['detail']).toMatch(/DPoP-bound/);
      await services.tenants.setRiskPolicy('demo', {});
    });
  });
});

interface DpopKey {
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function dpopKey(): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey: privateKey as CryptoKey, jwk: await exportJWK(publicKey) };
}

function proof(key: DpopKey, htu: string, nonce?: string): Promise<string> {
  return new SignJWT({ htm: 'POST', htu, jti: randomUUID(), ...(nonce ? { nonce } : {}) })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .setIssuedAt()
    .sign(key.privateKey);
}

/** Sends with a DPoP proof, answering the server's nonce challenge once (RFC 9449 §8). */
async function withDpop(key: DpopKey, htu: string, send: (proof: string) => ReturnType<typeof postForm>): ReturnType<typeof postForm> {
  const first = await send(await proof(key, htu));
  if (first.status !== 400 || first.body['error'] !== 'use_dpop_nonce') return first;
  return send(await proof(key, htu, first.headers.get('dpop-nonce')!));
}
