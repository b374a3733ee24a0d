import { ConflictError } from '../../../core/errors.ts';
import { acrSatisfies } from '../../../core/oidc/claims.ts';
import { redirectUriAllowed, type OidcClient } from '../../../core/oidc/client.ts';
import { OAuthError } from '../../../core/oidc/errors.ts';
import type { AuthorizationRequest, Authentication, Interaction } from '../../../core/oidc/interactions.ts';
import type { SsoSession } from '../../../core/oidc/sessions.ts';
import { readCookie, setCookie, ssoSecretOf } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { errorPage, formPostPage, redirect } from '../../views/pages.ts';
import { requestView, viewOf, type PageView } from '../../views/view.ts';
import { paramsOf, tenantContext, type TenantContext } from './common.ts';
import type { OidcRouteDeps } from './deps.ts';
import { ACR } from '../../../core/oidc/claims.ts';
import { ssoReuse } from './sso-session.ts';
import { authorizationParameters, type Parameters } from './request-parameters.ts';

export { SSO_COOKIE } from '../../cookies.ts';
export const INTERACTION_COOKIE = 'cc_int';
const INTERACTION_SECONDS = 900;

/** Where an error or a code goes back to, once the client and redirect URI are trusted. */
interface ReplyTo {
  readonly redirectUri: string;
  readonly responseMode: 'query' | 'form_post';
  readonly state?: string;
  readonly issuer: string;
  /** The language and look of the form_post page. */
  readonly view: PageView;
}

/** Sends the authorization response (RFC 6749 §4.1.2, RFC 9207 `iss`) in the requested response mode. */
export function reply(to: ReplyTo, fields: Record<string, string>, nonce: string, cookies: string[] = []): ApiResponse {
  const all = { ...fields, ...(to.state !== undefined ? { state: to.state } : {}), iss: to.issuer };
  if (to.responseMode === 'form_post') {
    const response = formPostPage(to.view, to.redirectUri, all, nonce);
    return cookies.length ? { ...response, multiValueHeaders: { 'Set-Cookie': cookies } } : response;
  }
  const url = new URL(to.redirectUri);
  for (const [name, value] of Object.entries(all)) url.searchParams.set(name, value);
  return redirect(url.toString(), {}, cookies);
}

const replyError = (to: ReplyTo, error: OAuthError, nonce: string): ApiResponse => reply(to, { error: error.error, error_description: error.message }, nonce);

/**
 * The authorization endpoint (OIDC Core §3.1.2). A request whose client or redirect URI cannot be trusted
 * gets an error page; every later error goes back to the client. A request the SSO session can satisfy
 * is answered at once; any other is parked as an interaction and the browser sent to the portal.
 */
