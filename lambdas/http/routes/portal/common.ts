import { ConflictError } from '../../../core/errors.ts';
import type { Authentication, Interaction } from '../../../core/oidc/interactions.ts';
import { accessContextOf } from '../../access-context.ts';
import { readCookie, ssoSessionCookies } from '../../cookies.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import { portalRequestView, type PortalView } from '../../views/portal-view.ts';
import type { AppIdentity } from '../../views/view.ts';
import { operatorCreated } from '../../../core/oidc/client.ts';
import { INTERACTION_COOKIE } from '../oidc/authorize.ts';
import { tenantContext, type TenantContext } from '../oidc/common.ts';
import type { PortalDeps } from './deps.ts';
import { fromOwnOrigin } from '../../form-origin.ts';

export const expired = (view: PortalView): ApiResponse => errorPage(view, 400, 'error.expired.title', 'error.expired.text');

/**
 * The application a sign-in is for, as the login page shows it: an operator-created client's name and
 * https logo, or a SAML SP's display name from its metadata. A self-registered client is not named here
 * (its name is its own claim; the consent page labels it as third-party).
 */
async function appOf(deps: PortalDeps, tenant: string, interaction: Interaction): Promise<AppIdentity | undefined> {
  if (interaction.kind === 'saml') return interaction.request.spName ? { name: interaction.request.spName } : undefined;
  if (interaction.kind === 'account') return undefined; // the user's own page, no application
  const client = await deps.oidc.clients.find(tenant, interaction.kind === 'authorize' ? interaction.request.clientId : interaction.clientId);
  if (!client || !operatorCreated(client)) return undefined;
  const logo = client.logo_uri?.startsWith('https://') ? client.logo_uri : undefined;
  return { name: client.client_name ?? client.client_id, ...(logo ? { logoUri: logo } : {}) };
}

/** The view of a portal page within an interaction: its language (ui_locales first), the brand, the application. */
export const interactionView = async (deps: PortalDeps, request: ApiRequest, tenant: TenantContext, interaction: Interaction): Promise<PortalView> =>
  portalRequestView(request, tenant.tenant, interaction, await appOf(deps, tenant.tenant.id, interaction));

/**
 * The interaction a portal page works on. It must be named by the URL or form, belong to this tenant,
 * and match the browser's interaction cookie (so a link cannot make someone finish another's sign-in).
 * A POST must also carry the interaction's form token and, if the browser sent one, our own Origin.
 */
export async function portalInteraction(
  deps: PortalDeps,
  request: ApiRequest,
): Promise<{ tenant: TenantContext; interaction: Interaction; form: Record<string, string>; view: PortalView } | ApiResponse> {
  const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
  if (!tenant) return errorPage(portalRequestView(request), 404, 'error.unknownOrg.title', 'error.unknownOrg.text');
  const form = request.method === 'POST' ? ((request.body as Record<string, string> | undefined) ?? {}) : {};
  const id = (request.method === 'POST' ? form['interaction'] : request.query['interaction']) ?? '';
  const interaction = await deps.oidc.interactions.find(tenant.tenant.id, id);
  if (!interaction || readCookie(request.headers['cookie'], INTERACTION_COOKIE) !== interaction.id) return expired(portalRequestView(request, tenant.tenant));
  const view = await interactionView(deps, request, tenant, interaction);
  if (request.method === 'POST') {
    if (!fromOwnOrigin(request) || form['csrf'] !== interaction.csrf) {
      return errorPage(view, 403, 'error.formExpired.title', 'error.formExpired.text');
    }
  }
  return { tenant, interaction, form, view };
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
export async function completeAuthentication(
  deps: PortalDeps,
  request: ApiRequest,
  tenant: TenantContext,
  interaction: Interaction,
  authentication: Omit<Authentication, 'sid'>,
): Promise<ApiResponse> {
  const { oidc } = deps;
  // The sign-in's context is the session's risk baseline (issue 13).
  const context = { ...accessContextOf(request, { amr: authentication.amr }), at: oidc.clock.now() };
  // Correlated with a device when the user's card is live in a registered agent on this network, or by a certificate.
  const correlation = await deps.correlations?.atSignIn(tenant.tenant.id, authentication.sub, context);
  const { secret, session } = await oidc.sessions.start(tenant.tenant.id, authentication, tenant.tenant.sessionLifetimes.ssoSeconds, context, correlation);
  let updated: Interaction;
  try {
    updated = await oidc.interactions.update(interaction, {
      authentication: { ...authentication, sid: session.sid },
      pendingSecondFactor: undefined,
      certificateTransfer: undefined,
    });
  } catch (error) {
    if (error instanceof ConflictError) return expired(portalRequestView(request, tenant.tenant, interaction));
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
