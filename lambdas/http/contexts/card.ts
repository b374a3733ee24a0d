import { Logger } from '@aws-lambda-powertools/logger';
import type { RoutesFactory } from '../../apps.ts';
import { CardLists } from '../../core/cards/card-list.ts';
import { CardSessions } from '../../core/cards/sessions.ts';
import { SessionSeal } from '../../core/cards/session-seal.ts';
import { CardApiTrust } from '../../core/cards/trust.ts';
import { oidcSettingsOf } from '../../core/directory/tenant.ts';
import { baseServices } from '../../base-services.ts';
import { cardService } from '../../card-service.ts';
import { cardRoutes } from '../routes/card/index.ts';
import { oidcModels } from './oidc.ts';

/** The card API of every tenant: card lists, card sessions and APDUs. */
export const cardContext: RoutesFactory = (runtime) => {
  // The base services and cards only: no SAML service providers (xmldom) or tenant transfer here.
  const services = baseServices(runtime);
  const cards = cardService(runtime, services);
  if (!cards || !runtime.residentKeys || !runtime.cardSessionKey)
    throw new Error('the card context needs key custody, resident keys, the PIN key and the session key');
  const oidc = oidcModels(runtime);
  const trust = new CardApiTrust(
    async (tenant, issuer, token) => {
      const claims = await oidc.tokens.verifyAccessToken(tenant.id, issuer, oidcSettingsOf(tenant), token);
      if (!(await oidc.grants.active(claims.gid)) || (await oidc.revokedAccessTokens.isRevoked(claims.jti))) throw new Error('revoked');
      return claims;
    },
    services.access,
    runtime.clock,
    runtime.outbound,
  );
  const apduLog = new Logger({ serviceName: 'cloudcard-card-apdu' });
  return cardRoutes({
    tenants: services.tenants,
    trust,
    sessions: new CardSessions(
      runtime.state,
      cards,
      runtime.clock,
      runtime.random,
      services.access,
      new SessionSeal(runtime.cardSessionKey),
      runtime.securityEvents,
    ),
    lists: new CardLists(cards, runtime.directory, runtime.residentKeys),
    clock: runtime.clock,
    ...(services.devices ? { devices: services.devices } : {}),
    traceApdu: (entry) => apduLog.debug('apdu', entry),
  });
};