export function authorizeRoutes(deps: OidcRouteDeps): Route[] {
  const { oidc } = deps;

  async function authorize(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
    const outer = paramsOf(request);
    const view = viewOf({ acceptLanguage: request.headers['accept-language'], tenant: tenant?.tenant, uiLocales: outer['ui_locales'] });
    if (!tenant) return errorPage(view, 404, 'error.unknownOrg.title', 'error.unknownOrg.text');
    const repeated = request.method === 'GET' ? request.repeatedQuery : [];
    if (repeated.includes('client_id') || repeated.includes('redirect_uri')) {
      return errorPage(view, 400, 'error.request.title', 'error.request.repeated');
    }
    const client = outer['client_id'] ? await oidc.clients.find(tenant.tenant.id, outer['client_id']) : undefined;
    if (!client) return errorPage(view, 400, 'error.request.title', 'error.request.unknownClient');
    let params: Parameters;
    try {
      params = await authorizationParameters(deps, tenant, client, outer);
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      // Unverified parameters name no trusted return address: only an outer, registered one gets the error.
      const back = outer['redirect_uri'];
      if (back && redirectUriAllowed(client.redirect_uris, back))
        return replyError(
          { redirectUri: back, responseMode: 'query', ...(outer['state'] !== undefined ? { state: outer['state'] } : {}), issuer: tenant.issuer, view },
          error,
          oidc.random.id(),
        );
      return errorPage(view, 400, 'error.request.title', 'error.request.unusable', { reason: error.error });
    }
    const redirectUri = params['redirect_uri'];
    if (!redirectUri || !redirectUriAllowed(client.redirect_uris, redirectUri)) {
      return errorPage(view, 400, 'error.request.title', 'error.request.redirectUri');
    }
    const responseMode = params['response_mode'] === 'form_post' ? 'form_post' : 'query';
    const to: ReplyTo = {
      redirectUri,
      responseMode,
      ...(params['state'] !== undefined ? { state: params['state'] } : {}),
      issuer: tenant.issuer,
      view: viewOf({ acceptLanguage: request.headers['accept-language'], tenant: tenant.tenant, uiLocales: params['ui_locales'] }),
    };
    const nonce = oidc.random.id();
    let parsed: AuthorizationRequest;
    try {
      if (repeated.length) throw new OAuthError('invalid_request', `parameters must not be repeated: ${repeated.join(', ')}`);
      parsed = validate(params, client, redirectUri, responseMode);
    } catch (error) {
      if (error instanceof OAuthError) return replyError(to, error, nonce);
      throw error;
    }

    // OIDC Core §3.1.2.1: the hint names who the client expects; a hint this OP did not sign is refused.
    const hinted = params['id_token_hint'] === undefined ? undefined : await hintedSubject(tenant, params['id_token_hint']);
    if (hinted === null) return replyError(to, new OAuthError('invalid_request', 'id_token_hint is not an ID token issued by this provider'), nonce);
    if (hinted !== undefined) parsed = { ...parsed, idTokenHintSub: hinted };

    const reuse = await ssoReuse(deps, tenant, request, 'sso-reuse-oidc', client.client_id);
    const reusable = reuse.kind === 'reuse' ? reuse : undefined;
    // Risk asks for a stronger sign-in (issue 13): a fresh login of the same user at the one-time-code level.
    if (reuse.kind === 'step-up') parsed = { ...parsed, acrValues: [ACR.mfa], loginHint: reuse.sub };
    const secret = reusable?.secret;
    const session = reusable?.session;
    const needsLogin = !session || !sessionSatisfies(session, parsed, nowSeconds());
    const needsConsent =
      parsed.prompt.includes('consent') ||
      (!client.first_party && !(session && (await oidc.consents.covers(tenant.tenant.id, session.sub, client.client_id, parsed.scope))));

    if (parsed.prompt.includes('none')) {
      if (needsLogin) return replyError(to, new OAuthError('login_required', 'the user is not signed in (or not at the requested level)'), nonce);
      if (needsConsent) return replyError(to, new OAuthError('consent_required', 'the user has not consented to this client'), nonce);
    }
    if (!needsLogin && !needsConsent && session && secret) {
      return complete(
        tenant,
        client,
        parsed,
        to,
        { sub: session.sub, authTime: session.authTime, acr: session.acr, amr: session.amr, sid: session.sid },
        secret,
        session,
        nonce,
      );
    }
    const interaction = await oidc.interactions.create(tenant.tenant.id, { kind: 'authorize', request: parsed }, INTERACTION_SECONDS);
    const started =
      needsLogin || !session
        ? interaction
        : await oidc.interactions.update(interaction, {
            authentication: { sub: session.sub, authTime: session.authTime, acr: session.acr, amr: session.amr, sid: session.sid },
          });
    const step = needsLogin ? 'login' : 'consent';
    return redirect(`${tenant.issuer}/portal/${step}?interaction=${started.id}`, {}, [
      setCookie(INTERACTION_COOKIE, started.id, { path: `/t/${tenant.tenant.id}/`, maxAgeSeconds: INTERACTION_SECONDS }),
    ]);
  }

  /** The portal sends the browser here once the user has signed in (and consented) within the interaction. */
  async function resume(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
    if (!tenant) return errorPage(requestView(request), 404, 'error.unknownOrg.title', 'error.unknownOrg.text');
    const id = request.query['interaction'] ?? '';
    const interaction = await oidc.interactions.find(tenant.tenant.id, id);
    const view = requestView(request, tenant.tenant, interaction);
    // The interaction cookie binds the flow to the browser that started it (no fixation by a link).
    if (!interaction || interaction.kind !== 'authorize' || readCookie(request.headers['cookie'], INTERACTION_COOKIE) !== interaction.id) {
      return errorPage(view, 400, 'error.expired.title', 'error.expired.text');
    }
    const parsed = interaction.request;
    const client = await oidc.clients.find(tenant.tenant.id, parsed.clientId);
    if (!client || !redirectUriAllowed(client.redirect_uris, parsed.redirectUri)) return errorPage(view, 400, 'error.request.title', 'error.appUnknown.text');
    const to: ReplyTo = {
      redirectUri: parsed.redirectUri,
      responseMode: parsed.responseMode,
      ...(parsed.state !== undefined ? { state: parsed.state } : {}),
      issuer: tenant.issuer,
      view,
    };
    const nonce = oidc.random.id();
    const authentication = interaction.authentication;
    if (!authentication) return errorPage(view, 400, 'error.notFinished.title', 'error.notFinished.text');
    // The hint names another user than the one who just signed in: no code for the wrong account.
    if (parsed.idTokenHintSub !== undefined && parsed.idTokenHintSub !== authentication.sub) {
      await finishQuietly(interaction);
      return reply(to, { error: 'login_required', error_description: 'the signed-in user is not the one id_token_hint names' }, nonce, [
        setCookie(INTERACTION_COOKIE, '', { path: `/t/${tenant.tenant.id}/`, maxAgeSeconds: 0 }),
      ]);
    }
    const consentNeeded =
      parsed.prompt.includes('consent') ||
      (!client.first_party && !(await oidc.consents.covers(tenant.tenant.id, authentication.sub, client.client_id, parsed.scope)));
    if (consentNeeded && interaction.consented === undefined) return redirect(`${tenant.issuer}/portal/consent?interaction=${interaction.id}`);
    try {
      await oidc.interactions.finish(interaction);
    } catch (error) {
      if (error instanceof ConflictError) return errorPage(view, 400, 'error.completed.title', 'error.completed.text');
      throw error;
    }
    const clearInteraction = setCookie(INTERACTION_COOKIE, '', { path: `/t/${tenant.tenant.id}/`, maxAgeSeconds: 0 });
    if (interaction.consented === false) {
      return reply(to, { error: 'access_denied', error_description: 'the user denied the request' }, nonce, [clearInteraction]);
    }
    const secret = ssoSecretOf(request.headers);
    const session = await oidc.sessions.find(tenant.tenant.id, secret);
    return complete(tenant, client, parsed, to, authentication, secret, session, nonce, [clearInteraction]);
  }

  async function complete(
    tenant: TenantContext,
    client: OidcClient,
    parsed: AuthorizationRequest,
    to: ReplyTo,
    authentication: Authentication,
    secret: string | undefined,
    session: SsoSession | undefined,
    nonce: string,
    cookies: string[] = [],
  ): Promise<ApiResponse> {
    const code = await oidc.codes.issue(
      {
        tenant: tenant.tenant.id,
        clientId: client.client_id,
        redirectUri: parsed.redirectUri,
        scope: parsed.scope,
        sub: authentication.sub,
        gid: oidc.random.id(),
        sid: authentication.sid ?? '',
        authTime: authentication.authTime,
        acr: authentication.acr,
        amr: authentication.amr,
        ...(parsed.nonce ? { nonce: parsed.nonce } : {}),
        ...(parsed.codeChallenge ? { codeChallenge: parsed.codeChallenge } : {}),
        ...(parsed.dpopJkt ? { dpopJkt: parsed.dpopJkt } : {}),
        ...(session?.correlation ? { correlation: session.correlation } : {}),
      },
      tenant.settings.codeSeconds,
    );
    if (secret && session) await oidc.sessions.addClient(secret, session, client.client_id);
    return reply(to, { code }, nonce, cookies);
  }

  const nowSeconds = (): number => Math.floor(oidc.clock.now() / 1000);

  /**
   * The subject of an `id_token_hint`: an ID token signed by one of this tenant's published keys (current,
   * next, or retired within its overlap), for any audience, expired or not. `null` when it is not one.
   */
  async function hintedSubject(tenant: TenantContext, hint: string): Promise<string | null> {
    const claims = await oidc.tokens.verifyIdTokenHint(tenant.tenant.id, tenant.issuer, tenant.settings, hint).catch(() => undefined);
    return typeof claims?.sub === 'string' ? claims.sub : null;
  }

  /** Ends an interaction that is answered with an error; one finished by a racing request is just as ended. */
  async function finishQuietly(interaction: Interaction): Promise<void> {
    await oidc.interactions.finish(interaction).catch((error: unknown) => {
      if (!(error instanceof ConflictError)) throw error;
    });
  }

  return [
    { method: 'GET', path: '/t/:tenant/oidc/authorize', handle: authorize },
    { method: 'POST', path: '/t/:tenant/oidc/authorize', handle: authorize },
    { method: 'GET', path: '/t/:tenant/oidc/authorize/resume', handle: resume },
  ];
}

