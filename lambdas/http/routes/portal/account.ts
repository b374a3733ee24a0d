import { ConflictError, NotFoundError, ValidationError } from '../../../core/errors.ts';
import { opaqueHash, sameHash } from '../../../core/oidc/hashing.ts';
import type { SsoSession } from '../../../core/oidc/sessions.ts';
import type { User } from '../../../core/directory/user.ts';
import { clearSsoSessionCookies, readCookie, setCookie, SSO_COOKIE } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { accountPage, type AccountView } from '../../views/account-page.ts';
import { accountStrings, type AccountStrings } from '../../views/account-strings.ts';
import { html, page, pageHeaders } from '../../views/html.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import { portalRequestView, type PortalView } from '../../views/portal-view.ts';
import { INTERACTION_COOKIE } from '../oidc/authorize.ts';
import { tenantContext, type TenantContext } from '../oidc/common.ts';
import { ssoReuse } from '../oidc/sso-session.ts';
import type { AccountServices, PortalDeps } from './deps.ts';
import { fromOwnOrigin } from '../../form-origin.ts';

const INTERACTION_SECONDS = 900;

/**
 * The account page's form token: a hash of the session secret under a label of its own. Only a page
 * read with the cookie can carry it; nothing is stored, and it dies with the session.
 */
const ACCOUNT_FORM_LABEL = 'cloudcard account form:';
export const accountFormToken = (sessionSecret: string): string => opaqueHash(`${ACCOUNT_FORM_LABEL}${sessionSecret}`);
const validFormToken = (sessionSecret: string, submitted: string | undefined): boolean =>
  typeof submitted === 'string' && sameHash(`${ACCOUNT_FORM_LABEL}${sessionSecret}`, submitted);

/** Only the same-site session cookie: the account page is never a target of cross-site navigations. */
const sameSiteSecret = (headers: ApiRequest['headers']): string | undefined => readCookie(headers['cookie'], SSO_COOKIE) || undefined;

/** The account page's language and brand: the browser's languages, then the tenant's default. */
const accountView = (request: ApiRequest, tenant: TenantContext): PortalView => portalRequestView(request, tenant.tenant);

/** A page of the account's own words: a title and one paragraph. */
const accountMessage = (view: PortalView, status: number, title: string, text: string): ApiResponse => ({
  statusCode: status,
  headers: pageHeaders(view),
  body: page(view, title, html`<p>${text}</p>`),
});

/** The organisation in the path does not exist: the catalogue's page, in the browser's language. */
const unknownOrganisation = (request: ApiRequest): ApiResponse => errorPage(portalRequestView(request), 404, 'error.unknownOrg.title', 'error.unknownOrg.text');

interface Signed {
  readonly tenant: TenantContext;
  readonly view: PortalView;
  readonly S: AccountStrings;
  readonly secret: string;
  readonly session: SsoSession;
  readonly user: User;
  readonly account: AccountServices;
}

/** What a form handler answers: the page again, with a notice or one-time values, or another response. */
type FormResult = Partial<Pick<AccountView, 'notice' | 'totpPending' | 'newRecoveryCodes'>> | ApiResponse;

/**
 * The end-user account page (`/portal/account`): profile, password, TOTP enrolment and recovery codes,
 * the user's cards (PIN-unblock request), devices and sessions (sign a device out, end a session), for
 * the browser's SSO session (which goes through the access check like any SSO reuse). Without a session
 * the page starts a sign-in of its own that comes back here. Every form carries the session-bound token
 * and our Origin; every submission is one audit event (actor kind `user`), refused ones included.
 */
