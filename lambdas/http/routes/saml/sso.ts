import { ConflictError } from '../../../core/errors.ts';
import type { User } from '../../../core/directory/user.ts';
import type { Authentication, SamlLoginRequest } from '../../../core/oidc/interactions.ts';
import type { SsoSession } from '../../../core/oidc/sessions.ts';
import {
  checkRelayState,
  RefusedAuthnRequest,
  validateAuthnRequest,
  type IncomingRequest,
  type ValidatedAuthnRequest,
} from '../../../core/saml/authn-request.ts';
import { NAMEID_FORMAT, samlEndpoints } from '../../../core/saml/metadata.ts';
import { releaseAttributes } from '../../../core/saml/attribute-mapping.ts';
import { decideSso, PASSWORD_METHODS, PORTAL_METHODS, methodOf, statedClass } from '../../../core/saml/authn-context.ts';
import { encryptionCertificateFor } from '../../../core/saml/encryption.ts';
import { buildResponse, STATUS, type ResponseSubject } from '../../../core/saml/response.ts';
import { sessionIndexFor } from '../../../core/saml/session-index.ts';
import { signaturesFor } from '../../../core/saml/signing-choice.ts';
import { defaultAcs } from '../../../core/saml/service-providers.ts';
import { spDisplayName } from '../../../core/saml/display-name.ts';
import { BINDING, SamlError } from '../../../core/saml/xml.ts';
import { readCookie, setCookie } from '../../cookies.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { errorPage, formPostPage, redirect } from '../../views/pages.ts';
import { requestView, viewOf, type PageView } from '../../views/view.ts';
import { INTERACTION_COOKIE, SSO_COOKIE } from '../oidc/authorize.ts';
import { tenantContext, type TenantContext } from '../oidc/common.ts';
import { reusableSession, ssoReuse } from '../oidc/sso-session.ts';
import { incomingByArtifact, sendByArtifact } from './artifact-binding.ts';
import type { SamlRouteDeps } from './deps.ts';
import { persistentNameId } from './federation.ts';
import { recordParticipant } from './logout-flow.ts';

const INTERACTION_SECONDS = 900;
const SAML_PARAMETERS = ['SAMLRequest', 'SAMLart', 'RelayState', 'SigAlg', 'Signature'];

/** A request the SP sent wrong: translated words, the protocol detail (English) under them. */
const notValid = (view: PageView, message: string): ApiResponse => errorPage(view, 400, 'error.request.title', 'error.advice.400', {}, message);
const unknownTenant = (view: PageView): ApiResponse => errorPage(view, 404, 'error.unknownOrg.title', 'error.unknownOrg.text');

/**
 * The SAML Web Browser SSO profile (SAML Profiles §4.1): AuthnRequests over HTTP-Redirect and HTTP-POST,
 * answered from the SSO session or after the portal's sign-in, always with a signed Response over
 * HTTP-POST to an ACS from the SP's metadata. Also IdP-initiated (unsolicited) responses.
 */
