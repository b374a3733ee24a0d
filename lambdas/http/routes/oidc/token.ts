import { decodeJwt } from 'jose';
import type { AccessContext, Continuation, PrefetchedReads } from '../../../core/access/access-check.ts';
import type { SessionCorrelation } from '../../../core/risk/correlation.ts';
import { ConflictError } from '../../../core/errors.ts';
import { scopeStillAllowed, tenantGrantTypes, type OidcClient } from '../../../core/oidc/client.ts';
import { ACR } from '../../../core/oidc/claims.ts';
import type { DpopProof } from '../../../core/oidc/dpop.ts';
import {
  invalidDpopProof,
  invalidGrant,
  invalidRequest,
  invalidScope,
  invalidTarget,
  OAuthError,
  stepUpRequired,
  unauthorizedClient,
} from '../../../core/oidc/errors.ts';
import { targetResource } from '../../../core/oidc/resources.ts';
import { s256 } from '../../../core/oidc/hashing.ts';
import type { IssuedTokens } from '../../../core/oidc/tokens.ts';
import { refreshTokenSubject } from '../../../core/oidc/refresh-tokens.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest } from '../../types.ts';
import {
  accessContext,
  authenticateRequestClient,
  endpointUrl,
  formOf,
  oauthEndpoint,
  oauthJson,
  tenantContext,
  type TenantContext,
  oauthMalformedBody,
} from './common.ts';
import { clientCors } from './cors.ts';
import type { OidcRouteDeps } from './deps.ts';

interface GrantContext {
  readonly request: ApiRequest;
  readonly tenant: TenantContext;
  readonly client: OidcClient;
  readonly form: Record<string, string>;
  readonly proof?: DpopProof;
}

/**
 * The token endpoint (RFC 6749 §3.2): client authentication, DPoP proof (RFC 9449, server nonce
 * required), then one of five grants. Every single-use rule is one guarded write in the core models.
 */
