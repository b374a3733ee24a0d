import { accessContextOf } from '../../access-context.ts';
import { ssoSessionCookies } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import { tenantContext } from '../oidc/common.ts';
import type { PortalDeps } from './deps.ts';

const REFUSALS = {
  unknown: [410, 'Sign-in link expired', 'This sign-in link is not valid or has expired (they last one minute). Run cloudcard-agent browser-sso again.'],
  used: [410, 'Sign-in link already used', 'This sign-in link has already been used; each works once. Run cloudcard-agent browser-sso again.'],
  'other-device': [403, 'Sign-in link for another device', 'This sign-in link was made for another device and cannot be used here.'],
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
    if (!tenant) return errorPage(404, 'Unknown organisation', 'This sign-in link names an organisation that does not exist.');
    const redemption = await oidc.ssoTransfers.redeem(tenant.tenant.id, request.query['transfer'] ?? '', request.sourceIp);
    if (redemption.outcome !== 'redeemed') {
      const [status, title, message] = REFUSALS[redemption.outcome];
      return errorPage(status, title, message);
    }
    const { transfer } = redemption;
    const context = { ...accessContextOf(request, { amr: transfer.authentication.amr }), at: oidc.clock.now() };
    const { secret } = await oidc.sessions.start(tenant.tenant.id, transfer.authentication, tenant.tenant.sessionLifetimes.ssoSeconds, context);
    return redirect(transfer.target, {}, ssoSessionCookies(tenant.tenant.id, secret, tenant.tenant.sessionLifetimes.ssoSeconds));
  }
  return [{ method: 'GET', path: '/t/:tenant/portal/sso', handle: redeem }];
}
