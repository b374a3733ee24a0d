import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import type { LocalStack } from '../../local/stack.ts';
import { SAML_LOGOUT_HANDOFF_TYPE } from '../../lambdas/core/access/saml-logout-handoff.ts';
import { oidcSettingsOf } from '../../lambdas/core/directory/tenant.ts';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../lambdas/core/oidc/backchannel-logout.ts';
import { signJwt } from '../../lambdas/core/oidc/jwt.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { BACKENDS, type BackendName } from '../support/backends.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { loopbackServer, type LoopbackServer } from '../support/loopback-server.ts';
import { allowRegistration, DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';
import { ArtifactSp, BINDINGS, first, NS, parse, soapBody } from '../support/saml-artifact-sp.ts';
import { haveTool, xmlsecVerify } from '../support/saml-sp.ts';
import { fetchFrom, type Origin } from '../support/source-fetch.ts';

const REDIRECT = 'https://rp.example.test/callback';
const CHROME_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const PARIS = {
  'CloudFront-Viewer-Country': 'FR',
  'CloudFront-Viewer-City': 'Paris',
  'CloudFront-Viewer-Latitude': '48.85660',
  'CloudFront-Viewer-Longitude': '2.35220',
};
const SYDNEY = {
  'CloudFront-Viewer-Country': 'AU',
  'CloudFront-Viewer-City': 'Sydney',
  'CloudFront-Viewer-Latitude': '-33.86880',
  'CloudFront-Viewer-Longitude': '151.20930',
};
const HOME: Origin = { address: '127.0.0.1', headers: { 'User-Agent': CHROME_LINUX, ...PARIS } };
/** Minutes later, on the other side of the world: impossible travel, which denies by default. */
const FAR: Origin = { address: '127.0.0.3', headers: { 'User-Agent': CHROME_LINUX, ...SYDNEY } };
const LOGOUT_REQUEST = 'urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest';

type OAuthFailure = { error?: string };
const failureOf = (promise: Promise<unknown>): Promise<OAuthFailure> =>
  promise.then(
    () => ({ error: 'none: it succeeded' }),
    (error: OAuthFailure) => error,
  );

/**
 * Issue 13: a session ended by a decision that is not the user's own — a risk denial (impossible travel)
 * at SAML SSO reuse or at the refresh grant, an administrator's DELETE of the session — logs the user
 * out of the session's relying parties. A real loopback RP endpoint receives OIDC Back-Channel Logout
 * tokens (verified with jose against the issuer's JWKS); a loopback SOAP SP receives a signed
 * LogoutRequest (verified with xmlsec1 against the IdP's metadata certificate, and by the SP itself).
 */
describe.each(BACKENDS)("relying parties of a session ended by a decision not the user's own (%s backend)", (backend: BackendName) => {
  let stack: LocalStack;
  let issuer: string;
  let adminAuth: string;
  let rp: LoopbackServer;
  /** What the RP's back-channel endpoint received, and what it answers. */
  const logoutTokens: string[] = [];
  let rpStatus = 200;
  let sp: ArtifactSp;
  let front: ArtifactSp;
  let idpCertPem: string;
  const origin = { current: HOME };
  /** The functions' log (stdout, kept out of the test output): the security events are read from it. */
  const logLines: string[] = [];
  let write: ReturnType<typeof jest.spyOn> | undefined;
  const securityEvents = () =>
    logLines
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"security-event"'))
      .map((line) => (JSON.parse(line) as { securityEvent: Record<string, unknown> }).securityEvent);

  beforeAll(async () => {
    write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logLines.push(String(chunk));
      return true;
    });
    stack = await startStackOn(backend, { env: { TRUSTED_LOCATION_HEADERS: 'true' }, logLevel: 'INFO' });
    await allowRegistration(stack);
    issuer = `${stack.url}/t/demo`;
    adminAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    rp = await loopbackServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('logout_token');
        if (token && request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) logoutTokens.push(token);
        response.writeHead(rpStatus, { 'Cache-Control': 'no-store' }).end();
      });
    });
    const metadata = await (await fetch(`${issuer}/saml/metadata`)).text();
    idpCertPem = `-----BEGIN CERTIFICATE-----\n${/<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/.exec(metadata)![1]!}\n-----END CERTIFICATE-----\n`;
    const services = directoryServices(stack.runtime);
    sp = await ArtifactSp.start('https://soap-sp.example.test/metadata');
    // An SP with only a front-channel SingleLogoutService: no browser, no way to tell it.
    front = await ArtifactSp.start('https://front-sp.example.test/metadata');
    for (const [each, soapSlo] of [
      [sp, true],
      [front, false],
    ] as const) {
      each.idpCertPem = idpCertPem;
      await services.serviceProviders.register('demo', each.metadata({ soapSlo }));
    }
  });
  afterAll(async () => {
    await sp?.close();
    await front?.close();
    await rp?.close();
    await stack?.close();
    write?.mockRestore();
  });

  /**
   * One browser signed in at HOME: an OIDC client registered with a back-channel logout endpoint (a
   * public client with DPoP, through openid-client), then SSO to both SAML SPs in the same session.
   */
  async function signedIn() {
    origin.current = HOME;
    const options = { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: fetchFrom(() => origin.current) };
    const config = await oidc.dynamicClientRegistration(
      new URL(issuer),
      {
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
        backchannel_logout_uri: `${rp.url}/backchannel`,
        backchannel_logout_session_required: true,
      },
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
    const login = formOf(await (await browser.follow(url.toString(), REDIRECT)).response.text());
    let done = await browser.follow(login.action, REDIRECT, { form: { ...login.fields, username: 'alice', password: DEMO_PASSWORD } });
    if (done.url.includes('/portal/consent')) {
      const consent = formOf(await done.response.text());
      done = await browser.follow(consent.action, REDIRECT, { form: { ...consent.fields, decision: 'allow' } });
    }
    const tokens = await oidc.authorizationCodeGrant(config, new URL(done.url), { pkceCodeVerifier: verifier }, undefined, { DPoP: dpop });
    const sid = tokens.claims()!['sid'] as string;
    expect(sid).toBeTruthy();
    const atSp = await ssoTo(browser, sp);
    const atFront = await ssoTo(browser, front);
    return { config, dpop, tokens, browser, sid, clientId: config.clientMetadata().client_id, atSp, atFront };
  }

  /** SP-initiated SSO over HTTP-POST reusing the browser's session: the assertion's NameID and SessionIndex, or undefined when it was not answered. */
  async function ssoTo(browser: HttpBrowser, who: ArtifactSp): Promise<{ nameId: string; sessionIndex: string } | undefined> {
    const sso = `${issuer}/saml/sso`;
    const { response } = await browser.follow(who.redirectUrl(sso, 'SAMLRequest', who.authnRequest(sso, { binding: BINDINGS.post })), who.acsPost);
    const text = await response.text();
    if (!text.includes('SAMLResponse')) return undefined;
    const assertion = parse(Buffer.from(formOf(text).fields['SAMLResponse']!, 'base64').toString('utf8'));
    return {
      nameId: first(assertion, NS.assertion, 'NameID')!.textContent!,
      sessionIndex: first(assertion, NS.assertion, 'AuthnStatement')!.getAttribute('SessionIndex')!,
    };
  }

  /** The logout tokens received since `from` for this client, verified against the issuer's JWKS. */
  async function verifiedLogoutTokens(from: number, clientId: string) {
    const jwks = createRemoteJWKSet(new URL(`${issuer}/oidc/jwks`));
    const verified = [];
    for (const token of logoutTokens.slice(from)) {
      const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, typ: 'logout+jwt', maxTokenAge: '2m' }).catch(() => ({
        payload: undefined,
        protectedHeader: undefined,
      }));
      if (payload?.aud === clientId) verified.push({ payload, protectedHeader });
    }
    return verified;
  }

  /** The LogoutRequests the SP received since `from`, each checked by xmlsec1 against the IdP's metadata certificate. */
  function logoutRequestsAt(who: ArtifactSp, from: number): { nameId: string; sessionIndex: string; xml: string }[] {
    return who.received
      .slice(from)
      .filter((text) => text.includes('LogoutRequest'))
      .map((text) => {
        const { xml, element } = soapBody(text);
        if (haveTool('xmlsec1')) expect(xmlsecVerify(xml, idpCertPem, LOGOUT_REQUEST)).toMatchObject({ ok: true });
        return { xml, nameId: first(element, NS.assertion, 'NameID')!.textContent!, sessionIndex: first(element, NS.protocol, 'SessionIndex')!.textContent! };
      });
  }

  it('advertises Back-Channel Logout in discovery, and validates the registration metadata', async () => {
    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery).toMatchObject({ backchannel_logout_supported: true, backchannel_logout_session_supported: true });
    const register = async (metadata: Record<string, unknown>) => {
      const response = await fetch(`${issuer}/oidc/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', ...metadata }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const kept = await register({ backchannel_logout_uri: `${rp.url}/backchannel?tenant=demo`, backchannel_logout_session_required: true });
    expect(kept).toMatchObject({
      status: 201,
      body: { backchannel_logout_uri: `${rp.url}/backchannel?tenant=demo`, backchannel_logout_session_required: true },
    });
    expect(await register({ backchannel_logout_uri: `${rp.url}/backchannel#frag` })).toMatchObject({
      status: 400,
      body: { error: 'invalid_client_metadata', error_description: expect.stringContaining('backchannel_logout_uri') },
    });
    expect(await register({ backchannel_logout_uri: 'https://169.254.169.254/logout' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_client_metadata', error_description: expect.stringMatching(/^backchannel_logout_uri: /) },
    });
    expect(await register({ backchannel_logout_session_required: true })).toMatchObject({
      status: 400,
      body: { error: 'invalid_client_metadata', error_description: expect.stringContaining('backchannel_logout_session_required') },
    });
  });

  it('impossible travel at SAML SSO reuse: the session ends, the SOAP SP gets a signed LogoutRequest for its NameID and SessionIndex, the OIDC client a logout token', async () => {
    const session = await signedIn();
    expect(session.atSp && session.atFront).toBeTruthy();
    const [tokensBefore, spBefore, frontBefore, eventsBefore] = [logoutTokens.length, sp.received.length, front.received.length, securityEvents().length];
    origin.current = FAR;
    // Denied: no assertion, the browser is sent to the login page.
    expect(await ssoTo(session.browser, sp)).toBeUndefined();

    const requests = logoutRequestsAt(sp, spBefore);
    expect(requests).toEqual([expect.objectContaining({ nameId: session.atSp!.nameId, sessionIndex: session.atSp!.sessionIndex })]);
    expect(requests[0]!.xml).toContain(`Destination="${sp.base}/slo"`);
    // The front-channel-only SP cannot be reached without the browser: nothing was sent to it.
    expect(front.received.slice(frontBefore).filter((text) => text.includes('LogoutRequest'))).toEqual([]);

    const tokens = await verifiedLogoutTokens(tokensBefore, session.clientId);
    expect(tokens).toHaveLength(1);
    const { payload, protectedHeader } = tokens[0]!;
    expect(protectedHeader).toMatchObject({ typ: 'logout+jwt' });
    expect(payload).toMatchObject({ iss: issuer, aud: session.clientId, sub: 'alice', sid: session.sid, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } });
    expect(payload.jti).toEqual(expect.any(String));
    expect(payload).not.toHaveProperty('nonce');
    expect(securityEvents().slice(eventsBefore)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'participant-logout', username: 'alice', client: session.clientId, reason: 'backchannel' }),
        expect.objectContaining({ kind: 'participant-logout', username: 'alice', client: `saml:${sp.entityId}`, reason: 'soap' }),
        expect.objectContaining({ kind: 'participant-logout-failed', username: 'alice', client: `saml:${front.entityId}`, reason: 'front-channel-only' }),
      ]),
    );

    // The SSO session is gone, at home too.
    origin.current = HOME;
    expect(await ssoTo(session.browser, sp)).toBeUndefined();
  });

  it('impossible travel at the refresh grant: the family is revoked, the session ends, the OIDC client gets a logout token with its sid, the SOAP SP a LogoutRequest (handed to the saml function)', async () => {
    const session = await signedIn();
    const [tokensBefore, spBefore] = [logoutTokens.length, sp.received.length];
    origin.current = FAR;
    expect(await failureOf(oidc.refreshTokenGrant(session.config, session.tokens.refresh_token!, undefined, { DPoP: session.dpop }))).toMatchObject({
      error: 'invalid_grant',
    });
    const tokens = await verifiedLogoutTokens(tokensBefore, session.clientId);
    expect(tokens.map((token) => token.payload)).toEqual([
      expect.objectContaining({ sub: 'alice', sid: session.sid, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }),
    ]);
    expect(decodeProtectedHeader(logoutTokens.at(-1)!).typ).toBe('logout+jwt');
    expect(logoutRequestsAt(sp, spBefore)).toEqual([expect.objectContaining({ nameId: session.atSp!.nameId, sessionIndex: session.atSp!.sessionIndex })]);
  });

  it('the saml function takes a participant hand-off only when signed by the tenant, once, and only for an ended session', async () => {
    const session = await signedIn();
    const spBefore = sp.received.length;
    const url = `${issuer}/saml/backchannel-logout`;
    const post = async (body: string) => {
      const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/jwt' }, body });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const services = directoryServices(stack.runtime);
    const handOff = async () => {
      const { kid, signer } = await services.signingKeys.currentSigner('demo', oidcSettingsOf(await services.tenants.get('demo')));
      const iat = Math.floor(Date.now() / 1000);
      return signJwt(
        signer,
        kid,
        { iss: issuer, aud: url, iat, exp: iat + 60, jti: randomUUID(), sp: sp.entityId, sessionIndex: session.atSp!.sessionIndex },
        SAML_LOGOUT_HANDOFF_TYPE,
      );
    };
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ sp: sp.entityId, sessionIndex: session.atSp!.sessionIndex, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: SAML_LOGOUT_HANDOFF_TYPE })
      .setIssuer(issuer)
      .setAudience(url)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(privateKey);
    expect(await post(forged)).toMatchObject({ status: 401 });
    // Signed by the tenant, but the session lives: nothing is sent.
    const live = await handOff();
    expect(await post(live)).toMatchObject({ status: 409 });
    expect(await post(live)).toMatchObject({ status: 401, body: { detail: 'the hand-off was used before' } });
    expect(logoutRequestsAt(sp, spBefore)).toEqual([]);
    expect(await ssoTo(session.browser, sp)).toEqual(session.atSp);
  });

  it('an administrator ending the session (DELETE …/sessions/{sid}) tells the OIDC client and the SOAP SP; an RP that fails does not stop it; each outcome is a security event', async () => {
    const session = await signedIn();
    const [tokensBefore, spBefore, eventsBefore] = [logoutTokens.length, sp.received.length, securityEvents().length];
    rpStatus = 500;
    try {
      const listed = (await (await fetch(`${issuer}/admin/v1/users/alice/sessions`, { headers: { Authorization: adminAuth } })).json()) as {
        sessions: { id: string; kind: string }[];
      };
      expect(listed.sessions).toContainEqual(expect.objectContaining({ id: session.sid, kind: 'sso' }));
      const ended = await fetch(`${issuer}/admin/v1/users/alice/sessions/${session.sid}`, { method: 'DELETE', headers: { Authorization: adminAuth } });
      expect(ended.status).toBe(204);
    } finally {
      rpStatus = 200;
    }
    // The RP was called (and answered 500: logged as a failed participant logout), the SP confirmed.
    expect((await verifiedLogoutTokens(tokensBefore, session.clientId)).map((token) => token.payload.sid)).toEqual([session.sid]);
    expect(logoutRequestsAt(sp, spBefore)).toEqual([expect.objectContaining({ nameId: session.atSp!.nameId, sessionIndex: session.atSp!.sessionIndex })]);
    expect(await ssoTo(session.browser, sp)).toBeUndefined();
    const events = securityEvents()
      .slice(eventsBefore)
      .filter((event) => String(event['kind']).startsWith('participant-logout'));
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          schema: 'cloudcard.security-event/1',
          kind: 'participant-logout-failed',
          tenant: 'demo',
          username: 'alice',
          client: session.clientId,
          reason: 'unreachable',
        }),
        expect.objectContaining({ kind: 'participant-logout', username: 'alice', client: `saml:${sp.entityId}`, reason: 'soap' }),
        expect.objectContaining({ kind: 'participant-logout-failed', username: 'alice', client: `saml:${front.entityId}`, reason: 'front-channel-only' }),
      ]),
    );
    expect(events).toHaveLength(3);
  });

  it('a Shared Signals session-revoked from a configured transmitter tells the OIDC client and the SOAP SP', async () => {
    const session = await signedIn();
    const [tokensBefore, spBefore] = [logoutTokens.length, sp.received.length];
    const transmitter = 'https://transmitter.example.test';
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const configured = await fetch(`${issuer}/admin/v1/ssf-transmitters`, {
      method: 'PUT',
      headers: { Authorization: adminAuth, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        transmitters: [{ issuer: transmitter, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 't1', alg: 'ES256', use: 'sig' }] }, audience: issuer }],
      }),
    });
    expect(configured.status).toBe(200);
    const event = await new SignJWT({
      sub_id: { format: 'opaque', id: 'alice' },
      events: { 'https://schemas.openid.net/secevent/caep/event-type/session-revoked': { event_timestamp: Math.floor(Date.now() / 1000) } },
    })
      .setProtectedHeader({ alg: 'ES256', kid: 't1', typ: 'secevent+jwt' })
      .setIssuer(transmitter)
      .setAudience(issuer)
      .setIssuedAt()
      .setJti(randomUUID())
      .sign(privateKey);
    const pushed = await fetch(`${issuer}/ssf/push`, { method: 'POST', headers: { 'Content-Type': 'application/secevent+jwt' }, body: event });
    expect(pushed.status).toBe(202);
    // Every web session of alice ends (earlier tests' live ones too): this session's parties are among those told.
    expect((await verifiedLogoutTokens(tokensBefore, session.clientId)).map((token) => token.payload.sid)).toEqual([session.sid]);
    expect(logoutRequestsAt(sp, spBefore)).toContainEqual(expect.objectContaining({ nameId: session.atSp!.nameId, sessionIndex: session.atSp!.sessionIndex }));
  });
});
