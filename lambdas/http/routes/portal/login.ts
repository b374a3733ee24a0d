import { ConflictError } from '../../../core/errors.ts';
import { ACR, CERTIFICATE_ACRS, requiredAcr } from '../../../core/oidc/claims.ts';
import type { Authentication, Interaction } from '../../../core/oidc/interactions.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { formActionFor, html, page, pageHeaders } from '../../views/html.ts';
import { redirect } from '../../views/pages.ts';
import type { TenantContext } from '../oidc/common.ts';
import { completeAuthentication, expired, portalInteraction } from './common.ts';
import type { PortalDeps } from './deps.ts';

/** Where this interaction's forms may end up after their redirects: us, and the client for OIDC. */
export const interactionFormAction = (interaction: Interaction): string => formActionFor(interaction.kind === 'authorize' ? interaction.request.redirectUri : undefined);

const hidden = (interaction: Interaction) => html`<input type="hidden" name="interaction" value="${interaction.id}"><input type="hidden" name="csrf" value="${interaction.csrf}">`;

/** The password page and the one-time-code step-up (RFC 6238) when the request asks for more. */
export function loginRoutes(deps: PortalDeps): Route[] {
  const { oidc } = deps;

  /** The way to the mutual-TLS origin, where the same interaction continues with the card's certificate. */
  const cardLink = (tenant: TenantContext, interaction: Interaction) =>
    deps.certBaseUrl ? html`<p><a id="smartcard" href="${deps.certBaseUrl}/t/${tenant.tenant.id}/portal/cert?interaction=${interaction.id}">Sign in with your smart card</a></p>` : '';

  const loginPage = (tenant: TenantContext, interaction: Interaction, status = 200, error?: string, username?: string): ApiResponse => {
    if (wantsCertificate(interaction)) {
      const body = deps.certBaseUrl
        ? html`<p>${tenant.tenant.displayName} asks you to sign in with your smart card for this application.</p>${cardLink(tenant, interaction)}`
        : html`<p>This application asks for a smart-card sign-in, which this service does not offer.</p>`;
      return { statusCode: deps.certBaseUrl ? status : 403, headers: pageHeaders(interactionFormAction(interaction)), body: page('Sign in with your smart card', body, error ? { error } : {}) };
    }
    const hint = username ?? (interaction.kind === 'authorize' ? interaction.request.loginHint : undefined) ?? '';
    const body = html`<p>Sign in to ${tenant.tenant.displayName}.</p>
<form method="post" action="${tenant.issuer}/portal/login">${hidden(interaction)}
<label for="username">Username</label><input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${hint}"${hint ? '' : html` autofocus`}${error ? html` aria-describedby="error"` : ''}>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required${hint ? html` autofocus` : ''}${error ? html` aria-describedby="error"` : ''}>
<button type="submit">Sign in</button></form>${cardLink(tenant, interaction)}`;
    return { statusCode: status, headers: pageHeaders(interactionFormAction(interaction)), body: page('Sign in', body, error ? { error } : {}) };
  };

  const otpPage = (tenant: TenantContext, interaction: Interaction, status = 200, error?: string): ApiResponse => {
    const body = html`<p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
<form method="post" action="${tenant.issuer}/portal/otp">${hidden(interaction)}
<label for="code">One-time code</label><input type="text" id="code" name="code" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" maxlength="32" required autofocus${error ? html` aria-describedby="error"` : ''}>
<button type="submit">Verify</button></form>`;
    return { statusCode: status, headers: pageHeaders(interactionFormAction(interaction)), body: page('Two-step verification', body, error ? { error } : {}) };
  };

  const authenticated = (request: ApiRequest, tenant: TenantContext, interaction: Interaction, authentication: Omit<Authentication, 'sid'>): Promise<ApiResponse> =>
    completeAuthentication(deps, request, tenant, interaction, authentication);

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
    return loginPage(found.tenant, found.interaction);
  }

  async function submitLogin(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction, form } = found;
    const username = (form['username'] ?? '').trim().toLowerCase();
    const result = await deps.credentials.signIn(tenant.tenant.id, username, form['password'] ?? '', request.sourceIp ?? 'unknown');
    if (result.outcome === 'locked') {
      return loginPage(tenant, interaction, 429, `Too many failed attempts. Try again in ${Math.ceil(result.retryAfterSeconds / 60)} minutes.`, username);
    }
    if (result.outcome !== 'ok') return loginPage(tenant, interaction, 401, 'The username or password is incorrect.', username);
    const authTime = now();
    if (wantsMfa(interaction) && deps.totp && (await deps.totp.isEnrolled(tenant.tenant.id, result.user.username))) {
      try {
        await oidc.interactions.update(interaction, { pendingSecondFactor: { sub: result.user.username, authTime } });
      } catch (error) {
        if (error instanceof ConflictError) return expired();
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
    return otpPage(found.tenant, found.interaction);
  }

  async function submitOtp(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction, form } = found;
    const pending = interaction.pendingSecondFactor;
    if (!pending || !deps.totp) return expired();
    const result = await deps.credentials.verifyOneTimeCode(tenant.tenant.id, pending.sub, form['code'] ?? '', request.sourceIp ?? 'unknown');
    if (result.outcome === 'locked') return otpPage(tenant, interaction, 429, `Too many failed attempts. Try again in ${Math.ceil(result.retryAfterSeconds / 60)} minutes.`);
    if (result.outcome !== 'ok') return otpPage(tenant, interaction, 401, 'That code is not valid. Codes change every 30 seconds; each can be used once.');
    return authenticated(request, tenant, interaction, { sub: pending.sub, authTime: pending.authTime, acr: ACR.mfa, amr: ['pwd', 'otp', 'mfa'] });
  }

  return [
    { method: 'GET', path: '/t/:tenant/portal/login', handle: showLogin },
    { method: 'POST', path: '/t/:tenant/portal/login', handle: submitLogin },
    { method: 'GET', path: '/t/:tenant/portal/otp', handle: showOtp },
    { method: 'POST', path: '/t/:tenant/portal/otp', handle: submitOtp },
  ];
}
