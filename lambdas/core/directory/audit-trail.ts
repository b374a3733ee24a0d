import type { Clock, StateStore } from '../../ports.ts';

/** How long an audit event is kept (DynamoDB's TTL removes it after that). */
export const AUDIT_RETENTION_DAYS = 90;
/** Newest-first ordering: sort keys count down from this instant (ms), zero-padded to sort as text. */
const FAR_FUTURE_MS = 9_999_999_999_999;
const PAGE = 50;

/** Who made a change and with which credential. */
export interface AuditActor {
  /** `admin-client` (platform operator client, HTTP Basic), `tenant-token` (a tenant access token with the admin scope) or `cli` (an operator at the CLI). */
  readonly via: 'admin-client' | 'tenant-token' | 'cli';
  /** The admin client id, or the CLI operator's principal (AWS identity or local user). */
  readonly principal: string;
}

/** One change: never a request body, so never a password, PIN, PUK or client secret. */
export interface AuditEvent extends AuditActor {
  readonly tenant: string;
  /** What was done, e.g. `POST /users/:username/disable` or `user disable`. */
  readonly action: string;
  /** The object acted on, e.g. `users/alice`. */
  readonly target: string;
  readonly requestId: string;
  /** The outcome: the HTTP status (the CLI records 0 for success). */
  readonly status: number;
  /** ISO 8601 instant. */
  readonly at: string;
}

/**
 * The audit trail of admin changes: one bounded item per change under `AUDIT#{tenant}` on the state table
 * (expiring after AUDIT_RETENTION_DAYS), listed newest first.
 */
export class AuditTrail {
  readonly #state: StateStore;
  readonly #clock: Clock;

  constructor(state: StateStore, clock: Clock) {
    this.#state = state;
    this.#clock = clock;
  }

  async record(event: Omit<AuditEvent, 'at'>): Promise<AuditEvent> {
    const now = this.#clock.now();
    const written: AuditEvent = { ...event, at: new Date(now).toISOString() };
    const order = String(FAR_FUTURE_MS - now).padStart(13, '0');
    await this.#state.put({
      PK: `AUDIT#${event.tenant}`,
      SK: `${order}#${event.requestId}`,
      ...written,
      expiresAt: Math.floor(now / 1000) + AUDIT_RETENTION_DAYS * 86_400,
    });
    return written;
  }

  async list(tenant: string, cursor?: string): Promise<{ events: AuditEvent[]; cursor?: string }> {
    const page = await this.#state.query({ partition: `AUDIT#${tenant}`, limit: PAGE, ...(cursor ? { cursor } : {}) });
    const events = page.items.map(({ tenant: t, action, target, requestId, status, at, via, principal }) => ({ tenant: t, action, target, requestId, status, at, via, principal }) as AuditEvent);
    return { events, ...(page.cursor ? { cursor: page.cursor } : {}) };
  }
}
