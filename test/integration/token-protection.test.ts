import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { LocalStack } from '../../local/stack.ts';
import { CardApiClient, CardApiError, generateDeviceKey } from '../../agent/sdk.ts';
import { grantKey } from '../../lambdas/core/oidc/grants.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { cardAccessToken } from '../support/card-flows.ts';
import type { RiskRecord } from '../../lambdas/core/risk/context.ts';
import { BACKENDS, type BackendName } from '../support/backends.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { allowRegistration, DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';
import { fetchFrom, type Origin } from '../support/source-fetch.ts';

const REDIRECT = 'https://rp.example.test/callback';
const CHROME_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';
/** What CloudFront would add for a viewer in Paris, Berlin (country only) and Sydney. */
const PARIS = {
  'CloudFront-Viewer-Country': 'FR',
  'CloudFront-Viewer-City': 'Paris',
  'CloudFront-Viewer-Latitude': '48.85660',
  'CloudFront-Viewer-Longitude': '2.35220',
};
const GERMANY = { 'CloudFront-Viewer-Country': 'DE' };
const SYDNEY = {
  'CloudFront-Viewer-Country': 'AU',
  'CloudFront-Viewer-City': 'Sydney',
  'CloudFront-Viewer-Latitude': '-33.86880',
  'CloudFront-Viewer-Longitude': '151.20930',
};
const SP_ENTITY = 'https://payroll.example.test/sp';
const SP_METADATA = `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${SP_ENTITY}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://payroll.example.test/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>`;
const HOME: Origin = { address: '127.0.0.1', headers: { 'User-Agent': CHROME_LINUX, ...PARIS } };

type OAuthFailure = { error?: string; cause?: unknown; code?: string };
const failureOf = (promise: Promise<unknown>): Promise<OAuthFailure> =>
  promise.then(
    () => ({ error: 'none: it succeeded' }),
    (error: OAuthFailure) => error,
  );

/**
 * Issue 13 through HTTP: the access context captured at issue and at every continuation (source address
 * from the gateway's socket, user agent, CDN location headers where the stack trusts them), the risk
 * engine deciding at the refresh grant and at SSO reuse, and what a denial ends. openid-client is the
 * relying party (a public client with DPoP); every request goes through a fetch bound to a chosen
 * loopback source address with chosen headers.
 */
async function signedIn(stack: LocalStack, origin: { current: Origin }) {
  const issuer = new URL(`${stack.url}/t/demo`);
  const options = { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: fetchFrom(() => origin.current) };
  const config = await oidc.dynamicClientRegistration(
    issuer,
    { redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none' },
    oidc.None(),
    options,
  );
  const dpop = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
  const browser = new HttpBrowser(fetchFrom(() => origin.current));
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid offline_access',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const login = await browser.follow(url.toString(), REDIRECT);
  const form = formOf(await login.response.text());
  let done = await browser.follow(form.action, REDIRECT, { form: { ...form.fields, username: 'alice', password: DEMO_PASSWORD } });
  if (done.url.includes('/portal/consent')) {
    const consent = formOf(await done.response.text());
    done = await browser.follow(consent.action, REDIRECT, { form: { ...consent.fields, decision: 'allow' } });
  }
  const tokens = await oidc.authorizationCodeGrant(config, new URL(done.url), { pkceCodeVerifier: verifier }, undefined, { DPoP: dpop });
  /** `prompt=none` with the browser's SSO session: a code while it lives, `login_required` once it has ended. */
  const silently = async (): Promise<URL> => {
    const again = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      prompt: 'none',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return new URL((await browser.follow(again.toString(), REDIRECT)).url);
  };
  /** An interactive authorization request: where the browser ends up (the client, or a portal page). */
  const interactively = async (): Promise<{ url: string; page: string }> => {
    const again = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const at = await browser.follow(again.toString(), REDIRECT);
    return { url: at.url, page: at.url.startsWith(REDIRECT) ? '' : await at.response.text() };
  };
  return { config, dpop, tokens, browser, silently, interactively };
}

const riskOf = async (stack: LocalStack, accessToken: string): Promise<RiskRecord | undefined> => {
  const gid = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()).gid as string;
  return (await stack.runtime.state.get<{ PK: string; SK: string; risk?: RiskRecord }>(grantKey(gid)))?.risk;
};

