import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import type { LocalStack } from '../../local/stack.ts';
import { createContextHandler } from '../../lambdas/apps.ts';
import { InProcessLogoutRelay } from '../../lambdas/adapters/local/in-process-relay.ts';
import { OIDC_SIGNING_CONTEXT_CARD } from '../../lib/grants.ts';
import type { ContextName } from '../../lambdas/contexts.ts';
import { CONTEXT_ROUTES } from '../../lambdas/http/contexts/index.ts';
import type { ProxyHandler } from '../../lambdas/http/app.ts';
import { withInternalEvents } from '../../lambdas/internal-event-receiver.ts';
import { createObservability } from '../../lambdas/observability.ts';
import type { KeyCustody } from '../../lambdas/ports.ts';
import type { Runtime } from '../../lambdas/runtime.ts';
import { BACKENDS, type BackendName } from '../support/backends.ts';
import { HttpBrowser, formOf } from '../support/http-browser.ts';
import { loopbackServer, type LoopbackServer } from '../support/loopback-server.ts';
import { allowRegistration, DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';

const REDIRECT = 'https://rp.example.test/callback';

/** The KEK as the admin function's key policy has it in AWS: it wraps, and never opens a token key. */
const wrapOnly = (custody: KeyCustody): KeyCustody => ({
  wrap: (plaintext, context) => custody.wrap(plaintext, context),
  unwrap: (wrapped, context) => {
    if (context.card === OIDC_SIGNING_CONTEXT_CARD) return Promise.reject(new Error('AccessDeniedException: not allowed to decrypt a token key'));
    return custody.unwrap(wrapped, context);
  },
  ping: () => custody.ping(),
});

/**
 * Issue 13 follow-up: deployed, the admin function holds no token-signing key. Here the admin function is
 * composed as on AWS (no signer, a KEK that opens no token key) with the logout relay to the oidc
 * function, as the gateway's in-process stand-in for the asynchronous Lambda invoke: an administrator's
 * DELETE of a session still reaches the RP's back-channel endpoint with a logout token that verifies.
 */
describe.each(BACKENDS)('relying-party logout from a function without the token key (%s backend)', (backend: BackendName) => {
  let stack: LocalStack;
  let issuer: string;
  let adminAuth: string;
  let rp: LoopbackServer;
  const logoutTokens: string[] = [];
  const logLines: string[] = [];
  let write: ReturnType<typeof jest.spyOn> | undefined;
  const securityEvents = () =>
    logLines
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"security-event"'))
      .map((line) => (JSON.parse(line) as { securityEvent: Record<string, unknown> }).securityEvent);
  /** The oidc function's own handler, the relay's receiver (built on first use, over the oidc runtime). */
  let oidcRuntime: Runtime | undefined;
  let oidcHandler: ProxyHandler | undefined;

  /** As lambdas/handlers/oidc.ts composes it. */
  const oidcEntry = (runtime: Runtime): ProxyHandler => {
    const observability = createObservability('oidc', { logLevel: 'INFO' });
    return withInternalEvents(createContextHandler('oidc', runtime, CONTEXT_ROUTES.oidc, observability), runtime, observability);
  };

  const asOnAws = (context: ContextName, runtime: Runtime): Runtime => {
    if (context === 'oidc') oidcRuntime = runtime;
    if (context !== 'admin') return runtime;
    const { signer, custody, ...rest } = runtime;
    return {
      ...rest,
      ...(custody ? { custody: wrapOnly(custody) } : {}),
      logoutRelay: new InProcessLogoutRelay(() => (oidcHandler ??= oidcEntry(oidcRuntime!))),
    };
  };

  beforeAll(async () => {
    write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logLines.push(String(chunk));
      return true;
    });
    stack = await startStackOn(backend, { logLevel: 'INFO', contextRuntime: asOnAws });
    await allowRegistration(stack);
    issuer = `${stack.url}/t/demo`;
    adminAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    rp = await loopbackServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('logout_token');
        if (token) logoutTokens.push(token);
        response.writeHead(200, { 'Cache-Control': 'no-store' }).end();
      });
    });
  });
  afterAll(async () => {
    await rp?.close();
    await stack?.close();
    write?.mockRestore();
  });

  it('an administrator ending a session from the key-less admin function: the RP gets a logout token signed by the tenant key, with the sid', async () => {
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
      { execute: [oidc.allowInsecureRequests] },
    );
    const browser = new HttpBrowser();
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
    const tokens = await oidc.authorizationCodeGrant(config, new URL(done.url), { pkceCodeVerifier: verifier });
    const sid = tokens.claims()!['sid'] as string;
    const clientId = config.clientMetadata().client_id;
    const [before, eventsBefore] = [logoutTokens.length, securityEvents().length];

    const ended = await fetch(`${issuer}/admin/v1/users/alice/sessions/${sid}`, { method: 'DELETE', headers: { Authorization: adminAuth } });
    expect(ended.status).toBe(204);

    const received = logoutTokens.slice(before);
    expect(received).toHaveLength(1);
    const { payload, protectedHeader } = await jwtVerify(received[0]!, createRemoteJWKSet(new URL(`${issuer}/oidc/jwks`)), {
      issuer,
      audience: clientId,
      typ: 'logout+jwt',
      maxTokenAge: '2m',
    });
    expect(protectedHeader.typ).toBe('logout+jwt');
    expect(payload).toMatchObject({ sub: 'alice', sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
    const events = securityEvents()
      .slice(eventsBefore)
      .filter((event) => String(event['kind']).startsWith('participant-logout'));
    expect(events).toEqual([
      expect.objectContaining({ kind: 'participant-logout', tenant: 'demo', username: 'alice', client: clientId, reason: 'backchannel' }),
    ]);
  });
});
