import type { Clock, Item, StateStore } from '../../ports.ts';
import { correlateSignIn, recheckCorrelation, type CardSessionSighting, type SessionCorrelation } from '../risk/correlation.ts';
import type { AccessContext } from '../risk/context.ts';
import { cardSessionPrefix, ownerPartition } from './owner-index.ts';

type CardSessionItem = Item & {
  session?: { id?: string; card?: string; jkt?: string; openedAt?: number };
  openedFrom?: string;
  expiresAt: number;
  ended?: string;
};

/**
 * The most card-session items read (pages of 50): a user holds a few cards, each with one live session and
 * the ended or superseded ones that linger until the table's TTL removes them. Usually one page.
 */
const MAX_SESSION_ITEMS = 200;

/**
 * The store side of device correlation (rules: core/risk/correlation.ts), on the owner index only (no
 * card item, no directory read): a user's card sessions (`CARDSESS#{card}#{id}`, with the address each
 * was opened from) and registered devices (`AGENTDEV#{jkt}`).
 * - At sign-in: two queries in parallel (the user's card sessions, the user's devices), only when the
 *   sign-in has an address or is a certificate login.
 * - At a check of a session correlated through a card session: one query (that card's sessions).
 */
export class DeviceCorrelations {
  readonly #state: StateStore;
  readonly #clock: Clock;

  constructor(state: StateStore, clock: Clock) {
    this.#state = state;
    this.#clock = clock;
  }

  async atSignIn(tenant: string, username: string, context: AccessContext): Promise<SessionCorrelation | undefined> {
    const now = this.#clock.now();
    if (!context.ip) return correlateSignIn({ ...(context.amr ? { amr: context.amr } : {}), at: now }, [], [], Math.floor(now / 1000));
    const partition = ownerPartition(tenant, username);
    const [sessions, devices] = await Promise.all([
      this.#cardSessions(partition, 'CARDSESS#'),
      this.#state.query<Item & { GSI1SK: string }>({ index: 'GSI1', partition, sortPrefix: 'AGENTDEV#', limit: 100 }),
    ]);
    const registered = devices.items.map((item) => item.GSI1SK.slice('AGENTDEV#'.length));
    return correlateSignIn(
      { ip: context.ip, ...(context.amr ? { amr: context.amr } : {}), at: now },
      sightingsOf(sessions),
      registered,
      Math.floor(now / 1000),
    );
  }

  /** The correlation as it stands now; reads only for a card-session correlation that still holds. */
  async recheck(tenant: string, username: string, correlation: SessionCorrelation): Promise<SessionCorrelation> {
    if (correlation.state !== 'correlated' || correlation.via !== 'card-session' || !correlation.card) return correlation;
    const sessions = await this.#cardSessions(ownerPartition(tenant, username), cardSessionPrefix(correlation.card));
    return recheckCorrelation(correlation, sightingsOf(sessions), this.#clock.now());
  }

  async #cardSessions(partition: string, sortPrefix: string): Promise<CardSessionItem[]> {
    const items: CardSessionItem[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#state.query<CardSessionItem>({ index: 'GSI1', partition, sortPrefix, limit: 50, ...(cursor ? { cursor } : {}) });
      items.push(...page.items);
      cursor = page.cursor;
    } while (cursor && items.length < MAX_SESSION_ITEMS);
    return items;
  }
}

function sightingsOf(items: readonly CardSessionItem[]): CardSessionSighting[] {
  const sightings: CardSessionSighting[] = [];
  for (const item of items) {
    const { id, card, jkt, openedAt } = item.session ?? {};
    if (!id || !card || !jkt || openedAt === undefined) continue;
    sightings.push({
      id,
      card,
      device: jkt,
      openedAt,
      expiresAt: item.expiresAt,
      ...(item.openedFrom ? { openedFrom: item.openedFrom } : {}),
      ...(item.ended ? { ended: true } : {}),
    });
  }
  return sightings;
}
