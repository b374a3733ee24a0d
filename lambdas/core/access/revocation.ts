import { clearActiveSession } from '../cards/card-item.ts';
import { directoryKeys, tenantPartition } from '../directory/keys.ts';
import { ConflictError } from '../errors.ts';
import type { DirectoryStore, Item, StateStore } from '../../ports.ts';
import type { ContinuationEndings } from './access-check.ts';
import { grantKey } from '../oidc/grants.ts';
import { keyOfHash } from '../oidc/sessions.ts';
import type { DeviceEndings } from './devices.ts';
import { cardSessionPrefix, ownerPartition, type SessionEnd } from './owner-index.ts';
import type { EndedGrant, EndedSession, ParticipantLogoutNotifier } from './participant-logout.ts';

/** What disabling and card deletion call; the directory services take it as a port. */
export interface AccessEndings {
  /** Ends every SSO session, grant (refresh-token family) and card session of the user. */
  revokeUser(tenant: string, username: string): Promise<void>;
  /** The same for every user of the tenant. */
  revokeTenant(tenant: string): Promise<void>;
  /** Ends the sessions of one card (the card is being deleted). */
  endCardSessions(tenant: string, username: string, card: string): Promise<void>;
}

/** How many users of a tenant are revoked at once. */
const USERS_AT_ONCE = 10;

type OwnedItem = Item & {
  GSI1SK: string;
  session?: { id?: string; card?: string; sid?: string; jkt?: string };
  rtBinding?: string;
  clientId?: string;
  sid?: string;
};

/** What one ending ended, for the relying parties to be told (only the endings that are not the user's own collect it). */
class Ended {
  readonly sessions: EndedSession[] = [];
  readonly grants: EndedGrant[] = [];

  grant(item: { clientId?: string; sid?: string }): void {
    if (item.clientId) this.grants.push({ clientId: item.clientId, ...(item.sid ? { sid: item.sid } : {}) });
  }

  session(item: Item & { session?: { sid?: string } }): void {
    this.sessions.push({ hash: item.PK.slice('SSO#'.length), ...(item.session?.sid ? { sid: item.session.sid } : {}) });
  }
}

/**
 * Proactive revocation, so nothing waits for expiry. Order, per user: card sessions first (the card
 * item's `activeSession` is cleared, then the session item becomes a tombstone: the card stops signing
 * at the first step), then grants (marked revoked: refresh tokens and access tokens of the family stop), then SSO
 * sessions (deleted). The owner index returns them in exactly that order (sort keys CARDSESS < GRANT <
 * SSO). A failure on one item does not stop the others; the first error is raised at the end. A partial
 * revocation is safe: the access check refuses every continuation of a disabled user or tenant, and of
 * anything granted before `accessRevokedAt`, whatever is left in the table.
 */
export class AccessRevocation implements AccessEndings, ContinuationEndings, DeviceEndings {
  readonly #state: StateStore;
  readonly #directory: DirectoryStore;
  readonly #logout: ParticipantLogoutNotifier | undefined;

  /**
   * `logout` tells the OIDC clients and SAML SPs of what a risk denial, an administrator, a Shared Signals
   * event or a device removal ended (core/access/participant-logout.ts); disabling and card deletion do not.
   */
  constructor(state: StateStore, directory: DirectoryStore, logout?: ParticipantLogoutNotifier) {
    this.#state = state;
    this.#directory = directory;
    this.#logout = logout;
  }

  async revokeUser(tenant: string, username: string): Promise<void> {
    await this.#endOwned(tenant, username, 'access-revoked');
  }

