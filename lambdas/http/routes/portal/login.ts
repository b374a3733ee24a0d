import { ConflictError } from '../../../core/errors.ts';
import { ACR, CERTIFICATE_ACRS, requiredAcr } from '../../../core/oidc/claims.ts';
import type { Authentication, Interaction } from '../../../core/oidc/interactions.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { formActionFor, html, page, pageHeaders } from '../../views/html.ts';
import { redirect } from '../../views/pages.ts';
import type { PortalView } from '../../views/portal-view.ts';
import type { TenantContext } from '../oidc/common.ts';
import { completeAuthentication, expired, portalInteraction } from './common.ts';
import type { PortalDeps } from './deps.ts';

/** Where this interaction's forms may end up after their redirects: us, and the client for OIDC. */
export const interactionFormAction = (interaction: Interaction): string =>
  formActionFor(interaction.kind === 'authorize' ? interaction.request.redirectUri : undefined);

const hidden = (interaction: Interaction) =>
  html`<input type="hidden" name="interaction" value="${interaction.id}"><input type="hidden" name="csrf" value="${interaction.csrf}">`;

/** The password page and the one-time-code step-up (RFC 6238) when the request asks for more. */
export function loginRoutes(deps: PortalDeps): Route[] {
  const { oidc } = deps;

  /** The way to the mutual-TLS origin, where the same interaction continues with the card's certificate. */
  const cardLink = (view: PortalView, tenant: TenantContext, interaction: Interaction) =>
    deps.certBaseUrl
      ? html`<p><a id="smartcard" href="${deps.certBaseUrl}/t/${tenant.tenant.id}/portal/cert?interaction=${interaction.id}">${view.t('login.smartcard')}</a></p>`
      : '';

  const loginPage = (view: PortalView, tenant: TenantContext, interaction: Interaction, status = 200, error?: string, username?: string): ApiResponse => {
    if (wantsCertificate(interaction)) {
      const body = deps.certBaseUrl
        ? html`<p>${view.t('login.smartcardOnly.intro', { org: view.org })}</p>${cardLink(view, tenant, interaction)}`
        : html`<p>${view.t('login.smartcardOnly.unavailable')}</p>`;
      return {
        statusCode: deps.certBaseUrl ? status : 403,
        headers: pageHeaders(view, interactionFormAction(interaction)),
        body: page(view, view.text('login.smartcardOnly.title'), body, error ? { error } : {}),
      };
    }
    const hint = username ?? (interaction.kind === 'authorize' ? interaction.request.loginHint : undefined) ?? '';
    const body = html`<p>${view.t('login.intro', { org: view.org })}</p>
<form method="post" action="${tenant.issuer}/portal/login">${hidden(interaction)}
<label for="username">${view.t('login.username')}</label><input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${hint}"${hint ? '' : html` autofocus`}${error ? html` aria-describedby="error"` : ''}>
<label for="password">${view.t('login.password')}</label><input type="password" id="password" name="password" autocomplete="current-password" required${hint ? html` autofocus` : ''}${error ? html` aria-describedby="error"` : ''}>
<button type="submit">${view.t('login.submit')}</button></form>${cardLink(view, tenant, interaction)}`;
    return {
      statusCode: status,
      headers: pageHeaders(view, interactionFormAction(interaction)),
      body: page(view, view.text('login.title'), body, error ? { error } : {}),
    };
  };

  const otpPage = (view: PortalView, tenant: TenantContext, interaction: Interaction, status = 200, error?: string): ApiResponse => {
    const body = html`<p>${view.t('otp.intro')}</p>
<form method="post" action="${tenant.issuer}/portal/otp">${hidden(interaction)}
<label for="code">${view.t('otp.code')}</label><input type="text" id="code" name="code" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" maxlength="32" required autofocus${error ? html` aria-describedby="error"` : ''}>
<button type="submit">${view.t('otp.submit')}</button></form>`;
    return {
      statusCode: status,
      headers: pageHeaders(view, interactionFormAction(interaction)),
      body: page(view, view.text('otp.title'), body, error ? { error } : {}),
    };
  };

  const authenticated = (
    request: ApiRequest,
    tenant: TenantContext,
    interaction: Interaction,
    authentication: Omit<Authentication, 'sid'>,
  ): Promise<ApiResponse> => completeAuthentication(deps, request, tenant, interaction, authentication);

  const wantsMfa = (interaction: Interaction): boolean =>
    (interaction.kind === 'authorize' && requiredAcr(interaction.request.acrValues) === ACR.mfa) ||
    (interaction.kind === 'saml' && interaction.request.secondFactor === true) ||
    // The account page changes credentials: a user with a second factor signs in with it there.
    interaction.kind === 'account';
  const now = () => Math.floor(oidc.clock.now() / 1000);

  /** Only a certificate login satisfies the request (OIDC acr_values, SAML RequestedAuthnContext): the password form is not offered. */
  function wantsCertificate(interaction: Interaction): boolean {
    if (interaction.kind === 'authorize') return CERTIFICATE_ACRS.includes(requiredAcr(interaction.request.acrValues));
    return interaction.kind === 'saml' && interaction.request.certificate === true;
  }

  async function showLogin(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    if (found.interaction.pendingSecondFactor) return redirect(`${found.tenant.issuer}/portal/otp?interaction=${found.interaction.id}`);
    return loginPage(found.view, found.tenant, found.interaction);
  }

  async function submitLogin(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction, form, view } = found;
    const username = (form['username'] ?? '').trim().toLowerCase();
    const result = await deps.credentials.signIn(tenant.tenant.id, username, form['password'] ?? '', request.sourceIp ?? 'unknown');
    if (result.outcome === 'locked') {
      return loginPage(view, tenant, interaction, 429, view.text('login.locked', { minutes: Math.ceil(result.retryAfterSeconds / 60) }), username);
    }
    if (result.outcome !== 'ok') return loginPage(view, tenant, interaction, 401, view.text('login.incorrect'), username);
    const authTime = now();
    if (wantsMfa(interaction) && deps.totp && (await deps.totp.isEnrolled(tenant.tenant.id, result.user.username))) {
      try {
        await oidc.interactions.update(interaction, { pendingSecondFactor: { sub: result.user.username, authTime } });
      } catch (error) {
        if (error instanceof ConflictError) return expired(view);
        throw error;
      }
      return redirect(`${tenant.issuer}/portal/otp?interaction=${interaction.id}`);
    }
    // acr_values is a voluntary request (OIDC Core §3.1.2.1): without an enrolled second factor the
    // login completes at the password level and the ID token's acr says so.
    return authenticated(request, tenant, interaction, { sub: result.user.username, authTime, acr: ACR.password, amr: ['pwd'] });
  }

  async function showOtp(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    if (!found.interaction.pendingSecondFactor) return redirect(`${found.tenant.issuer}/portal/login?interaction=${found.interaction.id}`);
    return otpPage(found.view, found.tenant, found.interaction);
  }

  async function submitOtp(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction, form, view } = found;
    const pending = interaction.pendingSecondFactor;
    if (!pending || !deps.totp) return expired(view);
    const result = await deps.credentials.verifyOneTimeCode(tenant.tenant.id, pending.sub, form['code'] ?? '', request.sourceIp ?? 'unknown');
    if (result.outcome === 'locked')
      return otpPage(view, tenant, interaction, 429, view.text('login.locked', { minutes: Math.ceil(result.retryAfterSeconds / 60) }));
    if (result.outcome !== 'ok') return otpPage(view, tenant, interaction, 401, view.text('otp.invalid'));
    return authenticated(request, tenant, interaction, { sub: pending.sub, authTime: pending.authTime, acr: ACR.mfa, amr: ['pwd', 'otp', 'mfa'] });
  }

  return [
    { method: 'GET', path: '/t/:tenant/portal/login', handle: showLogin },
    { method: 'POST', path: '/t/:tenant/portal/login', handle: submitLogin },
    { method: 'GET', path: '/t/:tenant/portal/otp', handle: showOtp },
    { method: 'POST', path: '/t/:tenant/portal/otp', handle: submitOtp },
  ];
}
