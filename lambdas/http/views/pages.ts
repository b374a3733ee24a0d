import type { MessageValue } from '../../core/portal/i18n/format.ts';
import type { SharedKey } from '../../core/portal/i18n/shared.ts';
import type { ApiResponse } from '../types.ts';
import { html, page, pageHeaders } from './html.ts';
import type { PageView } from './view.ts';

/**
 * An error page for a browser: used when there is no client to send the error back to safely. `detail`
 * is a protocol message (English, from the code) shown under the translated text when there is one.
 */
export function errorPage<K extends string = SharedKey>(
  view: PageView<K | SharedKey>,
  status: number,
  title: K | SharedKey,
  message: K | SharedKey,
  values: Readonly<Record<string, MessageValue>> = {},
  detail?: string,
): ApiResponse {
  return {
    statusCode: status,
    headers: pageHeaders(view),
    body: page(view, view.text(title), html`<p>${view.t(message, values)}</p>${detail ? html`<p>${detail}</p>` : ''}`),
  };
}

/** The statuses with words of their own; others fall back to the 4xx/5xx ones. */
const EXPLAINED = new Set([400, 401, 403, 404, 405, 409, 413, 429]);

/**
 * The HTML form of an RFC 7807 problem, for a browser that navigated here (lambdas/http/negotiation.ts):
 * a title and what to do in the browser's language, the detail of a client error (never of a server
 * error), the time and the request id to quote to support. The problem's headers (Allow,
 * WWW-Authenticate, Retry-After) are kept.
 */
export function problemPage(
  view: PageView,
  status: number,
  title: string,
  detail: string | undefined,
  requestId: string,
  headers: Record<string, string> = {},
  at = new Date(),
): ApiResponse {
  const known = EXPLAINED.has(status) ? (String(status) as '400') : undefined;
  const heading = known ? view.text(`error.title.${known}`) : status >= 500 ? view.text('error.title.5xx') : title;
  const advice = view.t(known ? `error.advice.${known}` : status >= 500 ? 'error.advice.5xx' : 'error.advice.other');
  const body = html`<p>${advice}</p>${status < 500 && detail ? html`<p>${detail}</p>` : ''}<p>${view.t('error.requestId', { id: html`<code>${requestId}</code>` })}</p><p>${view.t('error.time', { time: at })}</p>`;
  return { statusCode: status, headers: { ...headers, ...pageHeaders(view) }, body: page(view, heading, body) };
}

/**
 * OAuth 2.0 Form Post Response Mode: an auto-submitting form to the client, which also works without
 * JavaScript through its visible button. The script runs only with this response's nonce.
 */
export function formPostPage(view: PageView, action: string, fields: Record<string, string>, nonce: string): ApiResponse {
  const origin = new URL(action).origin;
  const inputs = Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
  const body = html`<form method="post" action="${action}">${inputs}<p>${view.t('formPost.text')}</p><button type="submit">${view.t('formPost.continue')}</button></form><script nonce="${nonce}">document.forms[0].submit()</script>`;
  const headers = pageHeaders(view, origin);
  headers['Content-Security-Policy'] = `${headers['Content-Security-Policy']}; script-src 'nonce-${nonce}'`;
  return { statusCode: 200, headers, body: page(view, view.text('formPost.title'), body) };
}

export function redirect(location: string, headers: Record<string, string> = {}, cookies: string[] = []): ApiResponse {
  return {
    statusCode: 303,
    headers: { Location: location, 'Cache-Control': 'no-store', ...headers },
    ...(cookies.length ? { multiValueHeaders: { 'Set-Cookie': cookies } } : {}),
    body: '',
  };
}
