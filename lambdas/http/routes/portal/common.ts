import { ConflictError } from '../../../core/errors.ts';
import type { Authentication, Interaction } from '../../../core/oidc/interactions.ts';
import { accessContextOf } from '../../access-context.ts';
import { readCookie, ssoSessionCookies } from '../../cookies.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import { INTERACTION_COOKIE } from '../oidc/authorize.ts';
import { tenantContext, type TenantContext } from '../oidc/common.ts';
import type { PortalDeps } from './deps.ts';

export const expired = (): ApiResponse =>
  errorPage(400, 'Sign-in expired', 'This sign-in has expired or was started in another browser. Go back to the application and start again.');

/**
 * The interaction a portal page works on. It must be named by the URL or form, belong to this tenant,
 * and match the browser's interaction cookie (so a link cannot make someone finish another's sign-in).
 * A POST must also carry the interaction's form token and, if the browser sent one, our own Origin.
 */
export async function portalInteraction(deps: PortalDeps, request: ApiRequest): Promise<{ tenant: TenantContext; interaction: Interaction; form: Record<string, string> } | ApiResponse> {
  const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
  if (!tenant) return errorPage(404, 'Unknown organisation', 'This sign-in page names an organisation that does not exist.');
  const form = request.method === 'POST' ? ((request.body as Record<string, string> | undefined) ?? {}) : {};
  const id = (request.method === 'POST' ? form['interaction'] : request.query['interaction']) ?? '';
  const interaction = await deps.oidc.interactions.find(tenant.tenant.id, id);
  if (!interaction || readCookie(request.headers['cookie'], INTERACTION_COOKIE) !== interaction.id) return expired();
  if (request.method === 'POST') {
    const origin = request.headers['origin'];
    if ((origin && origin !== 'null' && origin !== new URL(request.baseUrl).origin) || form['csrf'] !== interaction.csrf) {
      return errorPage(403, 'Form expired', 'This form could not be accepted. Go back to the application and start again.');
    }
  }
  return { tenant, interaction, form };
}

/** Where the browser goes once the user is authenticated within the interaction. */
export function afterAuthentication(tenant: TenantContext, interaction: Interaction, cookies: string[] = []): ApiResponse {
  // The account page reads the new session from its cookie: nothing to resume.
  if (interaction.kind === 'account') return redirect(`${tenant.issuer}/portal/account`, {}, cookies);
  const next =
    interaction.kind === 'device'
      ? `${tenant.issuer}/portal/device/confirm`
      : interaction.kind === 'saml'
        ? `${tenant.issuer}/saml/sso/resume`
        : `${tenant.issuer}/oidc/authorize/resume`;
  return redirect(`${next}?interaction=${interaction.id}`, {}, cookies);
}

/**
 * Records the authentication, starts the SSO session (a new cookie: no fixation), and moves on. Every
 * way of signing in ends here (password, one-time code, certificate), so the session is the same one.
 * The interaction update clears any pending step, which makes each step single use.
 */
export async function completeAuthentication(deps: PortalDeps, request: ApiRequest, tenant: TenantContext, interaction: Interaction, authentication: Omit<Authentication, 'sid'>): Promise<ApiResponse> {
  const { oidc } = deps;
  // The sign-in's context is the session's risk baseline (issue 13).
  const context = { ...accessContextOf(request, { amr: authentication.amr }), at: oidc.clock.now() };
  // Correlated with a device when the user's card is live in a registered agent on this network, or by a certificate.
  const correlation = await deps.correlations?.atSignIn(tenant.tenant.id, authentication.sub, context);
  const { secret, session } = await oidc.sessions.start(tenant.tenant.id, authentication, tenant.tenant.sessionLifetimes.ssoSeconds, context, correlation);
  let updated: Interaction;
  try {
    updated = await oidc.interactions.update(interaction, { authentication: { ...authentication, sid: session.sid }, pendingSecondFactor: undefined, certificateTransfer: undefined });
  } catch (error) {
    if (error instanceof ConflictError) return expired();
    throw error;
  }
  // The account page's own sign-in has nothing left to resume: it ends with the session started.
  if (updated.kind === 'account') {
    await oidc.interactions.finish(updated).catch((error: unknown) => {
      if (!(error instanceof ConflictError)) throw error;
    });
  }
  return afterAuthentication(tenant, updated, ssoSessionCookies(tenant.tenant.id, secret, tenant.tenant.sessionLifetimes.ssoSeconds));
}
