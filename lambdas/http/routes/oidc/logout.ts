import type { OidcClient } from '../../../core/oidc/client.ts';
import { clearCookie, clearSsoSessionCookies, readCookie, SSO_COOKIE } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { formActionFor, html, page, pageHeaders } from '../../views/html.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import { viewOf } from '../../views/view.ts';
import type { SharedKey } from '../../../core/portal/i18n/shared.ts';
import { paramsOf, tenantContext, type TenantContext } from './common.ts';
import type { OidcRouteDeps } from './deps.ts';
import { fromOwnOrigin } from '../../form-origin.ts';

/**
 * RP-initiated logout (OIDC RP-Initiated Logout 1.0). A GET only shows a confirmation form, because a
 * cross-site link must not sign anyone out; the POST (with its CSRF token) ends the SSO session and
 * returns to a registered post_logout_redirect_uri when one was named.
 */
export function logoutRoutes(deps: OidcRouteDeps): Route[] {
  const { oidc } = deps;

  /** The client and return address a logout request may use, or undefined when none is valid. */
  async function target(
    tenant: TenantContext,
    params: Record<string, string | undefined>,
  ): Promise<{ client?: OidcClient; returnTo?: string; error?: SharedKey }> {
    let clientId = params['client_id'];
    if (params['id_token_hint']) {
      const claims = await oidc.tokens.verifyIdTokenHint(tenant.tenant.id, tenant.issuer, tenant.settings, params['id_token_hint']).catch(() => undefined);
      if (!claims) return { error: 'logout.invalid.hint' };
      const aud = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
      if (clientId && clientId !== aud) return { error: 'logout.invalid.twoApps' };
      clientId = aud;
    }
    const client = clientId ? await oidc.clients.find(tenant.tenant.id, clientId) : undefined;
    const requested = params['post_logout_redirect_uri'];
    if (!requested) return client ? { client } : {};
    if (!client || !client.post_logout_redirect_uris.includes(requested)) return { error: 'logout.invalid.returnTo' };
    const url = new URL(requested);
    if (params['state'] !== undefined) url.searchParams.set('state', params['state']);
    return { client, returnTo: url.toString() };
  }

  async function confirm(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const params = paramsOf(request);
    const view = viewOf({ acceptLanguage: request.headers['accept-language'], tenant: tenant.tenant, uiLocales: params['ui_locales'] });
    const { client, returnTo, error } = await target(tenant, params);
    if (error) return errorPage(view, 400, 'logout.invalid.title', error);
    const csrf = oidc.random.id();
    const hidden = Object.entries(params)
      .filter(([name]) => ['id_token_hint', 'client_id', 'post_logout_redirect_uri', 'state', 'ui_locales'].includes(name))
      .map(([name, value]) => html`<input type="hidden" name="${name}" value="${value ?? ''}">`);
    const back = returnTo ? new URL(returnTo).host : undefined;
    const body = html`<p>${client?.client_name ? html`${view.t('logout.askedBy', { app: html`<strong>${client.client_name}</strong>` })} ` : ''}${view.t('logout.question', { org: view.org })}</p>
<p>${back ? view.t('logout.explainBack', { org: view.org, host: back }) : view.t('logout.explain', { org: view.org })} ${view.t(back ? 'logout.cancelKeepsBack' : 'logout.cancelKeeps')}</p>
<form method="post" action="${tenant.issuer}/oidc/logout"><input type="hidden" name="csrf" value="${csrf}">${hidden}<button type="submit" name="logout" value="yes">${view.t('logout.submit')}</button> <button type="submit" name="logout" value="no">${view.t('logout.cancel')}</button></form>`;
    return {
      statusCode: 200,
      headers: pageHeaders(view, formActionFor(returnTo)),
      // The form token is a double-submit cookie: a cross-site page can neither read nor set it.
      multiValueHeaders: { 'Set-Cookie': [`cc_logout=${csrf}; Path=/t/${tenant.tenant.id}/oidc/logout; Secure; HttpOnly; SameSite=Strict; Max-Age=600`] },
      body: page(view, view.text('logout.title'), body),
    };
  }

  async function perform(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const form = (request.body as Record<string, string> | undefined) ?? {};
    const view = viewOf({ acceptLanguage: request.headers['accept-language'], tenant: tenant.tenant, uiLocales: form['ui_locales'] });
    const expected = readCookie(request.headers['cookie'], 'cc_logout');
    if (!fromOwnOrigin(request) || !expected || form['csrf'] !== expected) return errorPage(view, 403, 'logout.notConfirmed.title', 'logout.formExpired.text');
    const { returnTo, error } = await target(tenant, form);
    if (error) return errorPage(view, 400, 'logout.invalid.title', error);
    const secret = readCookie(request.headers['cookie'], SSO_COOKIE);
    if (secret) await oidc.sessions.end(secret);
    const cookies = [...clearSsoSessionCookies(tenant.tenant.id), clearCookie('cc_logout', `/t/${tenant.tenant.id}/oidc/logout`)];
    if (returnTo) return redirect(returnTo, {}, cookies);
    return {
      statusCode: 200,
      headers: pageHeaders(view),
      multiValueHeaders: { 'Set-Cookie': cookies },
      body: page(view, view.text('logout.done.title'), html`<p>${view.t('logout.done.text')}</p>`),
    };
  }

  /** The user declined: the session stays; like oidc-provider, a valid return address still gets them back. */
  async function cancel(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const form = (request.body as Record<string, string> | undefined) ?? {};
    const view = viewOf({ acceptLanguage: request.headers['accept-language'], tenant: tenant.tenant, uiLocales: form['ui_locales'] });
    const expected = readCookie(request.headers['cookie'], 'cc_logout');
    if (!fromOwnOrigin(request) || !expected || form['csrf'] !== expected) return errorPage(view, 403, 'logout.formExpired.title', 'logout.formExpired.text');
    const { returnTo, error } = await target(tenant, form);
    if (error) return errorPage(view, 400, 'logout.invalid.title', error);
    const cookies = [clearCookie('cc_logout', `/t/${tenant.tenant.id}/oidc/logout`)];
    if (returnTo) return redirect(returnTo, {}, cookies);
    return {
      statusCode: 200,
      headers: pageHeaders(view),
      multiValueHeaders: { 'Set-Cookie': cookies },
      body: page(view, view.text('logout.kept.title'), html`<p>${view.t('logout.kept.text')}</p>`),
    };
  }

  return [
    { method: 'GET', path: '/t/:tenant/oidc/logout', handle: confirm },
    {
      method: 'POST',
      path: '/t/:tenant/oidc/logout',
      handle: (request) => {
        const choice = (request.body as Record<string, string> | undefined)?.['logout'];
        return choice === 'yes' ? perform(request) : choice === 'no' ? cancel(request) : confirm(request);
      },
    },
  ];
}
