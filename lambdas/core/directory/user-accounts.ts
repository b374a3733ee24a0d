import type { Devices, DeviceView } from '../access/devices.ts';
import type { Cards, CardSummary } from '../cards/cards.ts';
import type { User, Users } from './user.ts';

/** What else names a user by username in other services (OIDC consents, SAML name-ID federations). */
export interface UserLinks {
  forget(tenantId: string, username: string): Promise<void>;
}

/** A user with everything that hangs off them: what `user show` and GET …/users/{username} answer. */
export interface UserAccount extends User {
  readonly cards: CardSummary[];
  readonly devices: DeviceView[];
}

/**
 * The whole account of a user across services: reading it (the user, their cards, their agent devices)
 * and deleting it. Cards and devices are optional services (no key custody, no state table): without them
 * the account simply has none.
 */
export class UserAccounts {
  readonly #users: Users;
  readonly #cards: Cards | undefined;
  readonly #devices: Devices | undefined;
  readonly #links: UserLinks | undefined;

  constructor(users: Users, cards?: Cards, devices?: Devices, links?: UserLinks) {
    this.#users = users;
    this.#cards = cards;
    this.#devices = devices;
    this.#links = links;
  }

  async show(tenantId: string, username: string): Promise<UserAccount> {
    const user = await this.#users.get(tenantId, username);
    const [cards, devices] = await Promise.all([this.#cardsOf(tenantId, username), this.#devices?.list(tenantId, username) ?? []]);
    return { ...user, cards, devices };
  }

  /**
   * Deletes the user for good. Order matters, so an interruption leaves a safe state that a re-run
   * finishes: first the user is disabled (the access check refuses every continuation from then on, and
   * their SSO sessions, refresh-token families and card sessions are revoked), then each card is deleted
   * (its certificates revoked, its keys destroyed), then each device record, the user's consents and SAML
   * name-ID federations, and last the user item
   * itself (which frees the username and, as the e-mail index lives on that item, the e-mail address).
   * A user that does not exist is a NotFoundError, also for the re-run after a finished delete.
   */
  async delete(tenantId: string, username: string): Promise<{ cards: number; devices: number }> {
    await this.#users.disable(tenantId, username);
    const cards = await this.#cardsOf(tenantId, username);
    for (const card of cards) await this.#cards!.delete(tenantId, card.id);
    const devices = (await this.#devices?.list(tenantId, username)) ?? [];
    for (const device of devices) await this.#devices!.remove(tenantId, username, device.id);
    // Consents and SAML name-ID aliases name the user: a new user of the same name must inherit neither.
    await this.#links?.forget(tenantId, username);
    await this.#users.remove(tenantId, username);
    return { cards: cards.length, devices: devices.length };
  }

  async #cardsOf(tenantId: string, username: string): Promise<CardSummary[]> {
    if (!this.#cards) return [];
    const cards: CardSummary[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#cards.list(tenantId, { username, ...(cursor ? { cursor } : {}) });
      cards.push(...page.cards);
      cursor = page.cursor;
    } while (cursor);
    return cards;
  }
}
