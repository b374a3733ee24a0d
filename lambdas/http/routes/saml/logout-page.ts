import { sessionHash } from '../../../core/oidc/sessions.ts';
import { samlEndpoints } from '../../../core/saml/metadata.ts';
import { clearCookie, clearSsoSessionCookies, readCookie, setCookie } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { html, page, pageHeaders } from '../../views/html.ts';
import { errorPage } from '../../views/pages.ts';
import { requestView } from '../../views/view.ts';
import { SSO_COOKIE } from '../oidc/authorize.ts';
import { tenantContext } from '../oidc/common.ts';
import type { SamlRouteDeps } from './deps.ts';
import { logoutFlow } from './logout-flow.ts';
import { fromOwnOrigin } from '../../form-origin.ts';

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
    const view = requestView(request, tenant.tenant);
    const csrf = saml.oidc.random.id();
    const body = html`<p>${view.t('logout.samlQuestion', { org: view.org })}</p>
<p>${view.t('logout.samlExplain')}</p>
<form method="post" action="${samlEndpoints(tenant.issuer).logout}"><input type="hidden" name="csrf" value="${csrf}"><button type="submit">${view.t('logout.submit')}</button> <button type="submit" name="cancel" value="yes">${view.t('logout.cancel')}</button></form>`;
    return {
      statusCode: 200,
      headers: pageHeaders(view),
      // A double-submit token: a cross-site page can neither read nor set this cookie.
      multiValueHeaders: {
        'Set-Cookie': [setCookie(CSRF_COOKIE, csrf, { path: `/t/${tenant.tenant.id}/saml/logout`, sameSite: 'Strict', maxAgeSeconds: 600 })],
      },
      body: page(view, view.text('logout.title'), body),
    };
  }

  async function perform(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request);
    const view = requestView(request, tenant.tenant);
    const form = (request.body as Record<string, string> | undefined) ?? {};
    const expected = readCookie(request.headers['cookie'], CSRF_COOKIE);
    if (!fromOwnOrigin(request) || !expected || form['csrf'] !== expected) return errorPage(view, 403, 'logout.notConfirmed.title', 'logout.formExpired.text');
    if (form['cancel'] === 'yes') {
      return {
        statusCode: 200,
        headers: pageHeaders(view),
        multiValueHeaders: { 'Set-Cookie': [clearCookie(CSRF_COOKIE, `/t/${tenant.tenant.id}/saml/logout`)] },
        body: page(view, view.text('logout.kept.title'), html`<p>${view.t('logout.kept.text')}</p>`),
      };
    }
    const cookies = [...clearSsoSessionCookies(tenant.tenant.id), clearCookie(CSRF_COOKIE, `/t/${tenant.tenant.id}/saml/logout`)];
    const secret = readCookie(request.headers['cookie'], SSO_COOKIE);
    const ended = secret ? await flow.endAndPropagate(tenant, sessionHash(secret)) : undefined;
    return flow.next(tenant, { tenant: tenant.tenant.id, remaining: ended?.frontChannel ?? [], partial: ended?.partial ?? false }, cookies, view);
  }

  return [
    { method: 'GET', path: '/t/:tenant/saml/logout', handle: confirm },
    { method: 'POST', path: '/t/:tenant/saml/logout', handle: perform },
  ];
}
