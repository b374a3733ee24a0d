import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Secret, TOTP } from 'otpauth';
import { CardApiClient, CardApiError, generateDeviceKey } from '../../agent/sdk.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { cardAccessToken, select, sw, verifyPin } from '../support/card-flows.ts';
import type { LocalStack } from '../../local/stack.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { fetchFrom } from '../support/source-fetch.ts';
import { SsoTransfers } from '../../lambdas/core/oidc/sso-transfers.ts';
import { authorizeWithLogin, basic, pkce, postForm, registerClient, RP_REDIRECT } from '../support/oidc-flows.ts';
import { allowRegistration, DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';

/**
 * Issues 13 and 15: a risk denial at the refresh grant appears in the oidc function's log output as
 * security events in the one schema (a deny, then the revoked token family), and no log line carries the
 * password, the code or a token.
 */
const NEVER = 'http://never.invalid/';

describe('security events in the function log', () => {
  let stack: LocalStack;
  let adminAuth: string;

  beforeAll(async () => {
    stack = await startStackOn('embedded', { logLevel: 'INFO' });
    await allowRegistration(stack);
    adminAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
  });
  afterAll(async () => stack?.close());

  it('logs the portal sign-in, and a risk denial at the refresh grant as deny + token-revoked, without secrets', async () => {
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    let secrets: string[] = [];
    let clientId = '';
    try {
      const rp = await registerClient(`${stack.url}/t/demo`);
      const browser = new HttpBrowser();
      const { verifier, challenge } = pkce();
      const callback = await authorizeWithLogin(
        `${stack.url}/t/demo`,
        { client_id: rp.client_id, code_challenge: challenge, code_challenge_method: 'S256' },
        browser,
      );
      const code = callback.searchParams.get('code')!;
      const issued = await postForm(
        `${stack.url}/t/demo/oidc/token`,
        { grant_type: 'authorization_code', code, redirect_uri: RP_REDIRECT, code_verifier: verifier },
        { Authorization: basic(rp) },
      );
      expect(issued.status).toBe(200);
      // RFC 7009 revocation of the access token: a token-revoked event naming the endpoint.
      const revoked = await postForm(`${stack.url}/t/demo/oidc/revoke`, { token: String(issued.body['access_token']) }, { Authorization: basic(rp) });
      expect(revoked.status).toBe(200);
      clientId = rp.client_id;
      // Every hour is outside the usual hours now, and that alone denies.
      const hour = new Date().getUTCHours();
      const policy = { bands: { stepUp: 5, deny: 10 }, usualHours: { from: (hour + 2) % 24, to: (hour + 3) % 24 } };
      const set = await fetch(`${stack.url}/t/demo/admin/v1/risk-policy`, {
        method: 'PUT',
        headers: { Authorization: adminAuth, 'Content-Type': 'application/json' },
        body: JSON.stringify(policy),
      });
      expect(set.status).toBe(200);
      const refreshToken = String(issued.body['refresh_token']);
      const denied = await postForm(
        `${stack.url}/t/demo/oidc/token`,
        { grant_type: 'refresh_token', refresh_token: refreshToken },
        { Authorization: basic(rp) },
      );
      expect(denied.body['error']).toBe('invalid_grant');
      secrets = [DEMO_PASSWORD, code, refreshToken, String(issued.body['access_token']), rp.client_secret ?? 'no-secret'];
    } finally {
      write.mockRestore();
    }
    const events = lines
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"security-event"'))
      .map((line) => (JSON.parse(line) as { securityEvent: Record<string, unknown> }).securityEvent);
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          schema: 'cloudcard.security-event/1',
          kind: 'deny',
          tenant: 'demo',
          username: 'alice',
          reason: 'refresh:risk',
          ip: '127.0.0.1',
          score: expect.any(Number),
        }),
        expect.objectContaining({
          schema: 'cloudcard.security-event/1',
          kind: 'sign-in-success',
          tenant: 'demo',
          username: 'alice',
          reason: 'password',
          ip: '127.0.0.1',
        }),
        expect.objectContaining({ schema: 'cloudcard.security-event/1', kind: 'token-revoked', tenant: 'demo', username: 'alice', reason: 'risk-deny' }),
        expect.objectContaining({ kind: 'consent-given', tenant: 'demo', username: 'alice', client: clientId, ip: '127.0.0.1' }),
        expect.objectContaining({ kind: 'token-issued', tenant: 'demo', username: 'alice', client: clientId, reason: 'authorization_code', ip: '127.0.0.1' }),
        expect.objectContaining({ kind: 'token-revoked', tenant: 'demo', username: 'alice', client: clientId, reason: 'revocation-endpoint:access_token' }),
      ]),
    );
    const log = lines.join('');
    for (const secret of secrets) expect(log).not.toContain(secret);
  });

  it('logs the one-time-code step: a wrong code as sign-in-failure, the right one as sign-in-success, by method, without the code', async () => {
    const services = directoryServices(stack.runtime);
    await services.users.add('demo', { username: 'otto', password: 'a long enough password' });
    const { secretBase32 } = await services.totp!.enroll('demo', 'otto', 'Demo');
    const right = new TOTP({ secret: Secret.fromBase32(secretBase32) }).generate();
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const browser = new HttpBrowser();
      const start = await browser.follow(`${stack.url}/t/demo/portal/account`, 'http://never.invalid/');
      const login = formOf(await start.response.text());
      const otp = await browser.follow(login.action, 'http://never.invalid/', {
        form: { ...login.fields, username: 'otto', password: 'a long enough password' },
      });
      expect(otp.url).toContain('/portal/otp');
      const otpForm = formOf(await otp.response.text());
      const refused = await browser.request(otpForm.action, { form: { ...otpForm.fields, code: wrong } });
      const again = formOf(await refused.text());
      await browser.follow(again.action, 'http://never.invalid/', { form: { ...again.fields, code: right } });
    } finally {
      write.mockRestore();
    }
    const events = lines
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"security-event"'))
      .map((line) => (JSON.parse(line) as { securityEvent: Record<string, unknown> }).securityEvent);
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'sign-in-failure', tenant: 'demo', username: 'otto', reason: 'totp', ip: '127.0.0.1' }),
        expect.objectContaining({ kind: 'sign-in-success', tenant: 'demo', username: 'otto', reason: 'totp', ip: '127.0.0.1' }),
      ]),
    );
    const log = lines.join('');
    for (const secret of [right, wrong, secretBase32]) expect(log).not.toContain(secret);
  });

  it('logs card session open, a takeover (superseded) and the PIN blocked by its last try, without the PIN', async () => {
    // The test above left a policy that denies at every hour: back to the defaults.
    expect(
      (
        await fetch(`${stack.url}/t/demo/admin/v1/risk-policy`, {
          method: 'PUT',
          headers: { Authorization: adminAuth, 'Content-Type': 'application/json' },
          body: '{}',
        })
      ).status,
    ).toBe(200);
    const services = directoryServices(stack.runtime);
    const enrolled = await services.cards!.enrol('demo', { username: 'alice', slots: ['9a'], pin: '13572468', puk: '97531864' });
    const card = enrolled.card.id;
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const token = await cardAccessToken(stack);
      const client = new CardApiClient({ tenantUrl: `${stack.url}/t/demo`, accessToken: () => token });
      const first = await client.openSession(card, await generateDeviceKey());
      const second = await client.openSession(card, await generateDeviceKey());
      const superseded = await client.transmit(first.session, select()).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(superseded).toBeInstanceOf(CardApiError);
      expect(sw(await client.transmit(second.session, select()))).toBe(0x9000);
      const tries = (await services.tenants.get('demo')).pinPolicy.retries;
      for (let i = 0; i < tries; i++) expect(sw(await client.transmit(second.session, verifyPin('00000000'))) & 0xfff0).toBe(0x63c0);
      expect(sw(await client.transmit(second.session, verifyPin('13572468')))).toBe(0x6983);
    } finally {
      write.mockRestore();
    }
    const events = lines
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"security-event"'))
      .map((line) => (JSON.parse(line) as { securityEvent: Record<string, unknown> }).securityEvent)
      .filter((event) => event['card'] === card);
    expect(events.map((event) => event['kind'])).toEqual(['card-session-open', 'card-session-open', 'card-session-superseded', 'pin-blocked']);
    expect(events[0]).toMatchObject({ schema: 'cloudcard.security-event/1', tenant: 'demo', username: 'alice', ip: '127.0.0.1' });
    expect(events[3]).toMatchObject({ tenant: 'demo', username: 'alice', card });
    const log = lines.join('');
    for (const secret of ['13572468', '97531864']) expect(log).not.toContain(secret);
  });

  /** Runs `act` with the process's log output captured; returns the security events written meanwhile and the whole log. */
  async function eventsDuring(act: () => Promise<void>): Promise<{ events: Record<string, unknown>[]; log: string }> {
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await act();
    } finally {
      write.mockRestore();
    }
    const events = lines
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"security-event"'))
      .map((line) => (JSON.parse(line) as { securityEvent: Record<string, unknown> }).securityEvent);
    return { events, log: lines.join('') };
  }

  it('logs a wrong authenticator code and a wrong recovery code at sign-in as sign-in-failure naming the method, never the code', async () => {
    const services = directoryServices(stack.runtime);
    await services.users.add('demo', { username: 'otis', email: 'otis@example.test', password: 'a long enough password' });
    const { secretBase32 } = await services.totp!.enroll('demo', 'otis', 'Demo');
    const wrongCode = new TOTP({ secret: Secret.fromBase32(secretBase32) }).generate() === '246813' ? '135792' : '246813';
    const wrongRecovery = 'zzzzz-wrong';
    const tryCode = async (code: string) => {
      const browser = new HttpBrowser();
      const start = await browser.follow(`${stack.url}/t/demo/portal/account`, NEVER);
      const login = formOf(await start.response.text());
      const otp = await browser.follow(login.action, NEVER, { form: { ...login.fields, username: 'otis', password: 'a long enough password' } });
      expect(otp.url).toContain('/portal/otp');
      const form = formOf(await otp.response.text());
      expect((await browser.follow(form.action, NEVER, { form: { ...form.fields, code } })).response.status).toBe(401);
    };
    const { events, log } = await eventsDuring(async () => {
      await tryCode(wrongCode);
      await tryCode(wrongRecovery);
    });
    const failures = events.filter((event) => event['kind'] === 'sign-in-failure' && event['username'] === 'otis');
    expect(failures).toEqual([
      expect.objectContaining({ schema: 'cloudcard.security-event/1', tenant: 'demo', reason: 'totp', ip: '127.0.0.1' }),
      expect.objectContaining({ schema: 'cloudcard.security-event/1', tenant: 'demo', reason: 'recovery-code', ip: '127.0.0.1' }),
    ]);
    expect(log).not.toContain(wrongRecovery);
    expect(log).not.toContain(`"${wrongCode}"`);
  });

  it('logs a browser-SSO transfer redeemed as sign-in-success, and another device’s try and a replay as sign-in-failure', async () => {
    const transfers = new SsoTransfers(stack.runtime.state, stack.runtime.clock);
    // What the oidc function's POST /oidc/sso-transfer stores for a PRT of alice's (tested in primary-refresh-token.test.ts).
    const { secret } = await transfers.issue({
      tenant: 'demo',
      authentication: { sub: 'alice', authTime: Math.floor(Date.now() / 1000), acr: 'urn:cloudcard:acr:pwd', amr: ['pwd'] },
      gid: 'g-test',
      jkt: 'j-test',
      ip: '127.0.0.1',
      target: `${stack.url}/t/demo/portal/account`,
    });
    const url = `${stack.url}/t/demo/portal/sso?transfer=${secret}`;
    const { events, log } = await eventsDuring(async () => {
      expect((await new HttpBrowser(fetchFrom(() => ({ address: '127.0.0.2' }))).request(url)).status).toBe(403);
      expect((await new HttpBrowser().request(url)).status).toBe(303);
      expect((await new HttpBrowser().request(url)).status).toBe(410);
    });
    const transferEvents = events.filter((event) => String(event['reason']).startsWith('sso-transfer'));
    expect(transferEvents.map((event) => [event['kind'], event['reason'], event['username'], event['ip']])).toEqual([
      ['sign-in-failure', 'sso-transfer:other-device', 'alice', '127.0.0.2'],
      ['sign-in-success', 'sso-transfer', 'alice', '127.0.0.1'],
      ['sign-in-failure', 'sso-transfer:used', 'alice', '127.0.0.1'],
    ]);
    expect(log).not.toContain(secret);
  });
});