/**
 * Whether an existing session may answer the request without signing in again. `max_age=0` asks for a
 * sign-in made for this very request (OIDC Core §3.1.2.1: like prompt=login), so it is never satisfied by
 * a session, even one started in the same second; otherwise the session may be `max_age` seconds old.
 */
export function sessionSatisfies(session: Pick<SsoSession, 'sub' | 'authTime' | 'acr'>, request: AuthorizationRequest, now: number): boolean {
  if (request.prompt.includes('login') || request.maxAge === 0) return false;
  if (request.maxAge !== undefined && now - session.authTime > request.maxAge) return false;
  if (request.loginHint && request.loginHint.toLowerCase() !== session.sub) return false;
  if (request.idTokenHintSub !== undefined && request.idTokenHintSub !== session.sub) return false;
  return acrSatisfies(session.acr, request.acrValues);
}

/** Validates everything after client and redirect URI; failures travel back to the client (or, at PAR, to the pushing client). */
export function validate(
  params: Record<string, string | undefined>,
  client: OidcClient,
  redirectUri: string,
  responseMode: 'query' | 'form_post',
): AuthorizationRequest {
  if (params['response_mode'] !== undefined && !['query', 'form_post'].includes(params['response_mode']))
    throw new OAuthError('invalid_request', 'response_mode must be query or form_post');
  if (params['response_type'] !== 'code') throw new OAuthError('unsupported_response_type', 'only response_type=code is supported');
  if (!client.grant_types.includes('authorization_code')) throw new OAuthError('unauthorized_client', 'this client may not use the authorization code flow');
  const scopes = (params['scope'] ?? '').split(' ').filter(Boolean);
  if (scopes.length === 0) throw new OAuthError('invalid_scope', 'scope is required');
  const allowed = client.scope.split(' ');
  const unknown = scopes.filter((s) => !allowed.includes(s));
  if (unknown.length) throw new OAuthError('invalid_scope', `scope not allowed for this client: ${unknown.join(' ')}`);
  const challenge = params['code_challenge'];
  const method = params['code_challenge_method'];
  if (challenge !== undefined) {
    if ((method ?? 'plain') !== 'S256') throw new OAuthError('invalid_request', 'code_challenge_method must be S256');
    if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) throw new OAuthError('invalid_request', 'code_challenge must be a base64url SHA-256 value');
  } else if (method !== undefined) {
    throw new OAuthError('invalid_request', 'code_challenge_method without code_challenge');
  } else if (client.token_endpoint_auth_method === 'none') {
    throw new OAuthError('invalid_request', 'PKCE (code_challenge with S256) is required for public clients');
  }
  const prompt = (params['prompt'] ?? '').split(' ').filter(Boolean);
  if (prompt.some((p) => !['none', 'login', 'consent', 'select_account'].includes(p))) throw new OAuthError('invalid_request', 'unsupported prompt value');
  if (prompt.includes('none') && prompt.length > 1) throw new OAuthError('invalid_request', 'prompt=none cannot be combined with other values');
  let maxAge: number | undefined;
  if (params['max_age'] !== undefined) {
    if (!/^\d{1,9}$/.test(params['max_age'])) throw new OAuthError('invalid_request', 'max_age must be a non-negative integer');
    maxAge = Number(params['max_age']);
  }
  const dpopJkt = params['dpop_jkt'];
  if (dpopJkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(dpopJkt)) throw new OAuthError('invalid_request', 'dpop_jkt must be a JWK SHA-256 thumbprint');
  for (const [name, value] of Object.entries(params)) {
    if (typeof value === 'string' && value.length > 2048) throw new OAuthError('invalid_request', `${name} is too long`);
  }
  return {
    clientId: client.client_id,
    redirectUri,
    scope: [...new Set(scopes)].join(' '),
    ...(params['state'] !== undefined ? { state: params['state'] } : {}),
    ...(params['nonce'] !== undefined ? { nonce: params['nonce'] } : {}),
    ...(challenge ? { codeChallenge: challenge } : {}),
    responseMode,
    prompt: prompt.filter((p): p is 'none' | 'login' | 'consent' => p !== 'select_account'),
    ...(maxAge !== undefined ? { maxAge } : {}),
    acrValues: (params['acr_values'] ?? '').split(' ').filter(Boolean),
    ...(params['login_hint'] ? { loginHint: params['login_hint'] } : {}),
    ...(params['ui_locales'] ? { uiLocales: params['ui_locales'] } : {}),
    ...(dpopJkt ? { dpopJkt } : {}),
  };
}
