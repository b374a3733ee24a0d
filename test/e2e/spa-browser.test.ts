import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { chromiumRunnable, launchChromium, type ChromiumSession } from '../support/chromium.ts';
import { loopbackServer, type LoopbackServer } from '../support/loopback-server.ts';
import { registerClient, type RegisteredClient } from '../support/oidc-flows.ts';
import { allowRegistration } from '../support/oidc-stack.ts';

const PASSWORD = 'correct horse battery staple';

/**
 * A single-page app with no server side: PKCE, a non-extractable WebCrypto P-256 DPoP key, every call with
 * `fetch`. With no `code` in its URL it sends the browser to the authorization endpoint; back with one, it
 * redeems it with a DPoP proof (retrying once with the server's DPoP-Nonce, RFC 9449 §8) and calls
 * UserInfo with the DPoP-bound token, then leaves what happened in `window.result`.
 */
const spaPage = (issuer: string, clientId: string): string => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SPA</title></head><body><pre id="out">working</pre>
<script type="module">
const issuer = ${JSON.stringify(issuer)};
const clientId = ${JSON.stringify(clientId)};
const redirectUri = location.origin + '/spa';
const enc = new TextEncoder();
const b64u = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const sha256 = (text) => crypto.subtle.digest('SHA-256', enc.encode(text));
const random = (n) => b64u(crypto.getRandomValues(new Uint8Array(n)));
const finish = (result) => { window.result = result; document.getElementById('out').textContent = JSON.stringify(result); };
try {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) {
    const discovery = await (await fetch(issuer + '/.well-known/openid-configuration')).json();
    const verifier = random(32);
    const state = random(16);
    sessionStorage.setItem('flow', JSON.stringify({ verifier, state, discovery }));
    const url = new URL(discovery.authorization_endpoint);
    url.search = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'openid profile email', state,
      code_challenge: b64u(await sha256(verifier)), code_challenge_method: 'S256' });
    location.assign(url);
  } else {
    const { verifier, state, discovery } = JSON.parse(sessionStorage.getItem('flow'));
    if (params.get('state') !== state || params.get('iss') !== issuer) throw new Error('state or iss mismatch');
    if (params.has('error')) throw new Error('authorization error ' + params.get('error'));
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', keys.publicKey);
    const proof = async (htm, htu, nonce, accessToken) => {
      const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } };
      const payload = { jti: crypto.randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000),
        ...(nonce ? { nonce } : {}), ...(accessToken ? { ath: b64u(await sha256(accessToken)) } : {}) };
      const input = b64u(enc.encode(JSON.stringify(header))) + '.' + b64u(enc.encode(JSON.stringify(payload)));
      // WebCrypto's ECDSA signature is r || s, the JWS form.
      return input + '.' + b64u(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.privateKey, enc.encode(input)));
    };
    const nonceRetries = [];
    const withNonce = async (send) => {
      const first = await send(undefined);
      const nonce = first.headers.get('DPoP-Nonce');
      if ((first.status === 400 || first.status === 401) && nonce) {
        nonceRetries.push({ status: first.status, challenge: first.headers.get('WWW-Authenticate'), error: (await first.clone().json().catch(() => ({}))).error });
        return send(nonce);
      }
      return first;
    };
    const tokenResponse = await withNonce(async (nonce) => fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: await proof('POST', discovery.token_endpoint, nonce) },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier }),
    }));
    const tokens = await tokenResponse.json();
    const userinfoResponse = await withNonce(async (nonce) => fetch(discovery.userinfo_endpoint, {
      headers: { Authorization: 'DPoP ' + tokens.access_token, DPoP: await proof('GET', discovery.userinfo_endpoint, nonce, tokens.access_token) },
    }));
    finish({
      tokenStatus: tokenResponse.status, tokenType: tokens.token_type, accessToken: tokens.access_token, idToken: typeof tokens.id_token === 'string',
      jwk: { kty, crv, x, y }, userinfoStatus: userinfoResponse.status, userinfo: await userinfoResponse.json(), nonceRetries,
    });
  }
} catch (error) {
  finish({ error: String(error) });
}
</script></body></html>`;

/** Issue 11 item 8: a public SPA client on another origin does the whole code + PKCE + DPoP flow with fetch. */
(chromiumRunnable() ? describe : describe.skip)('a single-page app on another origin, in Chromium', () => {
  let stack: LocalStack;
  let chromium: ChromiumSession;
  let spa: LoopbackServer;
  let foreign: LoopbackServer;
  let client: RegisteredClient;
  let issuer: string;
  let page = '';

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, logLevel: 'SILENT', demoPassword: PASSWORD });
    issuer = `${stack.url}/t/demo`;
    const serve = (request: { url?: string }, response: import('node:http').ServerResponse) => {
      if (new URL(request.url ?? '/', 'http://spa').pathname !== '/spa') return void response.writeHead(404).end();
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(page);
    };
    spa = await loopbackServer(serve);
    foreign = await loopbackServer(
      (_request, response) => void response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!DOCTYPE html><title>Elsewhere</title>'),
    );
    await allowRegistration(stack);
    client = await registerClient(issuer, {
      client_name: 'Browser SPA',
      redirect_uris: [`${spa.url}/spa`],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
    });
    page = spaPage(issuer, client.client_id);
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
    await spa?.close();
    await foreign?.close();
    await stack?.close();
  });

  it('signs in, redeems the code with a DPoP proof and reads UserInfo with the DPoP-bound token', async () => {
    expect(new URL(spa.url).origin).not.toBe(new URL(issuer).origin);
    const tab = await (await chromium.newContext()).newPage();
    await tab.goto(`${spa.url}/spa`);
    await tab.waitForURL(/\/portal\/login\?/);
    await tab.getByLabel('Username').fill('alice');
    await tab.getByLabel('Password').fill(PASSWORD);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await tab.waitForURL(/\/portal\/consent\?/);
    await tab.getByRole('button', { name: 'Allow' }).click();
    await tab.waitForURL((url) => url.href.startsWith(`${spa.url}/spa?`));
    await tab.waitForFunction('window.result !== undefined');
    const result = (await tab.evaluate('window.result')) as Record<string, unknown>;
    expect(result['error']).toBeUndefined();
    expect(result).toMatchObject({ tokenStatus: 200, tokenType: 'DPoP', idToken: true, userinfoStatus: 200, userinfo: { sub: 'alice' } });
    // The nonce challenge was readable across origins (Access-Control-Expose-Headers), so the app could retry.
    // Both endpoints asked for a nonce first (RFC 9449 §8, §9); the app could read the challenge and the
    // nonce across origins (Access-Control-Expose-Headers) and retry.
    expect(result['nonceRetries']).toEqual([
      { status: 400, challenge: null, error: 'use_dpop_nonce' },
      { status: 401, challenge: expect.stringContaining('DPoP error="use_dpop_nonce"'), error: 'use_dpop_nonce' },
    ]);
    // The access token is bound to the page's non-extractable key.
    const jwk = result['jwk'] as Record<string, string>;
    const thumbprint = createHash('sha256')
      .update(JSON.stringify({ crv: jwk['crv'], kty: jwk['kty'], x: jwk['x'], y: jwk['y'] }))
      .digest('base64url');
    const claims = JSON.parse(Buffer.from((result['accessToken'] as string).split('.')[1]!, 'base64url').toString('utf8')) as {
      cnf?: { jkt?: string };
      client_id?: string;
    };
    expect(claims).toMatchObject({ cnf: { jkt: thumbprint }, client_id: client.client_id });
  });

  it('a page on an origin the client never registered can read discovery but not the token or userinfo answers', async () => {
    const tab = await (await chromium.newContext()).newPage();
    await tab.goto(`${foreign.url}/`);
    const probe = (url: string, init: Record<string, unknown>) =>
      tab.evaluate(`fetch(${JSON.stringify(url)}, ${JSON.stringify(init)}).then((r) => 'read ' + r.status, (e) => 'blocked ' + e.name)`);
    expect(await probe(`${issuer}/.well-known/openid-configuration`, {})).toBe('read 200');
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code: 'x',
      redirect_uri: `${spa.url}/spa`,
      client_id: client.client_id,
      code_verifier: 'x'.repeat(43),
    }).toString();
    expect(await probe(`${issuer}/oidc/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form })).toBe(
      'blocked TypeError',
    );
    expect(await probe(`${issuer}/oidc/userinfo`, { headers: { Authorization: 'DPoP x' } })).toBe('blocked TypeError');
  });
});
