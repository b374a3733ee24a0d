import { accessContextOf } from '../../access-context.ts';
import { ssoSessionCookies } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import { portalRequestView } from '../../views/portal-view.ts';
import { tenantContext } from '../oidc/common.ts';
import type { PortalDeps } from './deps.ts';

const REFUSALS = {
  unknown: [410, 'sso.unknown.title', 'sso.unknown.text'],
  used: [410, 'sso.used.title', 'sso.used.text'],
  'other-device': [403, 'sso.otherDevice.title', 'sso.otherDevice.text'],
} as const;

/**
 * `GET /t/{tenant}/portal/sso?transfer=…`: redeems a browser-SSO transfer (oidc/sso-transfer.ts) once, from
 * the device that asked for it, into a new SSO session (fresh cookie: no fixation) continuing the PRT's
 * sign-in, and sends the browser on to the transfer's target. Every refusal is a page that says why.
 */
export function ssoTransferRoutes(deps: PortalDeps): Route[] {
  const { oidc } = deps;
  async function redeem(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
    if (!tenant) return errorPage(portalRequestView(request), 404, 'error.unknownOrg.title', 'error.unknownOrg.text');
    const redemption = await oidc.ssoTransfers.redeem(tenant.tenant.id, request.query['transfer'] ?? '', request.sourceIp);
    // A sign-in like any other: a redemption is a success, a replay or another device's try a failure.
    const who = { tenant: tenant.tenant.id, ...(request.sourceIp ? { ip: request.sourceIp } : {}) };
    if (redemption.outcome === 'redeemed')
      deps.events?.emit({ kind: 'sign-in-success', ...who, username: redemption.transfer.authentication.sub, reason: 'sso-transfer' });
    else
      deps.events?.emit({
        kind: 'sign-in-failure',
        ...who,
        ...('username' in redemption ? { username: redemption.username } : {}),
        reason: `sso-transfer:${redemption.outcome}`,
      });
    if (redemption.outcome !== 'redeemed') {
      const [status, title, message] = REFUSALS[redemption.outcome];
      return errorPage(portalRequestView(request, tenant.tenant), status, title, message);
    }
    const { transfer } = redemption;
    const context = { ...accessContextOf(request, { amr: transfer.authentication.amr }), at: oidc.clock.now() };
    const { secret } = await oidc.sessions.start(tenant.tenant.id, transfer.authentication, tenant.tenant.sessionLifetimes.ssoSeconds, context);
    return redirect(transfer.target, {}, ssoSessionCookies(tenant.tenant.id, secret, tenant.tenant.sessionLifetimes.ssoSeconds));
  }
  return [{ method: 'GET', path: '/t/:tenant/portal/sso', handle: redeem }];
}
