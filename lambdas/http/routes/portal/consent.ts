import { ConflictError } from '../../../core/errors.ts';
import { operatorCreated, type OidcClient } from '../../../core/oidc/client.ts';
import type { Interaction } from '../../../core/oidc/interactions.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { html, page, pageHeaders } from '../../views/html.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import type { TenantContext } from '../oidc/common.ts';
import { expired, portalInteraction } from './common.ts';
import { interactionFormAction } from './login.ts';
import type { PortalDeps } from './deps.ts';

/** What each scope lets an application do, in words a user can judge. */
export const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name and username',
  email: 'See your e-mail address',
  phone: 'See your phone number',
  address: 'See your postal address',
  offline_access: 'Keep this access while you are not using it, until you sign out or it expires',
  card: 'Use your smart cards: see them, and use their keys to sign in, sign and decrypt as you',
  admin: "Manage this organisation: its settings, users, applications and cards",
};

export const scopeList = (scope: string) => html`<ul>${scope.split(' ').filter(Boolean).map((s) => html`<li>${SCOPE_DESCRIPTIONS[s] ?? `Access named "${s}"`}</li>`)}</ul>`;

/**
 * Who stands behind the application. One the tenant's operator added needs no words; a self-registered
 * (third-party) one is labelled as such, with its website, privacy policy and terms when it gave them
 * (https links to public hosts, checked at registration). Its `logo_uri` is not shown: loading a remote
 * image on this page would tell the app who is looking at its consent screen.
 */
export function clientNotice(tenant: TenantContext, client: OidcClient | undefined) {
  if (client && operatorCreated(client)) return html``;
  const links = [
    ...(client?.client_uri ? [html`<a href="${client.client_uri}" rel="noopener noreferrer">website</a>`] : []),
    ...(client?.policy_uri ? [html`<a href="${client.policy_uri}" rel="noopener noreferrer">privacy policy</a>`] : []),
    ...(client?.tos_uri ? [html`<a href="${client.tos_uri}" rel="noopener noreferrer">terms of service</a>`] : []),
  ];
  const listed = links.length === 0 ? undefined : links.length === 1 ? links[0]! : html`${links.slice(0, -1).map((link, i) => (i === 0 ? link : html`, ${link}`))} and ${links[links.length - 1]!}`;
  return html`<p class="third-party"><strong>Third-party application.</strong> This app was registered by its developer, not by ${tenant.tenant.displayName}. Allow it only if you trust it.</p>${
    listed ? html`<p>Read its ${listed}.</p>` : ''
  }`;
}

/** Consent for third-party clients: the scopes in words, approve or deny; approval is remembered. */
export function consentRoutes(deps: PortalDeps): Route[] {
  const { oidc } = deps;

  async function show(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction } = found;
    if (interaction.kind !== 'authorize' || !interaction.authentication) return expired();
    const client = await oidc.clients.find(tenant.tenant.id, interaction.request.clientId);
    if (!client) return errorPage(400, 'Application unknown', 'The application is no longer registered.');
    return consentPage(tenant, interaction, client, interaction.request.scope);
  }

  function consentPage(tenant: TenantContext, interaction: Interaction, client: OidcClient, scope: string): ApiResponse {
    const clientName = client.client_name ?? client.client_id;
    const body = html`${clientNotice(tenant, client)}<p><strong>${clientName}</strong> wants to:</p>${scopeList(scope)}
<p>You are signed in as <strong>${interaction.authentication?.sub ?? ''}</strong>.</p>
<form method="post" action="${tenant.issuer}/portal/consent"><input type="hidden" name="interaction" value="${interaction.id}"><input type="hidden" name="csrf" value="${interaction.csrf}">
<button type="submit" name="decision" value="allow">Allow</button> <button type="submit" name="decision" value="deny">Deny</button></form>`;
    return { statusCode: 200, headers: pageHeaders(interactionFormAction(interaction)), body: page(`Allow ${clientName}?`, body) };
  }

  async function submit(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction, form } = found;
    if (interaction.kind !== 'authorize' || !interaction.authentication) return expired();
    const allow = form['decision'] === 'allow';
    if (allow) await oidc.consents.grant(tenant.tenant.id, interaction.authentication.sub, interaction.request.clientId, interaction.request.scope);
    try {
      await oidc.interactions.update(interaction, { consented: allow });
    } catch (error) {
      if (error instanceof ConflictError) return expired();
      throw error;
    }
    return redirect(`${tenant.issuer}/oidc/authorize/resume?interaction=${interaction.id}`);
  }

  return [
    { method: 'GET', path: '/t/:tenant/portal/consent', handle: show },
    { method: 'POST', path: '/t/:tenant/portal/consent', handle: submit },
  ];
}
