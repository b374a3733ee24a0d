import { CardSessionError, MAX_APDU_BYTES, type CardSessions } from '../../../core/cards/sessions.ts';
import { UntrustedTokenError, type CardApiTrust, type CardPrincipal } from '../../../core/cards/trust.ts';
import type { CardLists } from '../../../core/cards/card-list.ts';
import { verifyDeviceProof } from '../../../core/cards/sessions.ts';
import { DEVICE_REGISTRATION_TYP, registrationReportOf, type Devices } from '../../../core/access/devices.ts';
import type { Tenant, Tenants } from '../../../core/directory/tenant.ts';
import type { Clock } from '../../../ports.ts';
import { accessContextOf } from '../../access-context.ts';
import { HttpProblem } from '../../problem.ts';
import type { Route } from '../../router.ts';
import { json, type ApiRequest, type ApiResponse } from '../../types.ts';

export interface CardRouteDeps {
  readonly tenants: Tenants;
  readonly trust: CardApiTrust;
  readonly sessions: CardSessions;
  readonly lists: CardLists;
  readonly clock: Clock;
  /** Device records (the agent registers its device key and what it reports); absent without a state table. */
  readonly devices?: Devices;
  /** One line per APDU for the logs: command byte and status word only, never data or PINs. */
  readonly traceApdu?: (entry: { tenant: string; card: string; session: string; ins: string; sw: string }) => void;
}

const PROBLEM_BASE = 'https://cloudcard.dev/problems/';
export const PIN_REMAINING_HEADER = 'Cloudcard-Pin-Remaining';
const NO_STORE = { 'Cache-Control': 'no-store' };

/** The problem an agent acts on: `type` tells it what to do (re-open, remove the card, retry). */
const SESSION_PROBLEMS: Record<CardSessionError['reason'], { status: number; title: string; type: string; removeCard: boolean }> = {
  expired: { status: 401, title: 'Card session expired', type: 'card-session-expired', removeCard: false },
  superseded: { status: 409, title: 'Card session superseded', type: 'card-session-superseded', removeCard: true },
  'card-deleted': { status: 410, title: 'Card deleted', type: 'card-session-card-deleted', removeCard: true },
  busy: { status: 409, title: 'Card session busy', type: 'card-session-busy', removeCard: false },
  // The user or tenant was disabled (or its access revoked): the card must leave the reader for good.
  'access-revoked': { status: 403, title: 'Access revoked', type: 'access-revoked', removeCard: true },
};

function sessionProblem(error: CardSessionError): HttpProblem {
  const problem = SESSION_PROBLEMS[error.reason];
  return new HttpProblem(problem.status, problem.title, {
    detail: error.message,
    extensions: { type: `${PROBLEM_BASE}${problem.type}`, ...(problem.removeCard ? { action: 'remove-card' } : {}) },
    headers: error.reason === 'expired' ? { 'WWW-Authenticate': 'CardSession error="invalid_token"' } : {},
  });
}

const bearer = (request: ApiRequest): string | undefined => /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(request.headers['authorization']?.trim() ?? '')?.[1];
/** The session token (sessions.ts `sessionToken`): a base64url hint, a dot and the 43-character secret. */
const sessionSecret = (request: ApiRequest): string | undefined =>
  /^CardSession ([A-Za-z0-9_.-]{1,600})$/.exec(request.headers['authorization']?.trim() ?? '')?.[1];

function jsonBody(request: ApiRequest): Record<string, unknown> {
  if (!request.body || typeof request.body !== 'object' || Array.isArray(request.body)) {
    throw new HttpProblem(400, 'Invalid request', { detail: 'a JSON object body is required' });
  }
  return request.body as Record<string, unknown>;
}

/**
 * The card API (`{base}/t/{tenant}/card/v1/`): the user's cards ("get tokens"), session opening by
 * challenge-response with the agent's device key, and APDUs. Tokens are JWTs of an issuer the tenant
 * trusts; APDU calls carry the session secret (`Authorization: CardSession …`).
 */
