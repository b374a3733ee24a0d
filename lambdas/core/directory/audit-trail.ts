import type { Clock, Item, Random, StateStore } from '../../ports.ts';
import { pageLimit } from '../validation.ts';

/** How long an audit event is kept (the state table's TTL removes it after). */
export const AUDIT_RETENTION_DAYS = 400;
const PAGE = { default: 50, max: 200 } as const;
/** Sort keys count down from here so that a forward query reads the newest event first. */
const LAST_MILLISECOND = 9_999_999_999_999;

/**
 * Who made a change: an admin API caller (its credential kind and client id), an operator at the CLI, or
 * a signed-in user on their own account page in the portal.
 */
export interface AuditActor {
  readonly kind: 'admin-client' | 'tenant-token' | 'operator' | 'user';
  /** The admin client id; for the CLI the operator as the machine knows them (user@host, AWS profile); the username for a user. */
  readonly id: string;
}

/** One change, as stored and listed. Never a request body: it may carry a password, PIN, PUK or secret. */
export interface AuditEvent {
  /** ISO 8601. */
  readonly at: string;
  readonly actor: AuditActor;
  /** Which door the change came through. */
  readonly via: 'admin-api' | 'cli' | 'portal';
  /** What was done: `METHOD /route/template` for the API and the portal, `cloudcard <command path>` for the CLI. */
  readonly action: string;
  /** What it was done to: the path parameters or the command's arguments (tenant, username, card, ...). */
  readonly target: Readonly<Record<string, string>>;
  /** The HTTP status of the answer, or for the CLI 0 (done) or its exit code. */
  readonly outcome: number;
  readonly requestId?: string;
}

type AuditItem = Item & { expiresAt: number; event: AuditEvent };

/**
 * The audit trail of administrative changes, per tenant, newest first. One writer per door (the admin
 * router's guard, the CLI's post-action hook, the portal account page's form runner), so no route or command records its own. Bounded by the
 * state table's TTL (AUDIT_RETENTION_DAYS); export it elsewhere (the log line carries the same event) to
 * keep it longer.
 */
export class AuditTrail {
  readonly #state: StateStore;
  readonly #clock: Clock;
  readonly #random: Random;

  constructor(state: StateStore, clock: Clock, random: Random) {
    this.#state = state;
    this.#clock = clock;
    this.#random = random;
  }

  async record(tenant: string, event: Omit<AuditEvent, 'at'>): Promise<AuditEvent> {
    const now = this.#clock.now();
    const stored: AuditEvent = { at: new Date(now).toISOString(), ...event, target: boundedTarget(event.target) };
    const item: AuditItem = {
      PK: `AUDIT#${tenant}`,
      SK: `${String(LAST_MILLISECOND - now).padStart(13, '0')}#${this.#random.id()}`,
      expiresAt: Math.floor(now / 1000) + AUDIT_RETENTION_DAYS * 86_400,
      event: stored,
    };
    await this.#state.put(item, { absent: true });
    return stored;
  }

  async list(
    tenant: string,
    options: { cursor?: string | undefined; limit?: string | number | undefined } = {},
  ): Promise<{ events: AuditEvent[]; cursor?: string }> {
    const limit = pageLimit(options.limit, PAGE);
    const page = await this.#state.query<AuditItem>({ partition: `AUDIT#${tenant}`, limit, ...(options.cursor ? { cursor: options.cursor } : {}) });
    return { events: page.items.map((item) => item.event), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }
}

/** Targets are identifiers, not content: at most 12 of them, each cut to 200 characters. */
function boundedTarget(target: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(target)
      .slice(0, 12)
      .map(([name, value]) => [name.slice(0, 64), String(value).slice(0, 200)]),
  );
}
