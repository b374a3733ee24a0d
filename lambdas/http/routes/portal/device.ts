import { ConflictError } from '../../../core/errors.ts';
import { formatUserCode } from '../../../core/oidc/device-codes.ts';
import { setCookie } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { html, page, pageHeaders } from '../../views/html.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import { INTERACTION_COOKIE } from '../oidc/authorize.ts';
import { reusableSession } from '../oidc/sso-session.ts';
import { tenantContext, type TenantContext } from '../oidc/common.ts';
import { expired, portalInteraction } from './common.ts';
import { clientNotice, scopeList } from './consent.ts';
import type { PortalDeps } from './deps.ts';

const INTERACTION_SECONDS = 900;

/** The device flow's user-code page (RFC 8628 §3.3): enter the code, sign in, approve or deny. */
export function deviceRoutes(deps: PortalDeps): Route[] {
  const { oidc } = deps;

  const codePage = (tenant: TenantContext, status = 200, error?: string, prefill = ''): ApiResponse => {
    const body = html`<p>Enter the code shown on your device.</p>
<form method="post" action="${tenant.issuer}/portal/device"><label for="user_code">Code</label>
<input type="text" id="user_code" name="user_code" autocomplete="off" autocapitalize="characters" spellcheck="false" required value="${prefill}"${error ? html` aria-describedby="error"` : ''}>
<button type="submit">Continue</button></form>`;
    return { statusCode: status, headers: pageHeaders(), body: page('Connect a device', body, error ? { error } : {}) };
  };

  async function enter(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
    if (!tenant) return errorPage(404, 'Unknown organisation', 'This page names an organisation that does not exist.');
    return codePage(tenant, 200, undefined, request.query['user_code'] ?? '');
  }

  /** A user code starts an interaction; a live SSO session skips straight to the approval. */
  async function start(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
    if (!tenant) return errorPage(404, 'Unknown organisation', 'This page names an organisation that does not exist.');
    const form = (request.body as Record<string, string> | undefined) ?? {};
    const origin = request.headers['origin'];
    if (origin && origin !== 'null' && origin !== new URL(request.baseUrl).origin) {
      return errorPage(403, 'Form expired', 'This form could not be accepted. Open the device page again.');
    }
    const pending = await oidc.devices.findByUserCode(tenant.tenant.id, form['user_code'] ?? '');
    if (!pending) return codePage(tenant, 400, 'That code is not valid or has expired. Check the code on your device.', form['user_code'] ?? '');
    const interaction = await oidc.interactions.create(tenant.tenant.id, { kind: 'device', userCode: pending.userCode, clientId: pending.clientId, scope: pending.scope }, INTERACTION_SECONDS);
    const session = (await reusableSession(deps, tenant, request, 'sso-reuse-oidc', pending.clientId))?.session;
    const cookie = setCookie(INTERACTION_COOKIE, interaction.id, { path: `/t/${tenant.tenant.id}/`, maxAgeSeconds: INTERACTION_SECONDS });
    if (session) {
      await oidc.interactions.update(interaction, { authentication: { sub: session.sub, authTime: session.authTime, acr: session.acr, amr: session.amr, sid: session.sid } });
      return redirect(`${tenant.issuer}/portal/device/confirm?interaction=${interaction.id}`, {}, [cookie]);
    }
    return redirect(`${tenant.issuer}/portal/login?interaction=${interaction.id}`, {}, [cookie]);
  }

  async function confirm(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction } = found;
    if (interaction.kind !== 'device' || !interaction.authentication) return expired();
    const client = await oidc.clients.find(tenant.tenant.id, interaction.clientId);
    const name = client?.client_name ?? interaction.clientId;
    const body = html`${clientNotice(tenant, client)}<p>A device showing the code <strong>${formatUserCode(interaction.userCode)}</strong> asks to use <strong>${name}</strong> as <strong>${interaction.authentication.sub}</strong>. It wants to:</p>
${scopeList(interaction.scope)}
<p>Only continue if you started this on your own device.</p>
<form method="post" action="${tenant.issuer}/portal/device/confirm"><input type="hidden" name="interaction" value="${interaction.id}"><input type="hidden" name="csrf" value="${interaction.csrf}">
<button type="submit" name="decision" value="allow">Allow</button> <button type="submit" name="decision" value="deny">Deny</button></form>`;
    return { statusCode: 200, headers: pageHeaders(), body: page('Allow this device?', body) };
  }

  async function decide(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction, form } = found;
    if (interaction.kind !== 'device' || !interaction.authentication) return expired();
    const pending = await oidc.devices.findByUserCode(tenant.tenant.id, interaction.userCode);
    if (!pending) return errorPage(400, 'Code expired', 'This device code has expired or was already used. Start again on your device.');
    const allow = form['decision'] === 'allow';
    const auth = interaction.authentication;
    try {
      await oidc.interactions.finish(interaction);
      await oidc.devices.decide(pending.deviceHash, pending.version, allow ? { approvedBy: { sub: auth.sub, authTime: auth.authTime, acr: auth.acr, amr: auth.amr, sid: auth.sid ?? '' } } : 'denied');
    } catch (error) {
      if (error instanceof ConflictError) return errorPage(400, 'Already decided', 'This device request was already answered.');
      throw error;
    }
    const message = allow ? 'Your device is connected. You can return to it now.' : 'The device was not connected.';
    return { statusCode: 200, headers: pageHeaders(), body: page(allow ? 'Device connected' : 'Device refused', html`<p>${message}</p>`) };
  }

  return [
    { method: 'GET', path: '/t/:tenant/portal/device', handle: enter },
    { method: 'POST', path: '/t/:tenant/portal/device', handle: start },
    { method: 'GET', path: '/t/:tenant/portal/device/confirm', handle: confirm },
    { method: 'POST', path: '/t/:tenant/portal/device/confirm', handle: decide },
  ];
}
