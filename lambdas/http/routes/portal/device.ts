import { ConflictError } from '../../../core/errors.ts';
import { formatUserCode } from '../../../core/oidc/device-codes.ts';
import { setCookie } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { html, page, pageHeaders } from '../../views/html.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import { portalRequestView, type PortalView } from '../../views/portal-view.ts';
import { INTERACTION_COOKIE } from '../oidc/authorize.ts';
import { reusableSession } from '../oidc/sso-session.ts';
import { tenantContext, type TenantContext } from '../oidc/common.ts';
import { expired, portalInteraction } from './common.ts';
import { clientNotice, scopeList } from './consent.ts';
import type { PortalDeps } from './deps.ts';
import { fromOwnOrigin } from '../../form-origin.ts';

const INTERACTION_SECONDS = 900;

/** The device flow's user-code page (RFC 8628 §3.3): enter the code, sign in, approve or deny. */
export function deviceRoutes(deps: PortalDeps): Route[] {
  const { oidc } = deps;

  const codePage = (view: PortalView, tenant: TenantContext, status = 200, error?: string, prefill = ''): ApiResponse => {
    const body = html`<p>${view.t('device.intro')}</p>
<form method="post" action="${tenant.issuer}/portal/device"><label for="user_code">${view.t('device.code')}</label>
<input type="text" id="user_code" name="user_code" autocomplete="off" autocapitalize="characters" spellcheck="false" required value="${prefill}"${error ? html` aria-describedby="error"` : ''}>
<button type="submit">${view.t('device.continue')}</button></form>`;
    return { statusCode: status, headers: pageHeaders(view), body: page(view, view.text('device.title'), body, error ? { error } : {}) };
  };

  async function enter(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
    const view = portalRequestView(request, tenant?.tenant);
    if (!tenant) return errorPage(view, 404, 'error.unknownOrg.title', 'error.unknownOrg.text');
    return codePage(view, tenant, 200, undefined, request.query['user_code'] ?? '');
  }

  /** A user code starts an interaction; a live SSO session skips straight to the approval. */
  async function start(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
    const view = portalRequestView(request, tenant?.tenant);
    if (!tenant) return errorPage(view, 404, 'error.unknownOrg.title', 'error.unknownOrg.text');
    const form = (request.body as Record<string, string> | undefined) ?? {};
    if (!fromOwnOrigin(request)) {
      return errorPage(view, 403, 'error.formExpired.title', 'device.formExpired.text');
    }
    // RFC 8628 §5.1: user codes are short enough to guess, so wrong ones count against the address.
    const found = await deps.throttle.attemptFromAddress(tenant.tenant.id, request.sourceIp ?? 'unknown', () =>
      oidc.devices.findByUserCode(tenant.tenant.id, form['user_code'] ?? ''),
    );
    if (found.outcome === 'locked') return codePage(view, tenant, 429, view.text('login.locked', { minutes: Math.ceil(found.retryAfterSeconds / 60) }));
    if (found.outcome === 'invalid') return codePage(view, tenant, 400, view.text('device.badCode'), form['user_code'] ?? '');
    const pending = found.value;
    const interaction = await oidc.interactions.create(
      tenant.tenant.id,
      { kind: 'device', userCode: pending.userCode, clientId: pending.clientId, scope: pending.scope },
      INTERACTION_SECONDS,
    );
    const session = (await reusableSession(deps, tenant, request, 'sso-reuse-oidc', pending.clientId))?.session;
    const cookie = setCookie(INTERACTION_COOKIE, interaction.id, { path: `/t/${tenant.tenant.id}/`, maxAgeSeconds: INTERACTION_SECONDS });
    if (session) {
      await oidc.interactions.update(interaction, {
        authentication: { sub: session.sub, authTime: session.authTime, acr: session.acr, amr: session.amr, sid: session.sid },
      });
      return redirect(`${tenant.issuer}/portal/device/confirm?interaction=${interaction.id}`, {}, [cookie]);
    }
    return redirect(`${tenant.issuer}/portal/login?interaction=${interaction.id}`, {}, [cookie]);
  }

  async function confirm(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction, view } = found;
    if (interaction.kind !== 'device' || !interaction.authentication) return expired(view);
    const client = await oidc.clients.find(tenant.tenant.id, interaction.clientId);
    const name = client?.client_name ?? interaction.clientId;
    const body = html`${clientNotice(view, client)}<p>${view.t('device.confirm.text', { code: html`<strong>${formatUserCode(interaction.userCode)}</strong>`, app: html`<strong>${name}</strong>`, user: html`<strong>${interaction.authentication.sub}</strong>` })}</p>
${scopeList(view, interaction.scope)}
<p>${view.t('device.confirm.own')}</p>
<form method="post" action="${tenant.issuer}/portal/device/confirm"><input type="hidden" name="interaction" value="${interaction.id}"><input type="hidden" name="csrf" value="${interaction.csrf}">
<button type="submit" name="decision" value="allow">${view.t('consent.allow')}</button> <button type="submit" name="decision" value="deny">${view.t('consent.deny')}</button></form>`;
    return { statusCode: 200, headers: pageHeaders(view), body: page(view, view.text('device.confirm.title'), body) };
  }

  async function decide(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction, form, view } = found;
    if (interaction.kind !== 'device' || !interaction.authentication) return expired(view);
    const pending = await oidc.devices.findByUserCode(tenant.tenant.id, interaction.userCode);
    if (!pending) return errorPage(view, 400, 'device.expired.title', 'device.expired.text');
    const allow = form['decision'] === 'allow';
    const auth = interaction.authentication;
    try {
      await oidc.interactions.finish(interaction);
      await oidc.devices.decide(
        pending.deviceHash,
        pending.version,
        allow ? { approvedBy: { sub: auth.sub, authTime: auth.authTime, acr: auth.acr, amr: auth.amr, sid: auth.sid ?? '' } } : 'denied',
      );
    } catch (error) {
      if (error instanceof ConflictError) return errorPage(view, 400, 'device.decided.title', 'device.decided.text');
      throw error;
    }
    const outcome = allow ? 'connected' : 'refused';
    return {
      statusCode: 200,
      headers: pageHeaders(view),
      body: page(view, view.text(`device.${outcome}.title`), html`<p>${view.t(`device.${outcome}.text`)}</p>`),
    };
  }

  return [
    { method: 'GET', path: '/t/:tenant/portal/device', handle: enter },
    { method: 'POST', path: '/t/:tenant/portal/device', handle: start },
    { method: 'GET', path: '/t/:tenant/portal/device/confirm', handle: confirm },
    { method: 'POST', path: '/t/:tenant/portal/device/confirm', handle: decide },
  ];
}