describe.each(BACKENDS)('token protection on a stack trusting CDN location headers (%s backend)', (backend: BackendName) => {
  let stack: LocalStack;
  const origin = { current: HOME };

  beforeAll(async () => {
    stack = await startStackOn(backend, { env: { TRUSTED_LOCATION_HEADERS: 'true' } });
    await allowRegistration(stack);
  });
  afterAll(async () => stack?.close());

  it('records the issuing context on the family: address, browser and OS families, location, key', async () => {
    origin.current = HOME;
    const { tokens } = await signedIn(stack, origin);
    const risk = await riskOf(stack, tokens.access_token);
    expect(risk?.issued).toMatchObject({
      ip: '127.0.0.1',
      browser: 'Chrome',
      os: 'Linux',
      location: { country: 'FR', city: 'Paris', latitude: 48.8566, longitude: 2.3522 },
      amr: ['pwd'],
    });
    expect(risk?.issued.keyThumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses a refresh token presented with another DPoP key, revokes its family and ends the SSO session', async () => {
    origin.current = HOME;
    const { config, dpop, tokens, silently } = await signedIn(stack, origin);
    const thief = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    expect(await failureOf(oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: thief }))).toMatchObject({ error: 'invalid_grant' });
    // The holder's own key no longer refreshes: the family is revoked.
    expect(await failureOf(oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: dpop }))).toMatchObject({ error: 'invalid_grant' });
    expect((await silently()).searchParams.get('error')).toBe('login_required');
    const risk = await riskOf(stack, tokens.access_token);
    // The thief's key is also new to the family.
    expect(risk?.decisions.at(0)).toMatchObject({ kind: 'refresh', decision: 'deny', score: 120, reasons: ['key-mismatch', 'new-device'] });
  });

  it('asks for step-up (RFC 9470) when the same token comes from a new country, and keeps the SSO session', async () => {
    origin.current = HOME;
    const { config, dpop, tokens, silently } = await signedIn(stack, origin);
    const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: dpop });
    origin.current = { ...HOME, headers: { 'User-Agent': CHROME_LINUX, ...GERMANY } };
    const failure = await failureOf(oidc.refreshTokenGrant(config, rotated.refresh_token!, undefined, { DPoP: dpop }));
    // openid-client surfaces the WWW-Authenticate challenge, parameters and all.
    expect(failure.code).toBe('OAUTH_WWW_AUTHENTICATE_CHALLENGE');
    expect(failure.cause).toEqual([
      expect.objectContaining({
        scheme: 'bearer',
        parameters: expect.objectContaining({ error: 'insufficient_user_authentication', acr_values: 'urn:cloudcard:acr:mfa', max_age: '0' }),
      }),
    ]);
    const risk = await riskOf(stack, tokens.access_token);
    expect(risk?.decisions.at(-1)).toMatchObject({ decision: 'step-up', score: 40, reasons: ['country-change'], context: { location: { country: 'DE' } } });
    origin.current = HOME;
    expect((await silently()).searchParams.get('code')).toBeTruthy();
  });

  it('denies an impossible-travel pair: the family is revoked and the SSO session ends', async () => {
    origin.current = HOME;
    const { config, dpop, tokens, silently } = await signedIn(stack, origin);
    const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: dpop });
    origin.current = { address: '127.0.0.3', headers: { 'User-Agent': CHROME_LINUX, ...SYDNEY } };
    expect(await failureOf(oidc.refreshTokenGrant(config, rotated.refresh_token!, undefined, { DPoP: dpop }))).toMatchObject({ error: 'invalid_grant' });
    const risk = await riskOf(stack, tokens.access_token);
    expect(risk?.decisions.at(-1)).toMatchObject({
      decision: 'deny',
      reasons: ['impossible-travel', 'country-change', 'ip-change'],
      context: { ip: '127.0.0.3' },
    });
    origin.current = HOME;
    expect((await silently()).searchParams.get('error')).toBe('login_required');
    const introspected = await oidc.tokenIntrospection(config, rotated.access_token).catch(() => undefined);
    expect(introspected?.active ?? false).toBe(false);
  });

  it('rotates exactly once under 20 concurrent refreshes of one token, with evaluation on', async () => {
    origin.current = HOME;
    const { config, dpop, tokens } = await signedIn(stack, origin);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => failureOf(oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: dpop }))),
    );
    expect(results.filter((r) => r.error === 'none: it succeeded')).toHaveLength(1);
    expect(results.filter((r) => r.error === 'invalid_grant')).toHaveLength(19);
    // Only the one rotation reached the access check: one decision recorded.
    expect((await riskOf(stack, tokens.access_token))?.decisions).toHaveLength(1);
  });

  it('applies a per-SP override: an address change alone steps up SAML SSO to a sensitive SP, while OIDC reuse stays allowed', async () => {
    const services = directoryServices(stack.runtime);
    if (!(await services.serviceProviders.find('demo', SP_ENTITY))) await services.serviceProviders.register('demo', SP_METADATA);
    await services.tenants.setRiskPolicy('demo', { overrides: [{ audience: `saml:${SP_ENTITY}`, bands: { stepUp: 10, deny: 90 } }] });
    try {
      const moved: Origin = { address: '127.0.0.9', headers: { 'User-Agent': CHROME_LINUX, ...PARIS } };
      origin.current = HOME;
      const oidcOnly = await signedIn(stack, origin);
      origin.current = moved;
      expect((await oidcOnly.silently()).searchParams.get('code')).toBeTruthy();

      origin.current = HOME;
      const withSaml = await signedIn(stack, origin);
      origin.current = moved;
      const saml = await withSaml.browser.request(`${stack.url}/t/demo/saml/sso/idp?sp=${encodeURIComponent(SP_ENTITY)}`);
      expect(saml.status).toBe(303);
      expect(saml.headers.get('location')).toContain('/portal/login');
      expect((await withSaml.silently()).searchParams.get('error')).toBe('login_required');
    } finally {
      await services.tenants.setRiskPolicy('demo', {});
    }
  });

  it('steps up a portal session reused from another source address and browser: a fresh login of the same user at the one-time-code level', async () => {
    origin.current = HOME;
    const { silently, interactively } = await signedIn(stack, origin);
    expect((await silently()).searchParams.get('code')).toBeTruthy();
    // The same cookie, now sent from another address by another browser family.
    origin.current = { address: '127.0.0.7', headers: { 'User-Agent': FIREFOX_WINDOWS, ...PARIS } };
    const stepped = await interactively();
    expect(stepped.url).toContain('/portal/login');
    expect(stepped.page).toContain('value="alice"');
    // The session that was stepped up is ended: the original browser signs in again too.
    origin.current = HOME;
    expect((await silently()).searchParams.get('error')).toBe('login_required');
  });
});

