import type { ApiResponse } from '../types.ts';
import { html, page, pageHeaders } from './html.ts';

/** An error page for a browser: used when there is no client to send the error back to safely. */
export function errorPage(status: number, title: string, message: string): ApiResponse {
  return { statusCode: status, headers: pageHeaders(), body: page(title, html`<p>${message}</p>`) };
}

/** What a person can do about each kind of error; the problem's own detail follows for 4xx. */
const ERROR_ADVICE: Readonly<Record<number, string>> = {
  400: 'The request could not be used.',
  401: 'You need to sign in for this.',
  403: 'You are not allowed to do this.',
  404: 'There is nothing at this address. Check the link, or start again from the application you came from.',
  405: 'This address cannot be used this way.',
  409: 'This was changed or used meanwhile. Start again from the application you came from.',
  413: 'What was sent is too large.',
  429: 'Too many attempts. Wait a moment and try again.',
};

/**
 * The HTML form of an RFC 7807 problem, for a browser that navigated here (lambdas/http/negotiation.ts):
 * the title, what to do, the detail of a client error (never of a server error), and the request id to
 * quote to support. The problem's headers (Allow, WWW-Authenticate, Retry-After) are kept.
 */
export function problemPage(status: number, title: string, detail: string | undefined, requestId: string, headers: Record<string, string> = {}): ApiResponse {
  const advice = ERROR_ADVICE[status] ?? (status >= 500 ? 'Something went wrong on our side. Try again in a moment.' : 'The request could not be completed.');
  const body = html`<p>${advice}</p>${status < 500 && detail ? html`<p>${detail}</p>` : ''}<p>Request id: <code>${requestId}</code> (quote it if you contact support).</p>`;
  return { statusCode: status, headers: { ...headers, ...pageHeaders() }, body: page(title, body) };
}

/**
 * OAuth 2.0 Form Post Response Mode: an auto-submitting form to the client, which also works without
 * JavaScript through its visible button. The script runs only with this response's nonce.
 */
export function formPostPage(action: string, fields: Record<string, string>, nonce: string): ApiResponse {
  const origin = new URL(action).origin;
  const inputs = Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
  const body = html`<form method="post" action="${action}">${inputs}<p>Your sign-in is complete.</p><button type="submit">Continue</button></form><script nonce="${nonce}">document.forms[0].submit()</script>`;
  const headers = pageHeaders(origin);
  headers['Content-Security-Policy'] = `${headers['Content-Security-Policy']}; script-src 'nonce-${nonce}'`;
  return { statusCode: 200, headers, body: page('Signing you in', body) };
}

export function redirect(location: string, headers: Record<string, string> = {}, cookies: string[] = []): ApiResponse {
  return { statusCode: 303, headers: { Location: location, 'Cache-Control': 'no-store', ...headers }, ...(cookies.length ? { multiValueHeaders: { 'Set-Cookie': cookies } } : {}), body: '' };
}