export function tokenRoutes(deps: OidcRouteDeps): Route[] {
  const { oidc } = deps;

  const grants: Record<string, (g: GrantContext) => Promise<IssuedTokens & { refresh_token?: string }>> = {
    authorization_code: async ({ request, tenant, client, form, proof }) => {
      const code = required(form, 'code');
      // The request is checked against the code before the code is consumed: a wrong one burns nothing.
      const presented = await oidc.codes.presented(code, { tenant: tenant.tenant.id, clientId: client.client_id }, (grant) => {
        if (form['redirect_uri'] !== grant.redirectUri) throw invalidGrant('redirect_uri does not match the authorization request');
        const verifier = form['code_verifier'];
        if (grant.codeChallenge) {
          if (!verifier) throw invalidGrant('code_verifier is required');
          if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) throw invalidGrant('code_verifier is malformed');
          if (s256(verifier) !== grant.codeChallenge) throw invalidGrant('PKCE verification failed');
        } else if (verifier) {
          throw invalidGrant('code_verifier given but the authorization request had no code_challenge');
        }
        if (grant.dpopJkt && proof?.jkt !== grant.dpopJkt) throw invalidGrant('the DPoP key differs from the one the code is bound to');
      });
      if (presented.outcome === 'unknown') throw invalidGrant('the authorization code is invalid or expired');
      if (presented.outcome === 'foreign') throw invalidGrant('the authorization code was issued to another client');
      const grant = presented.grant;
      await continueOrRefuse(request, proof, {
        kind: 'code',
        tenant: grant.tenant,
        subject: { user: grant.sub },
        audience: client.client_id,
        grantedAt: grant.authTime,
        grantId: grant.gid,
        sessionId: grant.sid,
      });
      const authentication = { authTime: grant.authTime, acr: grant.acr, amr: grant.amr, sid: grant.sid };
      try {
        // Single use: creating the code's grant is the one guarded write (absent) the code allows.
        return await startGrant(
          { tenant, client, proof },
          { gid: grant.gid, sub: grant.sub, scope: grant.scope },
          authentication,
          grant.nonce,
          issueContext(request, client, proof, grant.amr),
          grant.correlation,
        );
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
      // RFC 6749 §4.1.2: a code used twice revokes everything issued from it.
      await oidc.grants.revoke(grant.gid);
      throw invalidGrant('the authorization code was already used; the tokens issued with it are revoked');
    },

    refresh_token: async ({ request, tenant, client, form, proof }) => {
      const token = required(form, 'refresh_token');
      // RFC 8707: checked before the family rotates, so a bad target spends nothing.
      const resource = targetResource(form['resource'], client);
      // The token names its user: the access check's reads (tenant, user, sign-in failures, all fresh) run
      // beside the rotation, and count only if the rotated family is that user's (else read again after).
      const named = refreshTokenSubject(token);
      const deviceKey = proof && client.dpop_bound_access_tokens ? proof.jkt : undefined;
      const prefetched = named === undefined ? undefined : deps.access.prefetch(tenant.tenant.id, { user: named }, 'refresh', deviceKey);
      // A narrower scope is checked against the family before it rotates (its scope never changes), so an
      // invalid_scope spends nothing (RFC 6749 §5.2): one extra read, only when the request names a scope.
      if (form['scope'] !== undefined) {
        const family = await oidc.refreshTokens.find(token);
        if (family?.status === 'active' && family.clientId === client.client_id && family.tenant === tenant.tenant.id) {
          narrowedScope(form['scope'], scopeStillAllowed(client, family.scope));
        }
      }
      // One conditional update rotates the family; client, tenant and DPoP key are part of its guard, so
      // only the rightful holder's reuse is reuse and nothing changes for anyone else.
      const rotation = await oidc.refreshTokens.rotate(token, {
        tenant: tenant.tenant.id,
        clientId: client.client_id,
        publicClient: client.token_endpoint_auth_method === 'none',
        ...(proof ? { jkt: proof.jkt } : {}),
      });
      if (rotation.outcome === 'unknown') throw invalidGrant('the refresh token is invalid or expired');
      if (rotation.outcome === 'foreign') throw invalidGrant('the refresh token was issued to another client');
      if (rotation.outcome === 'revoked') throw invalidGrant('the grant behind this refresh token was revoked');
      const rt = rotation.grant;
      const refreshOf = {
        kind: 'refresh',
        tenant: rt.tenant,
        subject: { user: rt.sub },
        audience: client.client_id,
        grantedAt: rt.authTime,
        grantId: rt.gid,
        sessionId: rt.sid,
        record: { kind: 'grant', gid: rt.gid },
        ...(rt.jkt ? { boundKey: rt.jkt } : {}),
        // A PRT's proof key is the agent's device key: the check looks it up among the user's devices.
        ...(deviceKey ? { deviceKey } : {}),
      } as const;
      const reads = rt.sub === named ? prefetched : undefined;
      if (rotation.outcome === 'wrong-key') {
        // A bound token with another key never refreshes; the check scores and records it (key mismatch: by
        // default a denial, which revokes the family), and the answer is invalid_grant whatever it decided.
        await deps.access.continueAccess({ ...refreshOf, context: accessContext(request, proof?.jkt, { clientId: client.client_id }) }, reads);
        throw invalidGrant('this refresh token is bound to a DPoP key; present a proof made with it');
      }
      if (rotation.outcome === 'reused') {
        // Reuse of a rotated token means two parties hold the family: end it (OAuth 2.0 Security BCP §4.14).
        await oidc.grants.revoke(rt.gid);
        throw invalidGrant('the refresh token was already used; its whole family is revoked');
      }
      // The access token: what was asked for, within what the client may still hold (a client narrowed
      // since, or barred by the operator-only rule, loses the rest). The new refresh token keeps the
      // family's scope exactly as presented (RFC 6749 §6): the family item's scope never changes.
      const scope = narrowedScope(form['scope'], scopeStillAllowed(client, rt.scope));
      // The tokens are signed while the access check reads and records (its risk record comes with the
      // rotated item: no second read); they are answered only if it allows, else dropped unseen, and the
      // check's refusal is the answer even when the signing failed meanwhile.
      const signing = sign(
        { tenant, client, proof },
        rt.sub,
        scope,
        rt.gid,
        { authTime: rt.authTime, acr: rt.acr, amr: rt.amr, sid: rt.sid },
        undefined,
        rt.jkt,
        resource,
      );
      signing.catch(() => undefined);
      await continueOrRefuse(request, proof, { ...refreshOf, recordAsRead: { value: rotation.risk } }, resource, reads);
      return { ...(await signing), refresh_token: rotation.token };
    },

    client_credentials: async ({ tenant, client, form, proof }) => {
      if (client.token_endpoint_auth_method === 'none') throw unauthorizedClient('public clients cannot use client_credentials');
      const allowed = client.scope.split(' ').filter((s) => s !== 'openid' && s !== 'offline_access');
      const scope = form['scope'] ? requestedScope(form['scope'], allowed) : '';
      const gid = oidc.random.id();
      // The token is signed while its grant is written; it is answered only once both are done.
      const [, tokens] = await Promise.all([
        oidc.grants.create(
          { gid, tenant: tenant.tenant.id, clientId: client.client_id, sub: client.client_id, scope },
          tenant.settings.accessTokenSeconds,
          'client',
        ),
        oidc.tokens.issue({
          tenant: tenant.tenant.id,
          issuer: tenant.issuer,
          settings: tenant.settings,
          clientId: client.client_id,
          sub: client.client_id,
          scope,
          gid,
          ...(proof ? { jkt: proof.jkt } : {}),
        }),
      ]);
      return tokens;
    },

    password: async ({ request, tenant, client, form, proof }) => {
      const username = required(form, 'username');
      const password = required(form, 'password');
      const scope = form['scope'] ? requestedScope(form['scope'], client.scope.split(' ')) : client.scope;
      const result = await deps.signIn(tenant.tenant.id, username.toLowerCase(), password, request.sourceIp ?? 'unknown');
      if (result.outcome === 'locked') throw invalidGrant('too many failed sign-ins; try again later');
      if (result.outcome !== 'ok') throw invalidGrant('invalid username or password');
      const authentication = { authTime: nowSeconds(), acr: ACR.password, amr: ['pwd'] };
      return startGrant(
        { tenant, client, proof },
        { gid: oidc.random.id(), sub: result.user.username, scope },
        authentication,
        undefined,
        issueContext(request, client, proof, authentication.amr),
      );
    },

    'urn:ietf:params:oauth:grant-type:device_code': async ({ request, tenant, client, form, proof }) => {
      const poll = await oidc.devices.poll(required(form, 'device_code'), client.client_id);
      if (poll.outcome !== 'approved') throw new OAuthError(poll.outcome, deviceMessages[poll.outcome]);
      const { authorization } = poll;
      const approver = authorization.approvedBy!;
      await continueOrRefuse(request, proof, {
        kind: 'device-code',
        tenant: tenant.tenant.id,
        subject: { user: approver.sub },
        audience: client.client_id,
        grantedAt: approver.authTime,
        sessionId: approver.sid,
      });
      return startGrant(
        { tenant, client, proof },
        { gid: oidc.random.id(), sub: approver.sub, scope: authorization.scope },
        approver,
        undefined,
        issueContext(request, client, proof, approver.amr),
      );
    },
  };

  type Authentication = { authTime: number; acr: string; amr: readonly string[]; sid?: string };

  /**
   * A user's new grant: the grant item (with its refresh-token family when the client may refresh) is
   * written in one put while the tokens are signed; answered once both are done. Fails with
   * ConflictError when the grant was revoked before it could be created (a replayed code).
   */
  async function startGrant(
    g: Pick<GrantContext, 'tenant' | 'client' | 'proof'>,
    grant: { gid: string; sub: string; scope: string },
    authentication: Authentication,
    nonce?: string,
    /** The issuing request's context: the family's risk baseline (token protection). */
    context?: AccessContext,
    /** The SSO session's device correlation (a code issued in a correlated session): the family re-checks it at each refresh. */
    correlation?: SessionCorrelation,
  ): Promise<IssuedTokens & { refresh_token?: string }> {
    const { tenant, client, proof } = g;
    // RFC 9449 §5: a public client's refresh token is bound to its DPoP key; a confidential client's
    // is bound to its credentials, and stays usable if the client changes DPoP keys.
    const bindRefresh = client.token_endpoint_auth_method === 'none' ? proof?.jkt : undefined;
    const family = client.grant_types.includes('refresh_token')
      ? oidc.refreshTokens.open(grant.gid, grant.sub, {
          sid: authentication.sid ?? '',
          authTime: authentication.authTime,
          acr: authentication.acr,
          amr: authentication.amr,
          ...(bindRefresh ? { jkt: bindRefresh } : {}),
        })
      : undefined;
    const [, tokens] = await Promise.all([
      // The grant names its SSO session (`sid`) even without a family: a session ended by a decision not
      // the user's own finds the clients to log out by it (core/access/participant-logout.ts).
      oidc.grants.create(
        { ...grant, tenant: tenant.tenant.id, clientId: client.client_id },
        tenant.tenant.sessionLifetimes.refreshTokenSeconds,
        'user',
        family?.attributes ?? (authentication.sid ? { sid: authentication.sid } : {}),
        context,
        correlation,
      ),
      sign(g, grant.sub, grant.scope, grant.gid, authentication, nonce),
    ]);
    return family ? { ...tokens, refresh_token: family.token } : tokens;
  }

  /** Access token, and ID token when the scope has openid. */
  function sign(
    g: Pick<GrantContext, 'tenant' | 'client' | 'proof'>,
    sub: string,
    scope: string,
    gid: string,
    authentication: Authentication,
    nonce?: string,
    boundJkt?: string,
    /** RFC 8707: the service the access token is for (its `aud`); absent: the issuer. */
    audience?: string,
  ): Promise<IssuedTokens> {
    const { tenant, client, proof } = g;
    // RFC 9449 §5: a `bearer_access_tokens` client has its refresh token alone bound (token_type Bearer).
    const jkt = client.bearer_access_tokens ? undefined : (proof?.jkt ?? boundJkt);
    return oidc.tokens.issue({
      tenant: tenant.tenant.id,
      issuer: tenant.issuer,
      settings: tenant.settings,
      clientId: client.client_id,
      sub,
      scope,
      gid,
      ...(jkt ? { jkt } : {}),
      ...(audience ? { audience } : {}),
      authentication,
      // A token for another service is an access token only: the ID token is the sign-in's, for this client.
      ...(scope.split(' ').includes('openid') && !audience ? { idToken: nonce ? { nonce } : {} } : {}),
    });
  }

  const nowSeconds = (): number => Math.floor(oidc.clock.now() / 1000);

  /** The request that issues a grant: its context is the family's risk baseline. */
  const issueContext = (request: ApiRequest, client: OidcClient, proof: DpopProof | undefined, amr: readonly string[]) =>
    accessContext(request, proof?.jkt, { clientId: client.client_id, amr });

  /**
   * The access check for a grant that continues an earlier sign-in. A denial is `invalid_grant` (RFC 6749
   * §5.2; a risk denial has already revoked the family and ended the SSO session). A step-up is RFC 9470's
   * `insufficient_user_authentication` with the `acr_values` and `max_age` to ask for in a new
   * authorization request, in the JSON body and in WWW-Authenticate.
   */
  async function continueOrRefuse(
    request: ApiRequest,
    proof: DpopProof | undefined,
    continuation: Omit<Continuation, 'context'>,
    resource?: string,
    prefetched?: PrefetchedReads,
  ): Promise<void> {
    const context = accessContext(request, proof?.jkt, { clientId: continuation.audience, ...(resource ? { resource } : {}) });
    const decision = await deps.access.continueAccess({ ...continuation, context }, prefetched);
    if (decision.outcome === 'step-up') throw stepUpRequired(decision.message);
    if (decision.outcome !== 'allow') throw invalidGrant(`access can no longer be granted: ${decision.message}`);
  }

  return [
    {
      method: 'POST',
      path: '/t/:tenant/oidc/token',
      malformedBody: oauthMalformedBody,
      cors: clientCors(oidc),
      handle: (request) =>
        oauthEndpoint(async () => {
          const tenant = await tenantContext(deps.tenants, request);
          const form = formOf(request);
          const { client } = await authenticateRequestClient(oidc, request, tenant, form);
          const grantType = required(form, 'grant_type');
          const grant = grants[grantType];
          if (!grant || !tenantGrantTypes(tenant.settings).includes(grantType as never))
            throw new OAuthError('unsupported_grant_type', `grant_type ${grantType} is not supported`);
          if (!client.grant_types.includes(grantType as never)) throw unauthorizedClient(`this client may not use the ${grantType} grant`);
          // Per-service tokens come from a refresh token (the agent's PRT); a sign-in's grant is for the client itself.
          if (form['resource'] !== undefined && grantType !== 'refresh_token') throw invalidTarget('resource is accepted on the refresh_token grant only');
          const proof = await oidc.dpop.verify(request.headers['dpop'], {
            tenant: tenant.tenant.id,
            method: 'POST',
            url: endpointUrl(request),
            requireNonce: true,
          });
          // RFC 9449 §5.2: such a client always sends a proof; without one nothing is issued or rotated.
          if (!proof && client.dpop_bound_access_tokens)
            throw invalidDpopProof('this client always uses DPoP (dpop_bound_access_tokens): a DPoP proof is required');
          const tokens = await grant({ request, tenant, client, form, ...(proof ? { proof } : {}) });
          deps.events?.emit({
            kind: 'token-issued',
            tenant: tenant.tenant.id,
            client: client.client_id,
            reason: grantType,
            ...subjectOf(tokens, client.client_id),
            ...(request.sourceIp ? { ip: request.sourceIp } : {}),
          });
          const nonce: Record<string, string> = proof ? { 'DPoP-Nonce': await oidc.nonces.current(tenant.tenant.id) } : {};
          return oauthJson(200, tokens, nonce);
        }),
    },
  ];
}

