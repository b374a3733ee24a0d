import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { LocalStack } from '../../local/stack.ts';
import { grantKey } from '../../lambdas/core/oidc/grants.ts';
import type { RiskRecord } from '../../lambdas/core/risk/context.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { ValidationError } from '../../lambdas/core/errors.ts';
import { HttpBrowser } from '../support/http-browser.ts';
import { authorizeWithLogin, basic, pkce, postForm, registerClient, RP_REDIRECT, type RegisteredClient } from '../support/oidc-flows.ts';
import { allowRegistration, startStackOn } from '../support/oidc-stack.ts';

type Mode = { kind: 'answer'; body: unknown } | { kind: 'slow' } | { kind: 'garbage' };

/**
 * Issue 13's external risk service against a real loopback service: the request is a JWS the service
 * verifies with the tenant's published JWKS; its answer adds to the score and may make the decision
 * stricter; a slow, garbled or absent service honours the tenant's fail-open or fail-closed choice.
 */
describe('external risk service', () => {
  let stack: LocalStack;
  let service: Server;
  let serviceUrl = '';
  let downUrl = '';
  let mode: Mode = { kind: 'answer', body: { score: 0 } };
  const received: JWTPayload[] = [];
  let rp: RegisteredClient;

  const read = async (request: IncomingMessage): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };

  beforeAll(async () => {
    stack = await startStackOn('embedded');
    await allowRegistration(stack);
    const jwks = createRemoteJWKSet(new URL(`${stack.url}/t/demo/oidc/jwks`));
    service = createServer((request, response) => {
      void (async () => {
        const body = await read(request);
        if (mode.kind === 'slow') return; // never answers: the caller's time limit ends it
        if (mode.kind === 'garbage') return void response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"score": "high"');
        const { payload } = await jwtVerify(body, jwks, { typ: 'risk-request+jwt', audience: serviceUrl });
        received.push(payload);
        response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(mode.body));
      })().catch(() => response.writeHead(401).end());
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', () => resolve()));
    serviceUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}/risk`;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    downUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/risk`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    rp = await registerClient(`${stack.url}/t/demo`);
  });
  afterAll(async () => {
    service?.closeAllConnections();
    await new Promise<void>((resolve) => (service ? service.close(() => resolve()) : resolve()));
    await stack?.close();
  });

  const token = () => `${stack.url}/t/demo/oidc/token`;
  async function signedIn(): Promise<{ refresh: string; gid: string }> {
    const { verifier, challenge } = pkce();
    const callback = await authorizeWithLogin(
      `${stack.url}/t/demo`,
      { client_id: rp.client_id, code_challenge: challenge, code_challenge_method: 'S256' },
      new HttpBrowser(),
    );
    const issued = await postForm(
      token(),
      { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: RP_REDIRECT, code_verifier: verifier },
      { Authorization: basic(rp) },
    );
    expect(issued.status).toBe(200);
    const gid = JSON.parse(Buffer.from(String(issued.body['access_token']).split('.')[1]!, 'base64url').toString()).gid as string;
    return { refresh: String(issued.body['refresh_token']), gid };
  }
  const refresh = (refreshToken: string) => postForm(token(), { grant_type: 'refresh_token', refresh_token: refreshToken }, { Authorization: basic(rp) });
  const grantOf = (gid: string) => stack.runtime.state.get<{ PK: string; SK: string; revoked: boolean; risk?: RiskRecord }>(grantKey(gid));
  const policy = (external: Record<string, unknown>) => directoryServices(stack.runtime).tenants.setRiskPolicy('demo', { external });

  it('sends a request the service verifies with the tenant JWKS, and its "deny" revokes the family', async () => {
    await directoryServices(stack.runtime).tenants.setRiskPolicy('demo', {});
    const first = await signedIn();
    await policy({ url: serviceUrl, timeoutMs: 3000 });
    mode = { kind: 'answer', body: { score: 0 } };
    const allowed = await refresh(first.refresh);
    expect(allowed.status).toBe(200);
    expect(received.at(-1)).toMatchObject({
      tenant: 'demo',
      subject: 'alice',
      kind: 'refresh',
      audience: rp.client_id,
      context: { ip: '127.0.0.1' },
      builtIn: { decision: 'allow', score: 0 },
    });

    mode = { kind: 'answer', body: { score: 5, decision: 'deny', reasons: ['known-bad-network'] } };
    const denied = await refresh(String(allowed.body['refresh_token']));
    expect(denied.body['error']).toBe('invalid_grant');
    const grant = await grantOf(first.gid);
    expect(grant?.revoked).toBe(true);
    expect(grant?.risk?.decisions.at(-1)).toMatchObject({ decision: 'deny', score: 5, reasons: ['external:known-bad-network'] });
  });

  it('adds the service score to the built-in one: past the step-up band it asks for a stronger sign-in', async () => {
    await directoryServices(stack.runtime).tenants.setRiskPolicy('demo', {});
    const { refresh: rt, gid } = await signedIn();
    await policy({ url: serviceUrl, timeoutMs: 3000 });
    mode = { kind: 'answer', body: { score: 45, reasons: ['new-network'] } };
    const stepped = await refresh(rt);
    expect(stepped.body).toMatchObject({ error: 'insufficient_user_authentication', acr_values: 'urn:cloudcard:acr:mfa', max_age: 0 });
    expect((await grantOf(gid))?.revoked).toBe(false);
  });

  it.each([
    ['slow', { kind: 'slow' } as Mode, () => serviceUrl],
    ['garbled', { kind: 'garbage' } as Mode, () => serviceUrl],
    ['down', { kind: 'answer', body: { score: 0 } } as Mode, () => downUrl],
  ])('a %s service: fail-open keeps the built-in decision, fail-closed refuses without revoking', async (_name, serviceMode, url) => {
    // Signed in first: code redemption is scored too, and would meet the same service.
    await directoryServices(stack.runtime).tenants.setRiskPolicy('demo', {});
    const open = await signedIn();
    const closed = await signedIn();
    mode = serviceMode;
    await policy({ url: url(), timeoutMs: 300, failure: 'open' });
    expect((await refresh(open.refresh)).status).toBe(200);
    expect((await grantOf(open.gid))?.risk?.decisions.at(-1)).toMatchObject({ decision: 'allow', reasons: ['external-unavailable'] });

    await policy({ url: url(), timeoutMs: 300, failure: 'closed' });
    expect((await refresh(closed.refresh)).body['error']).toBe('invalid_grant');
    const grant = await grantOf(closed.gid);
    expect(grant?.revoked).toBe(false);
    expect(grant?.risk?.decisions.at(-1)).toMatchObject({ decision: 'deny', reasons: ['external-unavailable'] });
  });

  it('refuses a service URL the outbound URL policy refuses, naming external.url', async () => {
    const refused = await policy({ url: 'ftp://risk.example.test/' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues).toEqual([expect.stringMatching(/^external\.url: /)]);
    await directoryServices(stack.runtime).tenants.setRiskPolicy('demo', {});
  });
});