  async revokeTenant(tenant: string): Promise<void> {
    let failure: unknown;
    let cursor: string | undefined;
    do {
      const page = await this.#directory.query<Item & { user: { username: string } }>({
        partition: tenantPartition(tenant),
        sortPrefix: directoryKeys.userPrefix,
        limit: 100,
        ...(cursor ? { cursor } : {}),
      });
      // Users in parallel (each user's own order kept), a bounded number at once: a large tenant must fit
      // in API Gateway's 29 s without flooding the table; a cut-short revocation is finished by repeating it.
      const usernames = page.items.map((item) => item.user.username);
      for (let start = 0; start < usernames.length; start += USERS_AT_ONCE) {
        await Promise.all(
          usernames.slice(start, start + USERS_AT_ONCE).map((username) => this.revokeUser(tenant, username).catch((error: unknown) => (failure ??= error))),
        );
      }
      cursor = page.cursor;
    } while (cursor);
    if (failure) throw failure;
  }

  /**
   * Ends one continued access (a risk denial): the grant (refresh-token family) is marked revoked and the
   * SSO session ended, found by its hash or, for a family, by its public `sid` under the user's owner index.
   */
  async endContinuation(tenant: string, username: string, what: { gid?: string; sid?: string; ssoHash?: string }): Promise<void> {
    const ended = new Ended();
    const gone = (error: unknown) => {
      if (!(error instanceof ConflictError)) throw error;
    };
    if (what.gid) {
      // Guarded on not yet revoked, so the family's client is told once however many deny it.
      const grant = await this.#state.update<OwnedItem>(grantKey(what.gid), { revoked: true }, { present: true, equals: { revoked: false } }).catch(gone);
      if (grant) ended.grant(grant);
    }
    if (what.ssoHash) {
      await this.#endSession(keyOfHash(what.ssoHash), ended);
    } else if (what.sid) {
      let cursor: string | undefined;
      do {
        const page = await this.#state.query<OwnedItem>({
          index: 'GSI1',
          partition: ownerPartition(tenant, username),
          sortPrefix: 'SSO#',
          limit: 100,
          ...(cursor ? { cursor } : {}),
        });
        for (const item of page.items) if (item.session?.sid === what.sid) await this.#endSession({ PK: item.PK, SK: item.SK }, ended, item);
        cursor = page.cursor;
      } while (cursor);
    }
    await this.#logout?.notify(tenant, username, ended);
  }

  /** Deletes one SSO session (read first when not at hand: its `sid` names what the RPs hold); noted in `ended` if this call ended it. */
  async #endSession(key: { PK: string; SK: string }, ended: Ended, item?: OwnedItem): Promise<void> {
    const found = item ?? (this.#logout ? await this.#state.get<OwnedItem>(key) : undefined);
    try {
      await this.#state.delete(key, { present: true });
      ended.session(found ?? { PK: key.PK, SK: key.SK });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
  }

  /**
   * Ends what one device holds: its card sessions (opened with its key), and its refresh-token families:
   * those DPoP-bound to its key (its PRT) and those that registered it. `cardSessions: false` for a
   * function that may not touch cards (the portal, where users sign their own devices out): the families
   * only, which ends the agent's sign-in (the family's access tokens, which card API calls carry, stop too).
   */
  async endDevice(tenant: string, username: string, jkt: string, grants: readonly string[], options: { cardSessions?: boolean } = {}): Promise<void> {
    const cardSessions = options.cardSessions ?? true;
    const ended = new Ended();
    try {
      await this.#endOwned(
        tenant,
        username,
        'access-revoked',
        undefined,
        (item) =>
          (item.GSI1SK.startsWith('GRANT#') && (item.rtBinding === jkt || grants.includes(item.GSI1SK.slice('GRANT#'.length)))) ||
          (cardSessions && item.GSI1SK.startsWith('CARDSESS#') && item.session?.jkt === jkt),
        ended,
      );
    } finally {
      await this.#logout?.notify(tenant, username, ended);
    }
  }

  /**
   * Ends a user's web access only: refresh-token families (revoked) and SSO sessions (deleted), not card
   * sessions (a Shared Signals session-revoked or credential-change, received by the oidc function, which
   * holds no card grants; the card's next session open goes through the access check anyway).
   */
  async endWebSessions(tenant: string, username: string): Promise<void> {
    const ended = new Ended();
    try {
      await this.#endOwned(tenant, username, 'access-revoked', 'GRANT#', undefined, ended);
      await this.#endOwned(tenant, username, 'access-revoked', 'SSO#', undefined, ended);
    } finally {
      await this.#logout?.notify(tenant, username, ended);
    }
  }

  async endCardSessions(tenant: string, username: string, card: string): Promise<void> {
    await this.#endOwned(tenant, username, 'card-deleted', cardSessionPrefix(card));
  }

  async #endOwned(
    tenant: string,
    username: string,
    why: SessionEnd,
    sortPrefix?: string,
    which: (item: OwnedItem) => boolean = () => true,
    ended?: Ended,
  ): Promise<void> {
    let failure: unknown;
    let cursor: string | undefined;
    do {
      const page = await this.#state.query<OwnedItem>({
        index: 'GSI1',
        partition: ownerPartition(tenant, username),
        limit: 100,
        ...(sortPrefix ? { sortPrefix } : {}),
        ...(cursor ? { cursor } : {}),
      });
      for (const item of page.items.filter(which)) await this.#end(tenant, item, why, ended).catch((error: unknown) => (failure ??= error));
      cursor = page.cursor;
    } while (cursor);
    if (failure) throw failure;
  }

  async #end(tenant: string, item: OwnedItem, why: SessionEnd, ended?: Ended): Promise<void> {
    const key = { PK: item.PK, SK: item.SK };
    const gone = (error: unknown) => {
      // Expired or ended meanwhile: nothing left to revoke.
      if (!(error instanceof ConflictError)) throw error;
    };
    if (item.GSI1SK.startsWith('CARDSESS#')) {
      const { id, card } = item.session ?? {};
      if (id && card) await clearActiveSession(this.#directory, tenant, card, id);
      // A tombstone, not a delete: the PIV state (PIN verified) is scrubbed, and the agent's next call
      // learns why (access-revoked or card-deleted, both "remove the card") instead of "expired, re-open".
      // `seq` -1 is never a live value, so an APDU that read the session before loses its guarded write.
      await this.#state.update(key, { ended: why, piv: null, seq: -1 }, { present: true }).catch(gone);
    } else if (item.GSI1SK.startsWith('GRANT#')) {
      if (item['revoked'] === true) return;
      await this.#state.update(key, { revoked: true }, { present: true }).then(() => ended?.grant(item), gone);
    } else if (item.GSI1SK.startsWith('SSO#')) {
      await this.#state.delete(key, { present: true }).then(() => ended?.session(item), gone);
    }
  }
}
