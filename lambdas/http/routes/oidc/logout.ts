import type { OidcClient } from '../../../core/oidc/client.ts';
import { clearCookie, clearSsoSessionCookies, readCookie, SSO_COOKIE } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { formActionFor, html, page, pageHeaders } from '../../views/html.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import { paramsOf, tenantContext, type TenantContext } from './common.ts';
import type { OidcRouteDeps } from './deps.ts';

/**
 * RP-initiated logout (OIDC RP-Initiated Logout 1.0). A GET only shows a confirmation form, because a
 * cross-site link must not sign anyone out; the POST (with its CSRF token) ends the SSO session and
 * returns to a registered post_logout_redirect_uri when one was named.
 */
export function logoutRoutes(deps: OidcRouteDeps): Route[] {
  const { oidc } = deps;

  /** The client and return address a logout request may use, or undefined when none is valid. */
  async function target(tenant: TenantContext, params: Record<string, string | undefined>): Promise<{ client?: OidcClient; returnTo?: string; error?: string }> {
    let clientId = params['client_id'];
    if (params['id_token_hint']) {
      const claims = await oidc.tokens.verifyIdTokenHint(tenant.tenant.id, tenant.issuer, tenant.settings, params['id_token_hint']).catch(() => undefined);
      if (!claims) return { error: 'The sign-out request carries an ID token this service did not issue.' };
      const aud = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
      if (clientId && clientId !== aud) return { error: 'The sign-out request names two different applications.' };
      clientId = aud;
    }
    const client = clientId ? await oidc.clients.find(tenant.tenant.id, clientId) : undefined;
    const requested = params['post_logout_redirect_uri'];
    if (!requested) return client ? { client } : {};
    if (!client || !client.post_logout_redirect_uris.includes(requested)) return { error: 'The application asked to return you to an address it has not registered.' };
    const url = new URL(requested);
    if (params['state'] !== undefined) url.searchParams.set('state', params['state']);
    return { client, returnTo: url.toString() };
  }

  async function confirm(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const params = paramsOf(request);
    const { client, returnTo, error } = await target(tenant, params);
    if (error) return errorPage(400, 'Sign-out request not valid', error);
    const csrf = oidc.random.id();
    const hidden = Object.entries(params)
      .filter(([name]) => ['id_token_hint', 'client_id', 'post_logout_redirect_uri', 'state'].includes(name))
      .map(([name, value]) => html`<input type="hidden" name="${name}" value="${value ?? ''}">`);
    const back = returnTo ? new URL(returnTo).host : undefined;
    const body = html`<p>${client?.client_name ? html`<strong>${client.client_name}</strong> asked to sign you out. ` : ''}Do you want to sign out of all applications of ${tenant.tenant.displayName}?</p>
<p>Signing out ends your session here: every application you signed in to through ${tenant.tenant.displayName} will ask you to sign in again${back ? html`, and you will be sent back to ${back}` : ''}. Cancel keeps you signed in${back ? html` and also sends you back` : ''}.</p>
<form method="post" action="${tenant.issuer}/oidc/logout"><input type="hidden" name="csrf" value="${csrf}">${hidden}<button type="submit" name="logout" value="yes">Sign out</button> <button type="submit" name="logout" value="no">Cancel</button></form>`;
    return {
      statusCode: 200,
      headers: pageHeaders(formActionFor(returnTo)),
      // The form token is a double-submit cookie: a cross-site page can neither read nor set it.
      multiValueHeaders: { 'Set-Cookie': [`cc_logout=${csrf}; Path=/t/${tenant.tenant.id}/oidc/logout; Secure; HttpOnly; SameSite=Strict; Max-Age=600`] },
      body: page('Sign out', body),
    };
  }

  async function perform(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const form = (request.body as Record<string, string> | undefined) ?? {};
    const expected = readCookie(request.headers['cookie'], 'cc_logout');
    if (!expected || form['csrf'] !== expected) return errorPage(403, 'Sign-out not confirmed', 'This sign-out form has expired. Start again from the application.');
    const { returnTo, error } = await target(tenant, form);
    if (error) return errorPage(400, 'Sign-out request not valid', error);
    const secret = readCookie(request.headers['cookie'], SSO_COOKIE);
    if (secret) await oidc.sessions.end(secret);
    const cookies = [...clearSsoSessionCookies(tenant.tenant.id), clearCookie('cc_logout', `/t/${tenant.tenant.id}/oidc/logout`)];
    if (returnTo) return redirect(returnTo, {}, cookies);
    return { statusCode: 200, headers: pageHeaders(), multiValueHeaders: { 'Set-Cookie': cookies }, body: page('Signed out', html`<p>You are signed out. You can close this window.</p>`) };
  }

  /** The user declined: the session stays; like oidc-provider, a valid return address still gets them back. */
  async function cancel(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const form = (request.body as Record<string, string> | undefined) ?? {};
    const expected = readCookie(request.headers['cookie'], 'cc_logout');
    if (!expected || form['csrf'] !== expected) return errorPage(403, 'Sign-out form expired', 'This sign-out form has expired. Start again from the application.');
    const { returnTo, error } = await target(tenant, form);
    if (error) return errorPage(400, 'Sign-out request not valid', error);
    const cookies = [clearCookie('cc_logout', `/t/${tenant.tenant.id}/oidc/logout`)];
    if (returnTo) return redirect(returnTo, {}, cookies);
    return { statusCode: 200, headers: pageHeaders(), multiValueHeaders: { 'Set-Cookie': cookies }, body: page('Still signed in', html`<p>You are still signed in. You can close this window.</p>`) };
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
