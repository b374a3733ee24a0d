import type { ApiResponse } from '../types.ts';
import { html, page, pageHeaders } from './html.ts';

/** An error page for a browser: used when there is no client to send the error back to safely. */
export function errorPage(status: number, title: string, message: string): ApiResponse {
  return { statusCode: status, headers: pageHeaders(), body: page(title, html`<p>${message}</p>`) };
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
