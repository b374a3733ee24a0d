import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { LocalStack } from '../../local/stack.ts';
import { HttpBrowser } from '../support/http-browser.ts';
import { authorizeWithLogin, basic, pkce, postForm, registerClient, RP_REDIRECT } from '../support/oidc-flows.ts';
import { allowRegistration, DEMO_PASSWORD, startStackOn } from '../support/oidc-stack.ts';

/**
 * Issues 13 and 15: a risk denial at the refresh grant appears in the oidc function's log output as
 * security events in the one schema (a deny, then the revoked token family), and no log line carries the
 * password, the code or a token.
 */
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
    try {
      const rp = await registerClient(`${stack.url}/t/demo`);
      const browser = new HttpBrowser();
      const { verifier, challenge } = pkce();
      const callback = await authorizeWithLogin(`${stack.url}/t/demo`, { client_id: rp.client_id, code_challenge: challenge, code_challenge_method: 'S256' }, browser);
      const code = callback.searchParams.get('code')!;
      const issued = await postForm(`${stack.url}/t/demo/oidc/token`, { grant_type: 'authorization_code', code, redirect_uri: RP_REDIRECT, code_verifier: verifier }, { Authorization: basic(rp) });
      expect(issued.status).toBe(200);
      // Every hour is outside the usual hours now, and that alone denies.
      const hour = new Date().getUTCHours();
      const policy = { bands: { stepUp: 5, deny: 10 }, usualHours: { from: (hour + 2) % 24, to: (hour + 3) % 24 } };
      const set = await fetch(`${stack.url}/t/demo/admin/v1/risk-policy`, { method: 'PUT', headers: { Authorization: adminAuth, 'Content-Type': 'application/json' }, body: JSON.stringify(policy) });
      expect(set.status).toBe(200);
      const refreshToken = String(issued.body['refresh_token']);
      const denied = await postForm(`${stack.url}/t/demo/oidc/token`, { grant_type: 'refresh_token', refresh_token: refreshToken }, { Authorization: basic(rp) });
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
        expect.objectContaining({ schema: 'cloudcard.security-event/1', kind: 'deny', tenant: 'demo', username: 'alice', reason: 'refresh:risk', ip: '127.0.0.1', score: expect.any(Number) }),
        expect.objectContaining({ schema: 'cloudcard.security-event/1', kind: 'sign-in-success', tenant: 'demo', username: 'alice', reason: 'password', ip: '127.0.0.1' }),
        expect.objectContaining({ schema: 'cloudcard.security-event/1', kind: 'token-revoked', tenant: 'demo', username: 'alice', reason: 'risk-deny' }),
      ]),
    );
    const log = lines.join('');
    for (const secret of secrets) expect(log).not.toContain(secret);
  });
});
