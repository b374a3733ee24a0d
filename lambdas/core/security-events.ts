/**
 * Security events: ONE schema for every structured authentication event, emitted through one port
 * (`SecurityEvents`) as a log line and a metric per kind. The fields are an allow-list of identifiers and
 * outcomes: there is no free-form payload, so a password, PIN, token or secret cannot be put in one.
 */
export const SECURITY_EVENT_KINDS = [
  'sign-in-success',
  'sign-in-failure',
  'lockout',
  'step-up',
  'deny',
  /** The user allowed a client the scopes in `reason` on the consent page, or refused them. */
  'consent-given',
  'consent-refused',
  /** Tokens answered at the token endpoint: `reason` is the grant type, `client` the client, `username` the subject. */
  'token-issued',
  'token-revoked',
  'card-session-open',
  'card-session-superseded',
  'pin-blocked',
  /** A relying party (OIDC client, SAML SP) of a session ended by a decision not the user's own was told. */
  'participant-logout',
  /** ... and could not be told (unreachable, refused, front channel only, out of time): `reason` says which. */
  'participant-logout-failed',
] as const;

export type SecurityEventKind = (typeof SECURITY_EVENT_KINDS)[number];

export interface SecurityEvent {
  readonly kind: SecurityEventKind;
  readonly tenant: string;
  /** Our username (the `sub` claim), when the event is about a user. */
  readonly username?: string;
  /** The OAuth client id or `saml:{entityID}` the event happened for. */
  readonly client?: string;
  /** The source address. */
  readonly ip?: string;
  /** A short machine-readable reason (`bad-password`, `key-mismatch`, `ssf:session-revoked`...). */
  readonly reason?: string;
  /** A risk score, when a decision made it. */
  readonly score?: number;
  /** Card id, for card events. */
  readonly card?: string;
}

/** The port: emitted by the core, written by the function's observability adapter. */
export interface SecurityEvents {
  emit(event: SecurityEvent): void;
}

/** For processes that record none (the CLI, unit tests of other rules). */
export const NO_SECURITY_EVENTS: SecurityEvents = { emit: () => undefined };

const SHORT = 256;
const short = (value: string | undefined): string | undefined => (value === undefined ? undefined : value.slice(0, SHORT));

/** The one shape written: `schema` versioned, only the allow-listed fields, each bounded. */
export function securityEventRecord(event: SecurityEvent, at: number): Record<string, unknown> {
  const record: Record<string, unknown> = {
    schema: 'cloudcard.security-event/1',
    kind: event.kind,
    tenant: short(event.tenant),
    at: new Date(at).toISOString(),
  };
  for (const field of ['username', 'client', 'ip', 'reason', 'card'] as const) if (event[field] !== undefined) record[field] = short(event[field]);
  if (typeof event.score === 'number' && Number.isFinite(event.score)) record['score'] = event.score;
  return record;
}

/** The metric name of a kind (`SecurityEvent.deny`...): one EMF metric per kind, the alarms' source. */
export const securityEventMetric = (kind: SecurityEventKind): string => `SecurityEvent.${kind}`;
