import { SAML_LOGOUT_HANDOFF_TYPE, samlLogoutHandOffUrl } from '../../../core/access/saml-logout-handoff.ts';
import { SamlBackChannelLogout } from '../../../core/saml/backchannel-logout.ts';
import { oidcSettingsOf } from '../../../core/directory/tenant.ts';
import { HttpProblem } from '../../problem.ts';
import type { Route } from '../../router.ts';
import { json } from '../../types.ts';
import { tenantContext } from '../oidc/common.ts';
import type { SamlRouteDeps } from './deps.ts';

/**
 * `POST /t/{tenant}/saml/backchannel-logout`: takes a participant hand-off from a function that ended a
 * session but bundles no XML (core/access/saml-logout-handoff.ts) and sends that SP our signed SOAP
 * LogoutRequest. Only a JWS signed by the tenant's own token key, for this URL, unexpired and unused, is
 * taken; the participant is read from our store by (SP, SessionIndex), and only once its session has
 * ended, so a hand-off can never log a live session out. Answers `{outcome}`.
 */
export function backChannelLogoutRoutes(deps: SamlRouteDeps): Route[] {
  const { saml } = deps;
  const { oidc } = saml;
  const channel = new SamlBackChannelLogout({
    serviceProviders: saml.serviceProviders,
    certificates: saml.certificates,
    settings: async (tenant) => oidcSettingsOf(await deps.tenants.get(tenant)),
    http: saml.http,
    replay: oidc.replay,
    clock: oidc.clock,
    random: oidc.random,
  });
  const refused = (detail: string) => new HttpProblem(401, 'Unauthorized', { detail });

  return [
    {
      method: 'POST',
      path: '/t/:tenant/saml/backchannel-logout',
      handle: async (request) => {
        const tenant = await tenantContext(deps.tenants, request);
        const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (mediaType !== 'application/jwt') throw new HttpProblem(415, 'Unsupported media type', { detail: 'the body must be application/jwt' });
        let claims;
        try {
          claims = await oidc.tokens.verifyInternal(tenant.tenant.id, tenant.issuer, tenant.settings, request.rawBody?.toString('utf8').trim() ?? '', {
            typ: SAML_LOGOUT_HANDOFF_TYPE,
            audience: samlLogoutHandOffUrl(tenant.issuer),
          });
        } catch {
          throw refused('not a hand-off signed by this tenant');
        }
        const { sp, sessionIndex, jti, exp } = claims as { sp?: unknown; sessionIndex?: unknown; jti: string; exp: number };
        if (typeof sp !== 'string' || typeof sessionIndex !== 'string') throw refused('the hand-off names no participant');
        if (!(await oidc.replay.firstUse(`saml-logout-handoff:${tenant.tenant.id}`, jti, exp))) throw refused('the hand-off was used before');
        const found = saml.participants ? await saml.participants.bySessionIndex(tenant.tenant.id, sp, sessionIndex) : undefined;
        if (!found) return json(200, { outcome: 'not-registered' });
        if (await oidc.sessions.findByHash(tenant.tenant.id, found.sessionHash))
          throw new HttpProblem(409, 'Conflict', { detail: 'the session is still live' });
        try {
          return json(200, { outcome: await channel.logout(tenant.tenant.id, tenant.issuer, found.participant) });
        } catch {
          // The SOAP client logged why; the caller logs the participant as not told.
          throw new HttpProblem(502, 'Bad gateway', { detail: 'the service provider could not be reached' });
        }
      },
    },
  ];
}
