import { ConflictError } from '../../../core/errors.ts';
import { operatorCreated, type OidcClient } from '../../../core/oidc/client.ts';
import type { Interaction } from '../../../core/oidc/interactions.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { html, page, pageHeaders } from '../../views/html.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import type { PortalView } from '../../views/portal-view.ts';
import type { MessageKey } from '../../../core/portal/i18n/index.ts';
import type { TenantContext } from '../oidc/common.ts';
import { expired, portalInteraction } from './common.ts';
import { interactionFormAction } from './login.ts';
import type { PortalDeps } from './deps.ts';

/** The scopes described in words a user can judge (the catalogues' `scope.*` messages); others by name. */
const DESCRIBED_SCOPES = new Set(['openid', 'profile', 'email', 'phone', 'address', 'offline_access', 'card', 'admin']);

export const scopeList = (view: PortalView, scope: string) =>
  html`<ul>${scope
    .split(' ')
    .filter(Boolean)
    .map((s) => html`<li>${DESCRIBED_SCOPES.has(s) ? view.t(`scope.${s}` as MessageKey) : view.t('scope.other', { scope: s })}</li>`)}</ul>`;

/**
 * Who stands behind the application. One the tenant's operator added needs no words; a self-registered
 * (third-party) one is labelled as such, with its website, privacy policy and terms when it gave them
 * (https links to public hosts, checked at registration). Its `logo_uri` is not shown: loading a remote
 * image on this page would tell the app who is looking at its consent screen.
 */
export function clientNotice(view: PortalView, client: OidcClient | undefined) {
  if (client && operatorCreated(client)) return html``;
  const links = [
    ...(client?.client_uri ? [html`<a href="${client.client_uri}" rel="noopener noreferrer">${view.t('consent.website')}</a>`] : []),
    ...(client?.policy_uri ? [html`<a href="${client.policy_uri}" rel="noopener noreferrer">${view.t('consent.privacy')}</a>`] : []),
    ...(client?.tos_uri ? [html`<a href="${client.tos_uri}" rel="noopener noreferrer">${view.t('consent.terms')}</a>`] : []),
  ];
  const listed =
    links.length === 0
      ? undefined
      : links.length === 1
        ? links[0]!
        : html`${links.slice(0, -1).map((link, i) => (i === 0 ? link : html`, ${link}`))} ${view.t('consent.and')} ${links[links.length - 1]!}`;
  return html`<p class="third-party"><strong>${view.t('consent.thirdParty')}</strong> ${view.t('consent.thirdPartyText', { org: view.org })}</p>${
    listed ? html`<p>${view.t('consent.readIts', { links: listed })}</p>` : ''
  }`;
}

/** Consent for third-party clients: the scopes in words, approve or deny; approval is remembered. */
export function consentRoutes(deps: PortalDeps): Route[] {
  const { oidc } = deps;

  async function show(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction, view } = found;
    if (interaction.kind !== 'authorize' || !interaction.authentication) return expired(view);
    const client = await oidc.clients.find(tenant.tenant.id, interaction.request.clientId);
    if (!client) return errorPage(view, 400, 'error.appUnknown.title', 'error.appUnknown.text');
    return consentPage(view, tenant, interaction, client, interaction.request.scope);
  }

  function consentPage(view: PortalView, tenant: TenantContext, interaction: Interaction, client: OidcClient, scope: string): ApiResponse {
    const clientName = client.client_name ?? client.client_id;
    const body = html`${clientNotice(view, client)}<p>${view.t('consent.wants', { app: html`<strong>${clientName}</strong>` })}</p>${scopeList(view, scope)}
<p>${view.t('consent.signedInAs', { user: html`<strong>${interaction.authentication?.sub ?? ''}</strong>` })}</p>
<form method="post" action="${tenant.issuer}/portal/consent"><input type="hidden" name="interaction" value="${interaction.id}"><input type="hidden" name="csrf" value="${interaction.csrf}">
<button type="submit" name="decision" value="allow">${view.t('consent.allow')}</button> <button type="submit" name="decision" value="deny">${view.t('consent.deny')}</button></form>`;
    return {
      statusCode: 200,
      headers: pageHeaders(view, interactionFormAction(interaction)),
      body: page(view, view.text('consent.title', { app: clientName }), body),
    };
  }

  async function submit(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction, form, view } = found;
    if (interaction.kind !== 'authorize' || !interaction.authentication) return expired(view);
    const allow = form['decision'] === 'allow';
    if (allow) await oidc.consents.grant(tenant.tenant.id, interaction.authentication.sub, interaction.request.clientId, interaction.request.scope);
    deps.events?.emit({
      kind: allow ? 'consent-given' : 'consent-refused',
      tenant: tenant.tenant.id,
      username: interaction.authentication.sub,
      client: interaction.request.clientId,
      reason: interaction.request.scope,
      ...(request.sourceIp ? { ip: request.sourceIp } : {}),
    });
    try {
      await oidc.interactions.update(interaction, { consented: allow });
    } catch (error) {
      if (error instanceof ConflictError) return expired(view);
      throw error;
    }
    return redirect(`${tenant.issuer}/oidc/authorize/resume?interaction=${interaction.id}`);
  }

  return [
    { method: 'GET', path: '/t/:tenant/portal/consent', handle: show },
    { method: 'POST', path: '/t/:tenant/portal/consent', handle: submit },
  ];
}
