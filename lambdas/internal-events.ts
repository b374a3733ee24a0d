import * as z from './core/zod.ts';
import type { ParticipantLogoutRequest } from './core/access/participant-logout.ts';
import { TENANT_ID } from './core/directory/tenant.ts';

/**
 * The one internal (non-HTTP) event a function takes: a participant-logout hand-off from a function
 * that holds no token-signing key (admin, portal) to the oidc function, which signs the logout tokens
 * and SAML hand-offs. In AWS it arrives by an asynchronous Lambda invoke, which only the roles granted
 * `lambda:InvokeFunction` on the oidc function can make (lib/grants.ts `invoke`); API Gateway only ever
 * delivers proxy events, which carry a `requestContext` and never this `source`.
 */
export const PARTICIPANT_LOGOUT_SOURCE = 'cloudcard.participant-logout';

export interface ParticipantLogoutEvent {
  readonly source: typeof PARTICIPANT_LOGOUT_SOURCE;
  readonly request: ParticipantLogoutRequest;
}

/** Copied member by member, on the way out and on the way in: only what the delivery reads crosses over. */
const onlyDelivered = (request: ParticipantLogoutRequest): ParticipantLogoutRequest => ({
  tenant: request.tenant,
  username: request.username,
  ended: {
    sessions: request.ended.sessions.map((session) => ({ hash: session.hash, ...(session.sid ? { sid: session.sid } : {}) })),
    grants: request.ended.grants.map((grant) => ({ clientId: grant.clientId, ...(grant.sid ? { sid: grant.sid } : {}) })),
  },
  ...(request.baseUrl ? { baseUrl: request.baseUrl } : {}),
});

export const participantLogoutEvent = (request: ParticipantLogoutRequest): ParticipantLogoutEvent => ({
  source: PARTICIPANT_LOGOUT_SOURCE,
  request: onlyDelivered(request),
});

const id = z.string().check(z.minLength(1), z.maxLength(256));
const schema = z.strictObject({
  source: z.literal(PARTICIPANT_LOGOUT_SOURCE),
  request: z.strictObject({
    tenant: z.string().check(z.regex(TENANT_ID)),
    username: id,
    baseUrl: z.optional(z.url().check(z.refine((url) => /^https?:\/\//.test(url) && !url.endsWith('/')))),
    ended: z.strictObject({
      sessions: z.array(z.strictObject({ hash: id, sid: z.optional(id) })).check(z.maxLength(1000)),
      grants: z.array(z.strictObject({ clientId: id, sid: z.optional(id) })).check(z.maxLength(1000)),
    }),
  }),
});

export class InternalEventError extends Error {
  override readonly name = 'InternalEventError';
}

/**
 * `undefined` for anything that is not an internal event (every API Gateway event: those go to the
 * routes); the request of a well-formed participant-logout event; throws InternalEventError for an
 * event that claims the internal source but is malformed or also looks like an HTTP event.
 */
export function internalEventOf(event: unknown): ParticipantLogoutRequest | undefined {
  if (typeof event !== 'object' || event === null || (event as { source?: unknown }).source !== PARTICIPANT_LOGOUT_SOURCE) return undefined;
  const parsed = schema.safeParse(event);
  if (!parsed.success)
    throw new InternalEventError(`refused internal event: ${parsed.error.issues.map((issue) => issue.path.join('.') || 'event').join(', ')}`);
  return onlyDelivered(parsed.data.request);
}
