import { createHash, randomBytes } from 'node:crypto';
import { HttpBrowser, formOf } from './http-browser.ts';
import { DEMO_PASSWORD } from './oidc-stack.ts';

export const RP_REDIRECT = 'https://rp.example.test/callback';

export interface RegisteredClient {
  readonly client_id: string;
  readonly client_secret?: string;
  readonly [name: string]: unknown;
}

/** Dynamic registration (RFC 7591) with defaults fit for a confidential web client. */
export async function registerClient(issuer: string, metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
  const response = await fetch(`${issuer}/oidc/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [RP_REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...metadata,
    }),
  });
  if (response.status !== 201) throw new Error(`registration failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as RegisteredClient;
}

export const basic = (client: RegisteredClient): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? '')}`).toString('base64')}`;

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Authorize, sign in as alice on the portal (consenting if asked), and return the callback URL. */
export async function authorizeWithLogin(issuer: string, params: Record<string, string>, browser = new HttpBrowser(), password = DEMO_PASSWORD): Promise<URL> {
  const url = new URL(`${issuer}/oidc/authorize`);
  for (const [name, value] of Object.entries({ response_type: 'code', redirect_uri: RP_REDIRECT, scope: 'openid offline_access', ...params }))
    url.searchParams.set(name, value);
  let { response, url: at } = await browser.follow(url.toString(), RP_REDIRECT);
  if (at.startsWith(RP_REDIRECT)) return new URL(at);
  const login = formOf(await response.text());
  ({ response, url: at } = await browser.follow(login.action, RP_REDIRECT, { form: { ...login.fields, username: 'alice', password } }));
  if (at.includes('/portal/consent')) {
    const consent = formOf(await response.text());
    ({ url: at } = await browser.follow(consent.action, RP_REDIRECT, { form: { ...consent.fields, decision: 'allow' } }));
  }
  return new URL(at);
}

/** POSTs a form to the token (or another) endpoint and returns status, JSON body and headers. */
export async function postForm(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: response.headers };
}
