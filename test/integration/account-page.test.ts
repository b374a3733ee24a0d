import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Secret, TOTP } from 'otpauth';
import type { AuditEvent } from '../../lambdas/core/directory/audit-trail.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS } from '../support/backends.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { authorizeWithLogin, basic, pkce, postForm, RP_REDIRECT, type RegisteredClient } from '../support/oidc-flows.ts';
import { DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';

const NEVER = 'http://never.invalid/';
const PASSWORD = 'a long enough password';

/** Every form of a page, by the end of its action: the hidden inputs and the action URL. */
function formsOf(page: string): Map<string, { action: string; fields: Record<string, string> }> {
  const forms = new Map<string, { action: string; fields: Record<string, string> }>();
  for (const match of page.matchAll(/<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/g)) {
    const parsed = formOf(match[0]);
    const key = `${parsed.action.replace(/^.*\/portal\/account\/?/, '')}${parsed.fields['id'] ? `#${parsed.fields['id']}` : parsed.fields['card'] ? `#${parsed.fields['card']}` : ''}`;
    forms.set(key, parsed);
  }
  return forms;
}

const textOf = (page: string): string =>
  page
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/\s+/g, ' ');

/**
 * Issue 15 (portal) and issue 13 (visibility): the end-user account page over HTTP, as a browser without
 * JavaScript drives it: sign-in of its own, profile, password change, TOTP enrolment (two steps), recovery
 * codes that work once at the one-time-code step, the user's cards and a PIN-unblock request, devices and
 * sessions a user ends; the session-bound form token and Origin refused otherwise; every submission an
 * audit event with actor kind `user`; another user's device, session or card refused.
 */
