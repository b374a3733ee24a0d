import type { Cards } from '../../core/cards/cards.ts';
import type { DirectoryServices } from '../../runtime.ts';
import { HttpProblem } from '../problem.ts';
import type { Route, RouteHandler } from '../router.ts';
import { json, type ApiRequest, type ApiResponse } from '../types.ts';

/** One-time secrets (initial PIN, PUK, management key; an unblock PIN) must never sit in a cache. */
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

export interface AdminCardRouteOptions {
  /** `/t/:tenant/admin/v1` */
  readonly base: string;
  /** Authenticates the caller and writes the generic audit line (who, method, path, status). */
  readonly guarded: (handle: RouteHandler) => RouteHandler;
  readonly objectBody: (request: ApiRequest) => Record<string, unknown>;
  /** The card audit line: the tenant, the card and what happened to it, never a secret. */
  readonly audit?: ((entry: Record<string, unknown>) => void) | undefined;
}

/**
 * Card administration under the tenant admin API: enrol (the one-time PIN, PUK and management key in
 * the response only), list, show, disconnect (ends the card's active session), unblock (a new PIN, shown
 * once), revoke (its certificates, with a reason: a new CRL is published) and delete (destroys the key
 * material and revokes its certificates, cessationOfOperation).
 */
export function adminCardRoutes(services: DirectoryServices, options: AdminCardRouteOptions): Route[] {
  const { base, guarded, objectBody } = options;
  const cardsOf = (): Cards => {
    if (!services.cards)
      throw new HttpProblem(503, 'Service unavailable', { detail: 'card administration is not available in this deployment (no key custody)' });
    return services.cards;
  };
  const tenantOf = (request: ApiRequest): string => request.params['tenant']!;
  const cardOf = (request: ApiRequest): string => request.params['card']!;
  const audit = (request: ApiRequest, action: string, card: string, extra: Record<string, unknown> = {}): void =>
    options.audit?.({ event: 'card', action, tenant: tenantOf(request), card, ...extra });
  const cardUrl = (request: ApiRequest, card: string): string => `${request.baseUrl}/t/${tenantOf(request)}/admin/v1/cards/${encodeURIComponent(card)}`;

  const handlers: Record<string, (request: ApiRequest) => Promise<ApiResponse>> = {
    enrol: async (request) => {
      const enrolled = await cardsOf().enrol(tenantOf(request), objectBody(request), { baseUrl: request.baseUrl });
      audit(request, 'enrolled', enrolled.card.id, { username: enrolled.card.username, serial: enrolled.card.serial, custody: enrolled.card.custody });
      return json(201, enrolled, { Location: cardUrl(request, enrolled.card.id), ...NO_STORE });
    },
    list: async (request) => {
      const username = request.query['username'];
      return json(
        200,
        await cardsOf().list(tenantOf(request), { ...(username ? { username } : {}), cursor: request.query['cursor'], limit: request.query['limit'] }),
      );
    },
    show: async (request) => json(200, await cardsOf().get(tenantOf(request), cardOf(request))),
    disconnect: async (request) => {
      const card = await cardsOf().disconnect(tenantOf(request), cardOf(request));
      audit(request, 'disconnected', card.id);
      return json(200, card);
    },
    unblock: async (request) => {
      const unblocked = await cardsOf().unblock(tenantOf(request), cardOf(request), objectBody(request));
      audit(request, 'unblocked', unblocked.card.id);
      return json(200, unblocked, NO_STORE);
    },
    revoke: async (request) => {
      const result = await cardsOf().revoke(tenantOf(request), cardOf(request), objectBody(request));
      audit(request, 'revoked', cardOf(request), { serials: result.revoked.map((r) => r.serial), reason: result.revoked[0]?.reason });
      return json(200, result);
    },
    remove: async (request) => {
      await cardsOf().delete(tenantOf(request), cardOf(request));
      audit(request, 'deleted', cardOf(request));
      return { statusCode: 204, headers: {}, body: '' };
    },
  };

  return [
    { method: 'POST', path: `${base}/cards`, handle: guarded(handlers['enrol']!) },
    { method: 'GET', path: `${base}/cards`, handle: guarded(handlers['list']!) },
    { method: 'GET', path: `${base}/cards/:card`, handle: guarded(handlers['show']!) },
    { method: 'DELETE', path: `${base}/cards/:card`, handle: guarded(handlers['remove']!) },
    { method: 'POST', path: `${base}/cards/:card/disconnect`, handle: guarded(handlers['disconnect']!) },
    { method: 'POST', path: `${base}/cards/:card/unblock`, handle: guarded(handlers['unblock']!) },
    { method: 'POST', path: `${base}/cards/:card/revoke`, handle: guarded(handlers['revoke']!) },
  ];
}
