import { baseServices, type BaseRuntime } from './base-services.ts';
import type { ParticipantLogout, ParticipantLogoutRequest } from './core/access/participant-logout.ts';
import type { ProxyHandler } from './http/app.ts';
import { internalEventOf, InternalEventError } from './internal-events.ts';
import { securityEventsOf, type Observability } from './observability.ts';
import type { Runtime } from './runtime.ts';

/**
 * The oidc function's entry around its API handler (the function that holds the token key): routes a
 * participant-logout hand-off (lambdas/internal-events.ts) to the one delivery (ParticipantLogout) and
 * everything else to the API. A malformed hand-off is refused (logged, and the invoke fails). Its own
 * module so that the other functions' bundles do not carry it.
 */
export function withInternalEvents(proxy: ProxyHandler, runtime: Runtime, observability: Observability): ProxyHandler {
  let logout: ParticipantLogout | undefined;
  return async (event, context) => {
    let request: ParticipantLogoutRequest | undefined;
    try {
      request = internalEventOf(event);
    } catch (error) {
      observability.logger.error('internal event refused', { error: error as Error });
      throw error;
    }
    if (!request) return proxy(event, context);
    // The relay is the sender's: the receiver delivers itself, never relays again.
    const own: BaseRuntime = { ...runtime, securityEvents: securityEventsOf(observability) };
    delete (own as { logoutRelay?: unknown }).logoutRelay;
    logout ??= baseServices(own).participantLogout;
    if (!logout) throw new InternalEventError('this function has no state store to deliver participant logouts from');
    await logout.notify(request.tenant, request.username, request.ended, request.baseUrl);
    observability.metrics.publishStoredMetrics();
    return { statusCode: 202, headers: {}, body: '' };
  };
}