export function cardRoutes(deps: CardRouteDeps): Route[] {
  const tenantOf = async (request: ApiRequest): Promise<Tenant> => deps.tenants.getActive(request.params['tenant'] ?? '');
  const principalOf = async (tenant: Tenant, request: ApiRequest): Promise<CardPrincipal> => {
    try {
      return await deps.trust.authenticate(tenant, `${request.baseUrl}/t/${tenant.id}`, bearer(request), accessContextOf(request));
    } catch (error) {
      if (error instanceof UntrustedTokenError) {
        throw new HttpProblem(401, 'Unauthorized', { detail: error.message, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
      }
      throw error;
    }
  };
  const withSession = async <T>(operation: () => Promise<T>): Promise<T> => {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof CardSessionError) throw sessionProblem(error);
      throw error;
    }
  };
  const requireSecret = (request: ApiRequest): string => {
    const secret = sessionSecret(request);
    if (!secret)
      throw new HttpProblem(401, 'Unauthorized', {
        detail: 'a card session secret is required (Authorization: CardSession <secret>)',
        headers: { 'WWW-Authenticate': 'CardSession' },
      });
    return secret;
  };

  return [
    {
      method: 'POST',
      path: '/t/:tenant/card/v1/tokens',
      handle: async (request) => {
        const tenant = await tenantOf(request);
        const principal = await principalOf(tenant, request);
        const list = await deps.lists.forUser(tenant.id, principal.username, `${request.baseUrl}/t/${tenant.id}`, deps.clock.now());
        return json(200, { user: principal.username, cards: list.cards, signed: list.signed, expiresAt: list.expiresAt }, NO_STORE);
      },
    },
    {
      // The agent registers (or refreshes) its device: a JWS signed by the device key it names.
      method: 'POST',
      path: '/t/:tenant/card/v1/devices',
      handle: async (request) => {
        const tenant = await tenantOf(request);
        const principal = await principalOf(tenant, request);
        if (!deps.devices) throw new HttpProblem(503, 'Service unavailable', { detail: 'devices need the state table' });
        const verified = await verifyDeviceProof(jsonBody(request)['proof'], DEVICE_REGISTRATION_TYP);
        if (principal.boundJkt && principal.boundJkt !== verified.jkt)
          throw new HttpProblem(400, 'Invalid request', { detail: 'the token is bound to another key than the device key' });
        const report = registrationReportOf(verified.payload, `${request.baseUrl}/t/${tenant.id}/card/v1/devices`, Math.floor(deps.clock.now() / 1000));
        return json(200, await deps.devices.register(tenant.id, principal.username, verified.jkt, report, principal.grant), NO_STORE);
      },
    },
    {
      method: 'POST',
      path: '/t/:tenant/card/v1/cards/:card/challenge',
      handle: async (request) => {
        const tenant = await tenantOf(request);
        const principal = await principalOf(tenant, request);
        const body = jsonBody(request);
        const challenge = await deps.sessions.challenge(tenant, principal.username, request.params['card'] ?? '', body['deviceKey']);
        return json(201, { nonce: challenge.nonce, expiresAt: challenge.expiresAt }, NO_STORE);
      },
    },
    {
      method: 'POST',
      path: '/t/:tenant/card/v1/cards/:card/sessions',
      handle: async (request) => {
        const tenant = await tenantOf(request);
        const principal = await principalOf(tenant, request);
        const body = jsonBody(request);
        const opened = await withSession(() =>
          deps.sessions.open(
            tenant,
            principal.username,
            request.params['card'] ?? '',
            String(body['proof'] ?? ''),
            principal.grantedAt,
            accessContextOf(request),
          ),
        );
        return json(201, { session: opened.secret, sessionId: opened.session.id, card: opened.session.card, expiresAt: opened.expiresAt }, NO_STORE);
      },
    },
    {
      method: 'POST',
      path: '/t/:tenant/card/v1/session/apdu',
      handle: async (request) => {
        const secret = requireSecret(request);
        const command = apduOf(request);
        const tenantId = request.params['tenant'] ?? '';
        const resetFirst = request.query['reset'] === 'true';
        const result = await withSession(() => deps.sessions.apdu(tenantId, secret, command, { resetFirst }));
        deps.traceApdu?.({
          tenant: tenantId,
          card: result.session.card,
          session: result.session.id,
          ins: hex(result.trace.ins, 2),
          sw: hex(result.trace.sw, 4),
        });
        return apduResponse(request, result.response, result.pinRemaining);
      },
    },
    {
      method: 'POST',
      path: '/t/:tenant/card/v1/session/reset',
      handle: async (request) => {
        const secret = requireSecret(request);
        await withSession(() => deps.sessions.reset(request.params['tenant'] ?? '', secret));
        return { statusCode: 204, headers: {}, body: '' };
      },
    },
    {
      method: 'POST',
      path: '/t/:tenant/card/v1/session/renew',
      handle: async (request) => {
        const secret = requireSecret(request);
        const renewed = await withSession(() => deps.sessions.renew(request.params['tenant'] ?? '', secret));
        return {
          statusCode: 200,
          headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
          body: JSON.stringify({ expiresAt: renewed.expiresAt }),
        };
      },
    },
    {
      method: 'DELETE',
      path: '/t/:tenant/card/v1/session',
      handle: async (request) => {
        const secret = requireSecret(request);
        await withSession(() => deps.sessions.close(request.params['tenant'] ?? '', secret));
        return { statusCode: 204, headers: {}, body: '' };
      },
    },
  ];
}

const hex = (value: number, width: number): string => value.toString(16).padStart(width, '0');

/** The command APDU: raw bytes (application/octet-stream) or JSON {"apdu": base64}. */
function apduOf(request: ApiRequest): Uint8Array {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  let bytes: Uint8Array | undefined;
  if (type === 'application/octet-stream') bytes = request.rawBody;
  else if (type === 'application/json') {
    const value = (request.body as { apdu?: unknown } | undefined)?.apdu;
    if (typeof value === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(value)) bytes = Buffer.from(value, 'base64');
  } else throw new HttpProblem(415, 'Unsupported media type', { detail: 'send the APDU as application/octet-stream or JSON {"apdu": base64}' });
  if (!bytes || bytes.length === 0) throw new HttpProblem(400, 'Invalid request', { detail: 'the command APDU is missing' });
  if (bytes.length > MAX_APDU_BYTES) throw new HttpProblem(413, 'Payload too large', { detail: `a command APDU is at most ${MAX_APDU_BYTES} bytes` });
  return bytes;
}

/** The response APDU in the form the request used. */
function apduResponse(request: ApiRequest, response: Uint8Array, pinRemaining: number): ApiResponse {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  // PIN tries left after this command, so the agent can answer the host's PIN status queries itself.
  const headers = { ...NO_STORE, [PIN_REMAINING_HEADER]: String(pinRemaining) };
  if (type === 'application/json') {
    const sw = response.length >= 2 ? (response[response.length - 2]! << 8) | response[response.length - 1]! : 0;
    return json(200, { response: Buffer.from(response).toString('base64'), sw: hex(sw, 4), pinRemaining }, headers);
  }
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/octet-stream', ...headers },
    body: Buffer.from(response).toString('base64'),
    isBase64Encoded: true,
  };
}