describe.each(BACKENDS)('portal account page (%s backend)', (backend) => {
  let stack: LocalStack;
  let issuer: string;
  let adminAuth: string;

  beforeAll(async () => {
    stack = await startStackOn(backend);
    issuer = `${stack.url}/t/demo`;
    adminAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    const users = directoryServices(stack.runtime).users;
    for (const username of ['bob', 'carol', 'dave', 'erin', 'frank'])
      await users.add('demo', {
        username,
        displayName: `${username[0]!.toUpperCase()}${username.slice(1)} Example`,
        email: `${username}@example.test`,
        password: PASSWORD,
      });
  });
  afterAll(async () => stack?.close());

  /** Opens the account page in a fresh browser, signing in on the way; returns the browser and the page. */
  async function signedIn(username: string, password = PASSWORD, browser = new HttpBrowser()): Promise<{ browser: HttpBrowser; page: string }> {
    const start = await browser.follow(`${issuer}/portal/account`, NEVER);
    expect(start.url).toContain('/portal/login?interaction=');
    const login = formOf(await start.response.text());
    const done = await browser.follow(login.action, NEVER, { form: { ...login.fields, username, password } });
    expect({ status: done.response.status, url: done.url }).toEqual({ status: 200, url: `${issuer}/portal/account` });
    return { browser, page: await done.response.text() };
  }

  const submit = async (browser: HttpBrowser, page: string, form: string, fields: Record<string, string> = {}) => {
    const found = formsOf(page).get(form);
    if (!found) throw new Error(`no form ${form} on the page: ${[...formsOf(page).keys()].join(', ')}`);
    const response = await browser.request(found.action, { form: { ...found.fields, ...fields } });
    return { status: response.status, page: await response.text(), response };
  };

  async function auditOf(username: string): Promise<AuditEvent[]> {
    const response = await fetch(`${issuer}/admin/v1/audit?limit=200`, { headers: { Authorization: adminAuth } });
    expect(response.status).toBe(200);
    return ((await response.json()) as { events: AuditEvent[] }).events.filter((event) => event.actor.kind === 'user' && event.actor.id === username);
  }

  it('signs in through a sign-in of its own and shows the profile, with no form usable without the session', async () => {
    const { page } = await signedIn('bob');
    const text = textOf(page);
    expect(text).toContain('Your account');
    expect(text).toContain('Bob Example');
    expect(text).toContain('bob@example.test');
    expect(text).toContain('You have no smart cards.');
    // The same form in a browser without the session: signed out, nothing done.
    const stranger = await new HttpBrowser().request(formsOf(page).get('password')!.action, {
      form: { ...formsOf(page).get('password')!.fields, current: PASSWORD, new: 'stolen stolen stolen' },
    });
    expect(stranger.status).toBe(401);
    expect(await directoryServices(stack.runtime).users.verifyPassword('demo', 'bob', PASSWORD)).toBeDefined();
  });

  it('changes the password only with the current one, under the directory rules; a form without the token or from another origin is refused; each try is audited', async () => {
    const { browser, page } = await signedIn('bob');
    const users = directoryServices(stack.runtime).users;

    const wrong = await submit(browser, page, 'password', { current: 'not the password', new: 'another long password' });
    expect(wrong.status).toBe(401);
    expect(textOf(wrong.page)).toContain('The current password is incorrect.');
    const short = await submit(browser, page, 'password', { current: PASSWORD, new: 'short' });
    expect(short.status).toBe(400);
    expect(textOf(short.page)).toContain('at least 12 characters');

    // CSRF: a forged token, and a right token from another origin.
    const forged = await submit(browser, page, 'password', { current: PASSWORD, new: 'another long password', csrf: 'x'.repeat(43) });
    expect(forged.status).toBe(403);
    const form = formsOf(page).get('password')!;
    const foreign = await fetch(form.action, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'https://evil.example', Cookie: `cc_sso=${browser.cookie('cc_sso')}` },
      body: new URLSearchParams({ ...form.fields, current: PASSWORD, new: 'another long password' }).toString(),
    });
    expect(foreign.status).toBe(403);
    expect(await users.verifyPassword('demo', 'bob', 'another long password')).toBeUndefined();
    expect(await users.verifyPassword('demo', 'bob', PASSWORD)).toBeDefined();

    const changed = await submit(browser, page, 'password', { current: PASSWORD, new: 'another long password' });
    expect(changed.status).toBe(200);
    expect(textOf(changed.page)).toContain('Your password was changed.');
    await signedIn('bob', 'another long password');

    const events = await auditOf('bob');
    expect(
      events
        .filter((event) => event.action === 'POST /portal/account/password')
        .map((event) => event.outcome)
        .sort(),
    ).toEqual([200, 400, 401, 403, 403]);
    expect(events[0]).toMatchObject({ via: 'portal', actor: { kind: 'user', id: 'bob' }, target: { username: 'bob' } });
    expect(JSON.stringify(events)).not.toContain('another long password');
  });

  it('enrols TOTP in two steps, makes recovery codes shown once, and a recovery code signs in once in place of a code', async () => {
    const { browser, page } = await signedIn('carol');
    const services = directoryServices(stack.runtime);

    const refused = await submit(browser, page, 'totp', { password: 'wrong wrong wrong' });
    expect(refused.status).toBe(401);
    const begun = await submit(browser, page, 'totp', { password: PASSWORD });
    expect(begun.status).toBe(200);
    const key = /<code id="totp-key">([A-Z2-7]+)<\/code>/.exec(begun.page)?.[1];
    expect(key).toBeDefined();
    expect(begun.page).toContain('href="otpauth://totp/');
    // Not active before a code confirms it.
    expect(await services.totp!.isEnrolled('demo', 'carol')).toBe(false);
    const badCode = await submit(browser, begun.page, 'totp/confirm', {
      code: '000000' === new TOTP({ secret: Secret.fromBase32(key!) }).generate() ? '111111' : '000000',
    });
    expect(badCode.status).toBe(400);
    expect(await services.totp!.isEnrolled('demo', 'carol')).toBe(false);
    const confirmed = await submit(browser, badCode.page, 'totp/confirm', { code: new TOTP({ secret: Secret.fromBase32(key!) }).generate() });
    expect(confirmed.status).toBe(200);
    expect(textOf(confirmed.page)).toContain('Your authenticator app is set up.');
    expect(await services.totp!.isEnrolled('demo', 'carol')).toBe(true);

    const made = await submit(browser, confirmed.page, 'recovery-codes', { password: PASSWORD });
    expect(made.status).toBe(200);
    const codes = [...made.page.matchAll(/<li><code>([a-z2-9]{5}-[a-z2-9]{5})<\/code><\/li>/g)].map((match) => match[1]!);
    expect(codes).toHaveLength(10);
    // Shown once: the page read again has only the count.
    const again = await browser.request(`${issuer}/portal/account`);
    const againText = await again.text();
    expect(againText).not.toContain(codes[0]);
    expect(textOf(againText)).toContain('Unused recovery codes: 10.');

    // A new sign-in on the account page asks a user with a second factor for it; a recovery code passes once.
    const otpSignIn = async (code: string) => {
      const fresh = new HttpBrowser();
      const start = await fresh.follow(`${issuer}/portal/account`, NEVER);
      const login = formOf(await start.response.text());
      const otp = await fresh.follow(login.action, NEVER, { form: { ...login.fields, username: 'carol', password: PASSWORD } });
      expect(otp.url).toContain('/portal/otp');
      const form = formOf(await otp.response.text());
      return fresh.follow(form.action, NEVER, { form: { ...form.fields, code } });
    };
    const used = await otpSignIn(codes[3]!.toUpperCase());
    expect({ status: used.response.status, url: used.url }).toEqual({ status: 200, url: `${issuer}/portal/account` });
    expect(textOf(await used.response.text())).toContain('Unused recovery codes: 9.');
    const replayed = await otpSignIn(codes[3]!);
    expect(replayed.response.status).toBe(401);

    expect((await auditOf('carol')).map((event) => `${event.action} ${event.outcome}`)).toEqual([
      'POST /portal/account/recovery-codes 200',
      'POST /portal/account/totp/confirm 200',
      'POST /portal/account/totp/confirm 400',
      'POST /portal/account/totp 200',
      'POST /portal/account/totp 401',
    ]);
  });

  it("shows the user's cards and records a PIN-unblock request administrators see; another user's card is refused", async () => {
    const cards = directoryServices(stack.runtime).cards!;
    const mine = await cards.enrol('demo', {
      username: 'dave',
      label: 'Dave card',
      slots: ['9a'],
      slotAlgorithms: { '9a': 'p256' },
      pin: '24681357',
      puk: '86427531',
    });
    const theirs = await cards.enrol('demo', {
      username: 'frank',
      label: 'Frank card',
      slots: ['9c'],
      slotAlgorithms: { '9c': 'p256' },
      pin: '24681357',
      puk: '86427531',
    });
    const { browser, page } = await signedIn('dave');
    const text = textOf(page);
    expect(text).toContain(`Dave card (${mine.card.id})`);
    expect(text).toContain('not connected, PIN: 3 tries left');
    expect(text).toContain('Slot 9A:');
    expect(text).not.toContain('Frank card');

    const requested = await submit(browser, page, `cards/unblock-request#${mine.card.id}`);
    expect(requested.status).toBe(200);
    expect(textOf(requested.page)).toContain('Your request was sent to your administrators.');
    const foreign = await submit(browser, page, `cards/unblock-request#${mine.card.id}`, { card: theirs.card.id });
    expect(foreign.status).toBe(404);
    expect(textOf(foreign.page)).toContain('You have no such card.');

    expect((await auditOf('dave')).map((event) => ({ action: event.action, outcome: event.outcome, card: event.target['card'] }))).toEqual([
      { action: 'POST /portal/account/cards/unblock-request', outcome: 404, card: theirs.card.id },
      { action: 'POST /portal/account/cards/unblock-request', outcome: 200, card: mine.card.id },
    ]);
  });

  it("lists devices and sessions with their context; signing a device out ends its PRT family; another user's device or session is refused; ending a session signs that browser out", async () => {
    const services = directoryServices(stack.runtime);
    // alice: an application family (refresh token) from the same browser, and a device registered by it.
    const first = await signedIn('alice', DEMO_PASSWORD);
    const issued = await services.clients.create(
      'demo',
      { client_name: 'agent', redirect_uris: [RP_REDIRECT], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid offline_access' },
      'admin',
    );
    const client: RegisteredClient = { client_id: issued.client.client_id, client_secret: issued.clientSecret! };
    const { verifier, challenge } = pkce();
    const callback = await authorizeWithLogin(issuer, { client_id: client.client_id, code_challenge: challenge, code_challenge_method: 'S256' }, first.browser);
    const token = await postForm(
      `${issuer}/oidc/token`,
      { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: RP_REDIRECT, code_verifier: verifier },
      { Authorization: basic(client) },
    );
    expect(token.status).toBe(200);
    const family = (await services.userSessions!.list('demo', 'alice')).find((session) => session.kind === 'refresh-family')!;
    const jkt = 'A'.repeat(43);
    await services.devices!.register('demo', 'alice', jkt, { os: 'linux', agentVersion: '1.2.3', cardSessionLive: false }, family.id);
    const othersDevice = 'F'.repeat(43);
    await services.devices!.register('demo', 'frank', othersDevice, { os: 'windows' });
    const franks = await signedIn('frank');
    const frankSid = (await services.userSessions!.list('demo', 'frank')).find((session) => session.kind === 'sso')!.id;

    const second = await signedIn('alice', DEMO_PASSWORD);
    const page = await (await first.browser.request(`${issuer}/portal/account`)).text();
    const text = textOf(page);
    expect(text).toContain(`Device ${jkt.slice(0, 12)}`);
    expect(text).toContain('linux');
    expect(text).toContain('1.2.3');
    expect(text).toContain(`Application access: ${client.client_id}`);
    expect(text).toContain('Browser sign-in (this browser)');
    expect(text).toMatch(/Address 127\.0\.0\.1/);
    const live = (await services.userSessions!.list('demo', 'alice')).filter((session) => session.kind === 'sso');
    expect(live).toHaveLength(2);
    const thisSid = /<h4>Browser sign-in \(this browser\)<\/h4>[\s\S]*?name="id" value="([^"]+)"/.exec(page)![1]!;
    const otherSid = live.map((session) => session.id).find((sid) => sid !== thisSid)!;

    // Another user's device and session: refused, untouched.
    const foreignDevice = await submit(first.browser, page, `devices/remove#${jkt}`, { id: othersDevice });
    expect(foreignDevice.status).toBe(404);
    expect(textOf(foreignDevice.page)).toContain('You have no such device.');
    expect(await services.devices!.list('demo', 'frank')).toHaveLength(1);
    const foreignSession = await submit(first.browser, page, `sessions/end#${family.id}`, { id: frankSid });
    expect(foreignSession.status).toBe(404);
    expect((await franks.browser.request(`${issuer}/portal/account`)).status).toBe(200);

    // Signing the device out ends the family that registered it: its refresh token no longer works.
    const removed = await submit(first.browser, page, `devices/remove#${jkt}`);
    expect(removed.status).toBe(200);
    expect(textOf(removed.page)).toContain('The device was signed out.');
    expect(await services.devices!.list('demo', 'alice')).toEqual([]);
    const refreshed = await postForm(
      `${issuer}/oidc/token`,
      { grant_type: 'refresh_token', refresh_token: String(token.body['refresh_token']) },
      { Authorization: basic(client) },
    );
    expect(refreshed.body['error']).toBe('invalid_grant');

    // Ending the other browser's session: that browser is signed out (its next visit signs in again).
    const ended = await submit(first.browser, removed.page, `sessions/end#${otherSid}`);
    expect(ended.status).toBe(200);
    expect(textOf(ended.page)).toContain('The session was ended.');
    expect((await second.browser.request(`${issuer}/portal/account`)).status).toBe(303);
    // Ending its own session signs this browser out at once.
    const own = await submit(first.browser, ended.page, `sessions/end#${thisSid}`);
    expect(own.status).toBe(200);
    expect(textOf(own.page)).toContain('You are signed out');
    expect(first.browser.cookie('cc_sso')).toBeUndefined();

    expect((await auditOf('alice')).map((event) => `${event.action} ${event.outcome}`)).toEqual([
      'POST /portal/account/sessions/end 200',
      'POST /portal/account/sessions/end 200',
      'POST /portal/account/devices/remove 200',
      'POST /portal/account/sessions/end 404',
      'POST /portal/account/devices/remove 404',
    ]);
  });
});