export function accountRoutes(deps: PortalDeps): Route[] {
  const { oidc } = deps;

  async function signedIn(request: ApiRequest, tenant: TenantContext): Promise<Signed | undefined> {
    const account = deps.account;
    if (!account) return undefined;
    const reuse = await ssoReuse(deps, tenant, request, 'sso-reuse-oidc', undefined, sameSiteSecret);
    if (reuse.kind !== 'reuse') return undefined;
    const user = reuse.user ?? (await account.users.get(tenant.tenant.id, reuse.session.sub));
    const view = accountView(request, tenant);
    return { tenant, view, S: accountStrings(view), secret: reuse.secret, session: reuse.session, user, account };
  }

  async function render(
    signed: Signed,
    status = 200,
    extras: Partial<Pick<AccountView, 'notice' | 'error' | 'totpPending' | 'newRecoveryCodes'>> = {},
  ): Promise<ApiResponse> {
    const { tenant, account, user } = signed;
    const t = tenant.tenant.id;
    const [current, totp, recoveryRemaining, cards, devices, sessions] = await Promise.all([
      account.users.get(t, user.username),
      deps.totp?.status(t, user.username) ?? { enrolled: false, pending: false },
      account.recoveryCodes.remaining(t, user.username),
      account.cards(t, user.username),
      account.devices.list(t, user.username),
      account.sessions.list(t, user.username),
    ]);
    const view: AccountView = {
      issuer: tenant.issuer,
      user: current,
      csrf: accountFormToken(signed.secret),
      currentSid: signed.session.sid,
      totpEnrolled: totp.enrolled,
      totpAwaitingCode: totp.pending,
      recoveryRemaining,
      cards,
      devices,
      sessions,
      ...extras,
    };
    return { statusCode: status, headers: pageHeaders(signed.view), body: accountPage(signed.view, view) };
  }

  async function show(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
    if (!tenant) return unknownOrganisation(request);
    if (!deps.account) {
      const view = accountView(request, tenant);
      const S = accountStrings(view);
      return accountMessage(view, 503, S.unavailableTitle, S.accountUnavailable);
    }
    const signed = await signedIn(request, tenant);
    if (signed) return render(signed);
    // No (usable) session: a sign-in of the page's own, which the login pages bring back here.
    const interaction = await oidc.interactions.create(tenant.tenant.id, { kind: 'account' }, INTERACTION_SECONDS);
    const cookie = setCookie(INTERACTION_COOKIE, interaction.id, { path: `/t/${tenant.tenant.id}/`, maxAgeSeconds: INTERACTION_SECONDS });
    return redirect(`${tenant.issuer}/portal/login?interaction=${interaction.id}`, {}, [cookie]);
  }

  const signedOut = (view: PortalView, tenant: TenantContext, cookies: string[] = [], status = 401): ApiResponse => {
    const S = accountStrings(view);
    return {
      statusCode: status,
      headers: pageHeaders(view),
      ...(cookies.length ? { multiValueHeaders: { 'Set-Cookie': cookies } } : {}),
      body: page(view, S.signedOutTitle, html`<p>${S.signedOutAdvice}</p><p><a href="${tenant.issuer}/portal/account">${S.openAccount}</a></p>`),
    };
  };

  /** Checks the current password as a sign-in attempt (the same throttle and lockout); an answer when it fails. */
  async function passwordProblem(signed: Signed, request: ApiRequest, password: string | undefined): Promise<ApiResponse | undefined> {
    const result = await deps.credentials.signIn(signed.tenant.tenant.id, signed.user.username, password ?? '', request.sourceIp ?? 'unknown');
    if (result.outcome === 'ok') return undefined;
    if (result.outcome === 'locked') return render(signed, 429, { error: signed.S.locked(Math.ceil(result.retryAfterSeconds / 60)) });
    return render(signed, 401, { error: signed.S.wrongPassword });
  }

  /**
   * Every form: the session (else the signed-out page), our Origin and the session's form token (else
   * 403), the handler, and one audit event with the outcome. Bad input is the page again with the error.
   */
  const form =
    (handle: (signed: Signed, form: Record<string, string>, request: ApiRequest) => Promise<FormResult>, notFound: keyof AccountStrings = 'unknown') =>
    async (request: ApiRequest): Promise<ApiResponse> => {
      const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
      if (!tenant) return unknownOrganisation(request);
      const signed = await signedIn(request, tenant);
      if (!signed) return signedOut(accountView(request, tenant), tenant);
      const fields = (request.body as Record<string, string> | undefined) ?? {};
      const answer = async (): Promise<ApiResponse> => {
        try {
          const result = await handle(signed, fields, request);
          return 'statusCode' in result ? result : render(signed, 200, result);
        } catch (error) {
          if (error instanceof ValidationError) return render(signed, 400, { error: error.issues.length ? error.issues.join('; ') : error.message });
          if (error instanceof NotFoundError) return render(signed, 404, { error: String(signed.S[notFound]) });
          if (error instanceof ConflictError) return render(signed, 409, { error: error.message });
          throw error;
        }
      };
      let outcome = 500;
      try {
        const response =
          !fromOwnOrigin(request) || !validFormToken(signed.secret, fields['csrf'])
            ? accountMessage(signed.view, 403, signed.S.formExpiredTitle, signed.S.formExpired)
            : await answer();
        outcome = response.statusCode;
        return response;
      } finally {
        await signed.account.audit
          .record(tenant.tenant.id, {
            actor: { kind: 'user', id: signed.user.username },
            via: 'portal',
            action: `${request.method} ${(request.route ?? request.path).replace(/^\/t\/:tenant/, '')}`,
            target: { username: signed.user.username, ...(fields['card'] ? { card: fields['card'] } : {}), ...(fields['id'] ? { id: fields['id'] } : {}) },
            outcome,
            requestId: request.requestId,
          })
          .catch(() => undefined);
      }
    };

  const changePassword = form(async (signed, fields, request) => {
    const refused = await passwordProblem(signed, request, fields['current']);
    if (refused) return refused;
    await signed.account.users.setPassword(signed.tenant.tenant.id, signed.user.username, fields['new'] ?? '');
    return { notice: signed.S.passwordChanged };
  });

  const beginTotp = form(async (signed, fields, request) => {
    if (!deps.totp) return accountMessage(signed.view, 503, signed.S.unavailableTitle, signed.S.totpUnavailable);
    const refused = await passwordProblem(signed, request, fields['password']);
    if (refused) return refused;
    return { totpPending: await deps.totp.begin(signed.tenant.tenant.id, signed.user.username, signed.tenant.tenant.displayName) };
  });

  const confirmTotp = form(async (signed, fields) => {
    if (!deps.totp) return accountMessage(signed.view, 503, signed.S.unavailableTitle, signed.S.totpUnavailable);
    const { pending } = await deps.totp.status(signed.tenant.tenant.id, signed.user.username);
    if (!pending) return render(signed, 409, { error: signed.S.totpNothingPending });
    if (!(await deps.totp.confirm(signed.tenant.tenant.id, signed.user.username, fields['code'] ?? '')))
      return render(signed, 400, { error: signed.S.totpWrongCode });
    return { notice: signed.S.totpConfirmed };
  });

  const newRecoveryCodes = form(async (signed, fields, request) => {
    const refused = await passwordProblem(signed, request, fields['password']);
    if (refused) return refused;
    return { newRecoveryCodes: await signed.account.recoveryCodes.generate(signed.tenant.tenant.id, signed.user.username) };
  });

  // The request itself is the audit event (actor kind user, target the card): administrators see it in the trail.
  const requestUnblock = form(async (signed, fields) => {
    const cards = await signed.account.cards(signed.tenant.tenant.id, signed.user.username);
    if (!cards.some((card) => card.id === fields['card'])) throw new NotFoundError('no such card');
    return { notice: signed.S.unblockRequested };
  }, 'unknownCard');

  const removeDevice = form(async (signed, fields) => {
    await signed.account.devices.remove(signed.tenant.tenant.id, signed.user.username, fields['id'] ?? '');
    return { notice: signed.S.deviceSignedOut };
  }, 'unknownDevice');

  const endSession = form(async (signed, fields) => {
    await signed.account.sessions.end(signed.tenant.tenant.id, signed.user.username, fields['id'] ?? '');
    // Ending this browser's own session signs it out here too.
    if (fields['id'] === signed.session.sid) return signedOut(signed.view, signed.tenant, clearSsoSessionCookies(signed.tenant.tenant.id), 200);
    return { notice: signed.S.sessionEnded };
  }, 'unknownSession');

  const base = '/t/:tenant/portal/account';
  return [
    { method: 'GET', path: base, handle: show },
    { method: 'POST', path: `${base}/password`, handle: changePassword },
    { method: 'POST', path: `${base}/totp`, handle: beginTotp },
    { method: 'POST', path: `${base}/totp/confirm`, handle: confirmTotp },
    { method: 'POST', path: `${base}/recovery-codes`, handle: newRecoveryCodes },
    { method: 'POST', path: `${base}/cards/unblock-request`, handle: requestUnblock },
    { method: 'POST', path: `${base}/devices/remove`, handle: removeDevice },
    { method: 'POST', path: `${base}/sessions/end`, handle: endSession },
  ];
}
