import { sessionHash } from '../../../core/oidc/sessions.ts';
import { samlEndpoints } from '../../../core/saml/metadata.ts';
import { clearCookie, clearSsoSessionCookies, readCookie, setCookie } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { html, page, pageHeaders } from '../../views/html.ts';
import { errorPage } from '../../views/pages.ts';
import { SSO_COOKIE } from '../oidc/authorize.ts';
import { tenantContext } from '../oidc/common.ts';
import type { SamlRouteDeps } from './deps.ts';
import { logoutFlow } from './logout-flow.ts';

const CSRF_COOKIE = 'cc_saml_logout';

/**
 * `/t/{tenant}/saml/logout`: IdP-initiated Single Logout (Profiles §4.4.3.1). A GET shows a confirmation
 * form (a cross-site link must not sign anyone out); its POST, with the form token, ends the SSO session
 * and tells every SAML participant, over SOAP where it can, otherwise through the browser.
 */
export function logoutPageRoutes(deps: SamlRouteDeps): Route[] {
  const { saml } = deps;
  const flow = logoutFlow(saml);

  async function confirm(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const csrf = saml.oidc.random.id();
    const body = html`<p>Sign out of every application of ${tenant.tenant.displayName}?</p>
<p>Signing out ends your session here and tells each application you signed in to through it; each will ask you to sign in again. Cancel keeps you signed in.</p>
<form method="post" action="${samlEndpoints(tenant.issuer).logout}"><input type="hidden" name="csrf" value="${csrf}"><button type="submit">Sign out</button> <button type="submit" name="cancel" value="yes">Cancel</button></form>`;
    return {
      statusCode: 200,
      headers: pageHeaders(),
      // A double-submit token: a cross-site page can neither read nor set this cookie.
      multiValueHeaders: { 'Set-Cookie': [setCookie(CSRF_COOKIE, csrf, { path: `/t/${tenant.tenant.id}/saml/logout`, sameSite: 'Strict', maxAgeSeconds: 600 })] },
      body: page('Sign out', body),
    };
  }

  async function perform(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const form = (request.body as Record<string, string> | undefined) ?? {};
    const expected = readCookie(request.headers['cookie'], CSRF_COOKIE);
    if (!expected || form['csrf'] !== expected) return errorPage(403, 'Sign-out not confirmed', 'This sign-out form has expired. Start again.');
    if (form['cancel'] === 'yes') {
      return { statusCode: 200, headers: pageHeaders(), multiValueHeaders: { 'Set-Cookie': [clearCookie(CSRF_COOKIE, `/t/${tenant.tenant.id}/saml/logout`)] }, body: page('Still signed in', html`<p>You are still signed in. You can close this window.</p>`) };
    }
    const cookies = [...clearSsoSessionCookies(tenant.tenant.id), clearCookie(CSRF_COOKIE, `/t/${tenant.tenant.id}/saml/logout`)];
    const secret = readCookie(request.headers['cookie'], SSO_COOKIE);
    const ended = secret ? await flow.endAndPropagate(tenant, sessionHash(secret)) : undefined;
    return flow.next(tenant, { tenant: tenant.tenant.id, remaining: ended?.frontChannel ?? [], partial: ended?.partial ?? false }, cookies);
  }

  return [
    { method: 'GET', path: '/t/:tenant/saml/logout', handle: confirm },
    { method: 'POST', path: '/t/:tenant/saml/logout', handle: perform },
  ];
}