const deviceMessages: Record<'authorization_pending' | 'slow_down' | 'access_denied' | 'expired_token', string> = {
  authorization_pending: 'the user has not approved the request yet',
  slow_down: 'polling too fast; wait longer between requests',
  access_denied: 'the user denied the request',
  expired_token: 'the device code is invalid or expired',
};

function required(form: Record<string, string>, name: string): string {
  const value = form[name];
  if (!value) throw invalidRequest(`${name} is required`);
  return value;
}

/** A requested scope must be within what is allowed; the result keeps the request's order. */
function requestedScope(requested: string, allowed: readonly string[]): string {
  const values = requested.split(' ').filter(Boolean);
  const unknown = values.filter((s) => !allowed.includes(s));
  if (unknown.length) throw invalidScope(`scope not allowed: ${unknown.join(' ')}`);
  return [...new Set(values)].join(' ');
}

/** The user a token was issued for (none for client_credentials, whose subject is the client itself). */
function subjectOf(tokens: IssuedTokens, clientId: string): { username?: string } {
  const sub = decodeJwt(tokens.access_token).sub;
  return sub && sub !== clientId ? { username: sub } : {};
}

/** A refresh may ask for less than the original grant, never more (RFC 6749 §6). */
function narrowedScope(requested: string | undefined, granted: string): string {
  if (!requested) return granted;
  return requestedScope(requested, granted.split(' '));
}
