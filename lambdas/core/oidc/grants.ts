import { ConflictError } from '../errors.ts';
import { ownedBy } from '../access/owner-index.ts';
import type { Clock, Item, StateStore } from '../../ports.ts';
import { newRiskRecord, type AccessContext } from '../risk/context.ts';
import type { SessionCorrelation } from '../risk/correlation.ts';

/**
 * A grant ties together everything issued from one authorization (code, access tokens, refresh-token
 * family). Revoking it invalidates all of them: access tokens carry its id and are checked against it.
 */
export interface Grant {
  readonly gid: string;
  readonly tenant: string;
  readonly clientId: string;
  readonly sub: string;
  readonly scope: string;
  readonly revoked: boolean;
}

type GrantItem = Item & Grant & { expiresAt: number };
/** The grant item, which also carries its refresh-token family (refresh-tokens.ts). */
export const grantKey = (gid: string) => ({ PK: `GRANT#${gid}`, SK: 'GRANT' });

export class Grants {
  readonly #state: StateStore;
  readonly #clock: Clock;

  constructor(state: StateStore, clock: Clock) {
    this.#state = state;
    this.#clock = clock;
  }

  /**
   * Fails with ConflictError if the grant was revoked before it could be created (a replayed code). A
   * user's grant is indexed under the user, so disabling the user revokes it; a client_credentials
   * grant (`sub` is the client) is not. `family` are the attributes of the grant's refresh-token family
   * (RefreshTokens.open), written with the grant in the same put.
   */
  async create(
    grant: Omit<Grant, 'revoked'>,
    lifetimeSeconds: number,
    subject: 'user' | 'client' = 'user',
    family: Record<string, unknown> = {},
    context?: AccessContext,
    correlation?: SessionCorrelation,
  ): Promise<void> {
    const owner = subject === 'user' ? ownedBy(grant.tenant, grant.sub, 'GRANT', grant.gid) : {};
    // The issuing request's context is the family's risk baseline (issue 13), with its SSO session's device correlation.
    const risk = context ? { risk: newRiskRecord({ ...context, at: context.at ?? this.#clock.now() }, correlation) } : {};
    await this.#state.put(
      { ...family, ...grantKey(grant.gid), ...owner, ...grant, ...risk, revoked: false, expiresAt: Math.floor(this.#clock.now() / 1000) + lifetimeSeconds },
      { absent: true },
    );
  }

  /** The grant if it exists, has not expired and is not revoked. */
  async active(gid: string): Promise<Grant | undefined> {
    const item = await this.#state.get<GrantItem>(grantKey(gid));
    return item && !item.revoked ? item : undefined;
  }

  /**
   * Idempotent. A grant not created yet gets a revoked tombstone, so a redemption racing with the replay
   * that revokes it cannot create it afterwards.
   */
  async revoke(gid: string): Promise<void> {
    const item = await this.#state.get<GrantItem>(grantKey(gid));
    if (item?.revoked) return;
    if (item) {
      await this.#state.update(grantKey(gid), { revoked: true }, { present: true });
      return;
    }
    try {
      await this.#state.put({ ...grantKey(gid), gid, revoked: true, expiresAt: Math.floor(this.#clock.now() / 1000) + 86_400 }, { absent: true });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      await this.#state.update(grantKey(gid), { revoked: true }, { present: true });
    }
  }
}

/** Access tokens revoked one by one (RFC 7009), remembered until they would have expired anyway. */
export class RevokedAccessTokens {
  readonly #state: StateStore;

  constructor(state: StateStore) {
    this.#state = state;
  }

  async revoke(jti: string, exp: number): Promise<void> {
    await this.#state.put({ PK: `REVOKEDAT#${jti}`, SK: 'REVOKEDAT', expiresAt: exp });
  }

  async isRevoked(jti: string): Promise<boolean> {
    return (await this.#state.get({ PK: `REVOKEDAT#${jti}`, SK: 'REVOKEDAT' })) !== undefined;
  }
}
