import { ConflictError } from '../errors.ts';
import { ownedBy } from '../access/owner-index.ts';
import type { Clock, Item, Random, StateStore } from '../../ports.ts';
import { opaqueHash } from './hashing.ts';
import type { Authentication } from './interactions.ts';
import { newRiskRecord, type AccessContext } from '../risk/context.ts';
import type { SessionCorrelation } from '../risk/correlation.ts';

/**
 * The SSO session behind the portal cookie. The cookie holds a 256-bit secret; the record is stored
 * under its hash, so a leaked table row cannot be replayed as a cookie. `sid` is the public id that ID
 * tokens and logout use.
 */
export interface SsoSession extends Authentication {
  readonly sid: string;
  readonly tenant: string;
  /** Clients that received tokens in this session (for logout). */
  readonly clients: readonly string[];
  /**
   * Its device correlation as of its last check: never stored in the session object, `find` adds it from
   * the risk record so that a code issued in the session hands it to the refresh-token family.
   */
  readonly correlation?: SessionCorrelation;
}

type SessionItem = Item & { session: SsoSession; expiresAt: number; risk?: { correlation?: SessionCorrelation } };
/** The stored form of a session secret: its record's key, and the owner key of what hangs off the session. */
export const sessionHash = (secret: string): string => opaqueHash(secret);
export const keyOfHash = (hash: string) => ({ PK: `SSO#${hash}`, SK: 'SSO' });
const sessionKey = (secret: string) => keyOfHash(sessionHash(secret));

export class SsoSessions {
  readonly #state: StateStore;
  readonly #clock: Clock;
  readonly #random: Random;

  constructor(state: StateStore, clock: Clock, random: Random) {
    this.#state = state;
    this.#clock = clock;
    this.#random = random;
  }

  /** Starts a session; returns the cookie secret (never stored) and the session. `correlation`: its device correlation, kept in its risk record. */
  async start(
    tenant: string,
    authentication: Authentication,
    lifetimeSeconds: number,
    context?: AccessContext,
    correlation?: SessionCorrelation,
  ): Promise<{ secret: string; session: SsoSession }> {
    const secret = Buffer.from(this.#random.bytes(32)).toString('base64url');
    const session: SsoSession = { ...authentication, sid: this.#random.id(), tenant, clients: [] };
    // Indexed under its user, so disabling the user ends it (core/access/revocation.ts).
    await this.#state.put(
      {
        ...sessionKey(secret),
        ...ownedBy(tenant, authentication.sub, 'SSO', sessionHash(secret)),
        session,
        ...(context ? { risk: newRiskRecord(context, correlation) } : {}),
        expiresAt: Math.floor(this.#clock.now() / 1000) + lifetimeSeconds,
      },
      { absent: true },
    );
    return { secret, session };
  }

  /** The live session a cookie names in this tenant, if any. */
  async find(tenant: string, secret: string | undefined): Promise<SsoSession | undefined> {
    if (!secret || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return undefined;
    const item = await this.#state.get<SessionItem>(sessionKey(secret));
    if (!item || item.session.tenant !== tenant) return undefined;
    return item.risk?.correlation ? { ...item.session, correlation: item.risk.correlation } : item.session;
  }

  async addClient(secret: string, session: SsoSession, clientId: string): Promise<void> {
    if (session.clients.includes(clientId)) return;
    const { correlation: _kept, ...stored } = session; // kept in the risk record, not in the session object
    await this.#state.update(sessionKey(secret), { session: { ...stored, clients: [...session.clients, clientId] } }, { present: true }).catch(() => undefined);
  }

  /** The live session stored under this hash (back-channel logout knows the hash, never the secret). */
  async findByHash(tenant: string, hash: string): Promise<SsoSession | undefined> {
    const item = await this.#state.get<SessionItem>(keyOfHash(hash));
    return item && item.session.tenant === tenant ? item.session : undefined;
  }

  /** Ends the session stored under this hash; false when it had already ended. */
  async endByHash(hash: string): Promise<boolean> {
    try {
      await this.#state.delete(keyOfHash(hash), { present: true });
      return true;
    } catch (error) {
      if (error instanceof ConflictError) return false;
      throw error;
    }
  }

  async end(secret: string): Promise<SsoSession | undefined> {
    const item = await this.#state.get<SessionItem>(sessionKey(secret));
    await this.#state.delete(sessionKey(secret)).catch(() => undefined);
    return item?.session;
  }
}