export function ssoRoutes(deps: SamlRouteDeps): Route[] {
  const { saml } = deps;
  const { oidc } = saml;

  async function tenantOf(request: ApiRequest): Promise<TenantContext | undefined> {
    return tenantContext(deps.tenants, request).catch(() => undefined);
  }

  async function sso(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantOf(request);
    const view = requestView(request, tenant?.tenant);
    if (!tenant) return unknownTenant(view);
    let params: Record<string, string | undefined>;
    if (request.method === 'POST') {
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') return notValid(view, 'The sign-in request must be an HTML form post.');
      params = (request.body as Record<string, string> | undefined) ?? {};
    } else {
      const repeated = request.repeatedQuery.filter((name) => SAML_PARAMETERS.includes(name));
      if (repeated.length) return notValid(view, `The sign-in request repeats ${repeated.join(', ')}.`);
      params = request.query;
    }
    const samlRequest = params['SAMLRequest'] ?? '';
    const samlArt = params['SAMLart'];
    if (!samlRequest && !samlArt) return notValid(view, 'The request carries no SAMLRequest.');
    if (samlRequest && samlArt) return notValid(view, 'The request carries both SAMLRequest and SAMLart.');
    const relayState = params['RelayState'];
    const incoming: IncomingRequest | undefined = samlArt
      ? undefined
      : request.method === 'POST'
        ? { binding: 'post', samlRequest, ...(relayState !== undefined ? { relayState } : {}) }
        : {
            binding: 'redirect',
            samlRequest,
            ...(relayState !== undefined ? { relayState } : {}),
            ...(params['SigAlg'] !== undefined ? { sigAlg: params['SigAlg'] } : {}),
            ...(params['Signature'] !== undefined ? { signature: params['Signature'] } : {}),
          };
    const endpoints = samlEndpoints(tenant.issuer);
    let validated;
    try {
      validated = await validateAuthnRequest(incoming ?? (await incomingByArtifact(saml, tenant, samlArt!, relayState)), {
        destination: endpoints.sso,
        now: oidc.clock.now(),
        findSp: (entityId) => saml.serviceProviders.find(tenant.tenant.id, entityId),
        replay: oidc.replay,
        tenant: tenant.tenant.id,
      });
    } catch (error) {
      // A verified request refused all the same: its SP gets a SAML error Response at its own ACS.
      if (error instanceof RefusedAuthnRequest) return statusResponse(tenant, loginOf(error.request), STATUS.requester, error.message);
      // Nothing about an untrusted request is echoed to an ACS: the browser gets an error page.
      if (error instanceof SamlError) return notValid(view, `The service provider's request was refused: ${error.message}.`);
      throw error;
    }
    const login = loginOf(validated);
    // A session the access check refuses counts as none: IsPassive gets NoPassive, anything else a fresh login.
    const reuse = await ssoReuse({ oidc, access: deps.access }, tenant, request, 'sso-reuse-saml', `saml:${validated.spEntityId}`);
    const reusable = reuse.kind === 'reuse' ? reuse : undefined;
    // Risk asks for a stronger sign-in (issue 13): a fresh login at the one-time-code level (IsPassive: NoPassive).
    if (reuse.kind === 'step-up' && !validated.isPassive) return startLogin(tenant, { ...login, secondFactor: true });
    const decision = decideSso({
      forceAuthn: validated.forceAuthn,
      isPassive: validated.isPassive,
      ...(validated.requestedAuthnContext ? { requested: validated.requestedAuthnContext } : {}),
      ...(reusable ? { session: reusable.session } : {}),
      methods: deps.certificateLogin ? PORTAL_METHODS : PASSWORD_METHODS,
    });
    if (decision.kind === 'session') return respond(tenant, login, reusable!.session, reusable!.secret, reusable!.session, [], reusable!.user);
    if (decision.kind === 'no-authn-context')
      return statusResponse(tenant, login, STATUS.requester, 'no sign-in method here satisfies the requested authentication context', STATUS.noAuthnContext);
    if (decision.kind === 'no-passive') return statusResponse(tenant, login, STATUS.responder, 'the user would have to sign in', STATUS.noPassive);
    return startLogin(tenant, { ...login, ...(decision.secondFactor ? { secondFactor: true } : {}), ...(decision.certificate ? { certificate: true } : {}) });
  }

  const loginOf = (validated: ValidatedAuthnRequest): SamlLoginRequest => ({
    spEntityId: validated.spEntityId,
    acsUrl: validated.acsUrl,
    requestId: validated.id,
    ...(validated.nameIdFormat ? { nameIdFormat: validated.nameIdFormat } : {}),
    ...(validated.relayState !== undefined ? { relayState: validated.relayState } : {}),
    ...(validated.responseBinding ? { responseBinding: validated.responseBinding } : {}),
    ...(validated.allowCreate === false ? { allowCreate: false as const } : {}),
    ...(validated.requestedAuthnContext ? { requestedAuthnContext: validated.requestedAuthnContext } : {}),
  });

  /** `GET /saml/sso/idp?sp={entityID}[&RelayState=...]`: an unsolicited response to the SP's default ACS. */
  async function idpInitiated(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantOf(request);
    const view = requestView(request, tenant?.tenant);
    if (!tenant) return unknownTenant(view);
    if (request.repeatedQuery.length) return notValid(view, 'The link repeats a parameter.');
    const sp = await saml.serviceProviders.find(tenant.tenant.id, request.query['sp'] ?? '');
    if (!sp) return notValid(view, 'The link names a service provider that is not registered.');
    const relayState = request.query['RelayState'];
    try {
      checkRelayState(relayState);
    } catch (error) {
      if (error instanceof SamlError) return notValid(view, `The link was refused: ${error.message}.`);
      throw error;
    }
    const login: SamlLoginRequest = { spEntityId: sp.entityId, acsUrl: defaultAcs(sp).location, ...(relayState !== undefined ? { relayState } : {}) };
    const reusable = await reusableSession({ oidc, access: deps.access }, tenant, request, 'sso-reuse-saml', `saml:${sp.entityId}`);
    if (reusable) return respond(tenant, login, reusable.session, reusable.secret, reusable.session, [], reusable.user);
    return startLogin(tenant, login);
  }

  async function startLogin(tenant: TenantContext, login: SamlLoginRequest): Promise<ApiResponse> {
    // The portal does not read SP metadata (nor bundle an XML parser): the name travels with the interaction.
    const sp = await saml.serviceProviders.find(tenant.tenant.id, login.spEntityId);
    const spName = sp && spDisplayName(sp.metadataXml);
    const interaction = await oidc.interactions.create(
      tenant.tenant.id,
      { kind: 'saml', request: { ...login, ...(spName ? { spName } : {}) } },
      INTERACTION_SECONDS,
    );
    return redirect(`${tenant.issuer}/portal/login?interaction=${interaction.id}`, {}, [
      setCookie(INTERACTION_COOKIE, interaction.id, { path: `/t/${tenant.tenant.id}/`, maxAgeSeconds: INTERACTION_SECONDS }),
    ]);
  }

  /** The portal sends the browser here once the user has signed in within the interaction. */
  async function resume(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantOf(request);
    const view = requestView(request, tenant?.tenant);
    if (!tenant) return unknownTenant(view);
    const interaction = await oidc.interactions.find(tenant.tenant.id, request.query['interaction'] ?? '');
    if (!interaction || interaction.kind !== 'saml' || readCookie(request.headers['cookie'], INTERACTION_COOKIE) !== interaction.id) {
      return errorPage(view, 400, 'error.expired.title', 'error.expired.text');
    }
    const authentication = interaction.authentication;
    if (!authentication) return errorPage(view, 400, 'error.notFinished.title', 'error.notFinished.text');
    try {
      await oidc.interactions.finish(interaction);
    } catch (error) {
      if (error instanceof ConflictError) return errorPage(view, 400, 'error.completed.title', 'error.completed.text');
      throw error;
    }
    const clear = setCookie(INTERACTION_COOKIE, '', { path: `/t/${tenant.tenant.id}/`, maxAgeSeconds: 0 });
    const secret = readCookie(request.headers['cookie'], SSO_COOKIE);
    const session = await oidc.sessions.find(tenant.tenant.id, secret);
    return respond(tenant, interaction.request, authentication, secret, session, [clear]);
  }

  /** Re-checks the SP and ACS against the directory now, then posts the signed response to it. */
  async function respond(
    tenant: TenantContext,
    login: SamlLoginRequest,
    authentication: Authentication,
    secret: string | undefined,
    session: SsoSession | undefined,
    cookies: string[] = [],
    checkedUser?: User,
  ): Promise<ApiResponse> {
    const sp = await saml.serviceProviders.find(tenant.tenant.id, login.spEntityId);
    const acsBinding = login.responseBinding === 'artifact' ? BINDING.artifact : BINDING.post;
    if (!sp || !sp.acs.some((endpoint) => endpoint.location === login.acsUrl && endpoint.binding === acsBinding)) {
      return errorPage(viewOf({ tenant: tenant.tenant }), 400, 'error.request.title', 'error.appUnknown.text');
    }
    // The access check (done already when a session is reused): a refused user gets Responder/RequestDenied.
    const user = checkedUser ?? (await allowedUser(tenant, login, authentication));
    if (!user) return statusResponse(tenant, login, STATUS.responder, 'the user cannot sign in', STATUS.requestDenied, cookies);
    // The login that happened (e.g. password only, for a user with no one-time code enrolled) may still fall short.
    const authnContextClassRef = statedClass(methodOf(authentication.amr), login.requestedAuthnContext);
    if (!authnContextClassRef) {
      return statusResponse(tenant, login, STATUS.requester, 'the sign-in did not reach the requested authentication context', STATUS.noAuthnContext, cookies);
    }
    const now = oidc.clock.now();
    const format = login.nameIdFormat ?? sp.nameIdFormats.find((f) => (Object.values(NAMEID_FORMAT) as string[]).includes(f)) ?? NAMEID_FORMAT.persistent;
    let nameId: string;
    let spProvidedId: string | undefined;
    if (format === NAMEID_FORMAT.persistent) {
      const federation = await persistentNameId(saml, tenant.tenant.id, sp.entityId, user.username, now, login.allowCreate);
      if (!federation)
        return statusResponse(
          tenant,
          login,
          STATUS.requester,
          'no federated identity exists and the request does not allow creating one',
          STATUS.invalidNameIdPolicy,
          cookies,
        );
      nameId = federation.alias;
      spProvidedId = federation.spProvidedId;
    } else if (format === NAMEID_FORMAT.transient) nameId = Buffer.from(oidc.random.bytes(20)).toString('base64url');
    else if (format === NAMEID_FORMAT.email) {
      if (!user.email) return statusResponse(tenant, login, STATUS.requester, 'the user has no e-mail address', STATUS.invalidNameIdPolicy, cookies);
      nameId = user.email;
    } else nameId = user.username;
    const subject: ResponseSubject = {
      nameId,
      nameIdFormat: format,
      ...(spProvidedId ? { spProvidedId } : {}),
      // Per SP, so that two SPs cannot link their users through it; random when no session is recorded.
      sessionIndex: secret && session ? sessionIndexFor(secret, sp.entityId) : `_${oidc.random.id()}`,
      authnInstant: authentication.authTime * 1000,
      authnContextClassRef,
      attributes: releaseAttributes(user, sp.attributeMap),
    };
    const key = await saml.certificates.signingKey(tenant.tenant.id, tenant.settings);
    const encryptFor = encryptionCertificateFor(sp.encryptionCertificates);
    const xml = await buildResponse({
      idpEntityId: samlEndpoints(tenant.issuer).entityId,
      spEntityId: sp.entityId,
      acsUrl: login.acsUrl,
      ...(login.requestId ? { inResponseTo: login.requestId } : {}),
      now,
      random: oidc.random,
      key,
      subject,
      sign: signaturesFor(sp),
      ...(encryptFor ? { encryptFor } : {}),
    });
    if (secret && session) await oidc.sessions.addClient(secret, session, `saml:${sp.entityId}`);
    if (secret && session) await recordParticipant(saml, tenant, secret, sp.entityId, subject);
    if (login.responseBinding === 'artifact') {
      const grant = { user: authentication.sub, grantedAt: authentication.authTime, ...(authentication.sid ? { sessionId: authentication.sid } : {}) };
      return sendByArtifact(saml, tenant, login, xml, cookies, format === NAMEID_FORMAT.persistent ? user.username : undefined, grant);
    }
    return post(tenant, login, xml, cookies);
  }

  async function allowedUser(tenant: TenantContext, login: SamlLoginRequest, authentication: Authentication): Promise<User | undefined> {
    const decision = await deps.access.continueAccess({
      kind: 'sso-reuse-saml',
      tenant: tenant.tenant.id,
      subject: { user: authentication.sub },
      audience: `saml:${login.spEntityId}`,
      grantedAt: authentication.authTime,
      ...(authentication.sid ? { sessionId: authentication.sid } : {}),
    });
    return decision.outcome === 'allow' ? decision.user : undefined;
  }

  async function statusResponse(
    tenant: TenantContext,
    login: SamlLoginRequest,
    code: string,
    message: string,
    subCode?: string,
    cookies: string[] = [],
  ): Promise<ApiResponse> {
    const key = await saml.certificates.signingKey(tenant.tenant.id, tenant.settings);
    const xml = await buildResponse({
      idpEntityId: samlEndpoints(tenant.issuer).entityId,
      spEntityId: login.spEntityId,
      acsUrl: login.acsUrl,
      ...(login.requestId ? { inResponseTo: login.requestId } : {}),
      now: oidc.clock.now(),
      random: oidc.random,
      key,
      status: { code, message, ...(subCode ? { subCode } : {}) },
    });
    if (login.responseBinding === 'artifact') return sendByArtifact(saml, tenant, login, xml, cookies);
    return post(tenant, login, xml, cookies);
  }

  /** HTTP-POST binding (Bindings §3.5): an auto-submitting form, RelayState echoed as received. */
  function post(tenant: TenantContext, login: SamlLoginRequest, xml: string, cookies: string[]): ApiResponse {
    const fields: Record<string, string> = { SAMLResponse: Buffer.from(xml, 'utf8').toString('base64') };
    if (login.relayState !== undefined) fields['RelayState'] = login.relayState;
    // Past the request here: the tenant's language (the page submits itself; only script-less browsers read it).
    const response = formPostPage(viewOf({ tenant: tenant.tenant }), login.acsUrl, fields, oidc.random.id());
    return cookies.length ? { ...response, multiValueHeaders: { 'Set-Cookie': cookies } } : response;
  }

  return [
    { method: 'GET', path: '/t/:tenant/saml/sso', handle: sso },
    { method: 'POST', path: '/t/:tenant/saml/sso', handle: sso },
    { method: 'GET', path: '/t/:tenant/saml/sso/resume', handle: resume },
    { method: 'GET', path: '/t/:tenant/saml/sso/idp', handle: idpInitiated },
  ];
}