describe('token protection on a stack that does not trust location headers', () => {
  let stack: LocalStack;
  const origin = { current: HOME };

  beforeAll(async () => {
    stack = await startStackOn('embedded');
    await allowRegistration(stack);
  });
  afterAll(async () => stack?.close());

  it('ignores a client-sent CloudFront-Viewer header: no location, so no country change or travel', async () => {
    origin.current = HOME;
    const { config, dpop, tokens } = await signedIn(stack, origin);
    expect((await riskOf(stack, tokens.access_token))?.issued.location).toBeUndefined();
    origin.current = { ...HOME, headers: { 'User-Agent': CHROME_LINUX, ...SYDNEY } };
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: dpop });
    expect(refreshed.access_token).toBeTruthy();
    expect((await riskOf(stack, tokens.access_token))?.decisions.at(-1)).toMatchObject({ decision: 'allow', score: 0 });
  });
});

describe('token protection at card-session open', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startStackOn('embedded');
  });
  afterAll(async () => stack?.close());

  it("scores the opening: outside the tenant's usual hours under a strict band it is refused (access-revoked), inside them it opens", async () => {
    const services = directoryServices(stack.runtime);
    const enrolled = await services.cards!.enrol('demo', { username: 'alice', slots: ['9a'], pin: '24681357', puk: '86427531' });
    const token = await cardAccessToken(stack);
    const client = new CardApiClient({ tenantUrl: `${stack.url}/t/demo`, accessToken: () => token });
    const hour = new Date().getUTCHours();
    await services.tenants.setRiskPolicy('demo', { bands: { stepUp: 5, deny: 50 }, usualHours: { from: (hour + 3) % 24, to: (hour + 4) % 24 } });
    const refused = await client.openSession(enrolled.card.id, await generateDeviceKey()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CardApiError);
    expect((refused as CardApiError).type).toBe('https://cloudcard.dev/problems/access-revoked');
    expect((refused as CardApiError).message).toMatch(/unusual-hour/);
    await services.tenants.setRiskPolicy('demo', { bands: { stepUp: 5, deny: 50 }, usualHours: { from: (hour + 23) % 24, to: (hour + 2) % 24 } });
    expect((await client.openSession(enrolled.card.id, await generateDeviceKey())).session).toBeTruthy();
  });
});
