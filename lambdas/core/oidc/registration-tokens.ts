import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { Clock, Item, Random, StateStore } from '../../ports.ts';
import { OAuthError } from './errors.ts';
import { newOpaque, opaqueHash } from './hashing.ts';

/** How long an initial access token may live: long enough to hand over, short enough to forget. */
export const INITIAL_ACCESS_TOKEN_SECONDS = { default: 86_400, min: 60, max: 90 * 86_400 } as const;

/** An initial access token (RFC 7591 §3) as the operator sees it; the token itself is never stored. */
export interface InitialAccessToken {
  readonly id: string;
  readonly tenant: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Spent by the first registration it admits. */
  readonly singleUse: boolean;
}

type TokenItem = Item & InitialAccessToken & { expiresAt: number };

const tokenKey = (token: string) => ({ PK: `IAT#${opaqueHash(token)}`, SK: 'IAT' });
/** GSI1 lists a tenant's tokens (for `list` and `revoke`, which know only the id). */
const tenantListing = (tenant: string, id: string) => ({ GSI1PK: `IAT#LIST#${tenant}`, GSI1SK: `IAT#${id}` });

const refused = (description: string) =>
  new OAuthError('invalid_token', description, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });

/**
 * Initial access tokens: what a tenant in `initial-access-token` registration mode requires in
 * `Authorization: Bearer` on the registration endpoint. Made by the operator, stored only as a SHA-256
 * hash on the state table, always expiring; a single-use token is spent by one guarded delete, so of
 * two registrations racing with it exactly one gets in.
 */
export class InitialAccessTokens {
  readonly #state: StateStore;
  readonly #clock: Clock;
  readonly #random: Random;

  constructor(state: StateStore, clock: Clock, random: Random) {
    this.#state = state;
    this.#clock = clock;
    this.#random = random;
  }

  /** A new token, shown once. */
  async issue(tenant: string, options: { expiresInSeconds?: number; singleUse?: boolean } = {}): Promise<{ token: string; record: InitialAccessToken }> {
    const lifetime = options.expiresInSeconds ?? INITIAL_ACCESS_TOKEN_SECONDS.default;
    if (!Number.isInteger(lifetime) || lifetime < INITIAL_ACCESS_TOKEN_SECONDS.min || lifetime > INITIAL_ACCESS_TOKEN_SECONDS.max) {
      throw new ValidationError(
        `an initial access token lives between ${INITIAL_ACCESS_TOKEN_SECONDS.min} seconds and ${INITIAL_ACCESS_TOKEN_SECONDS.max / 86_400} days`,
      );
    }
    const token = newOpaque('iat_');
    const now = this.#nowSeconds();
    const record: InitialAccessToken = { id: this.#random.id(), tenant, createdAt: now, expiresAt: now + lifetime, singleUse: options.singleUse ?? false };
    await this.#state.put({ ...tokenKey(token), ...tenantListing(tenant, record.id), type: 'initial-access-token', ...record }, { absent: true });
    return { token, record };
  }

  /** The tenant's live tokens (never the tokens themselves). */
  async list(tenant: string): Promise<InitialAccessToken[]> {
    const out: InitialAccessToken[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#state.query<TokenItem>({
        index: 'GSI1',
        partition: `IAT#LIST#${tenant}`,
        sortPrefix: 'IAT#',
        limit: 100,
        ...(cursor ? { cursor } : {}),
      });
      const now = this.#nowSeconds();
      out.push(...page.items.filter((i) => i.expiresAt > now).map(recordOf));
      cursor = page.cursor;
    } while (cursor);
    return out;
  }

  /** Ends a token before it expires. */
  async revoke(tenant: string, id: string): Promise<void> {
    const page = await this.#state.query<TokenItem>({ index: 'GSI1', partition: `IAT#LIST#${tenant}`, sortPrefix: `IAT#${id}`, limit: 2 });
    const item = page.items.find((i) => i.id === id && i.expiresAt > this.#nowSeconds());
    if (!item) throw new NotFoundError(`no live initial access token ${id} in tenant ${tenant}`);
    try {
      await this.#state.delete({ PK: item.PK, SK: item.SK }, { present: true, equals: { id } });
    } catch (error) {
      if (error instanceof ConflictError) throw new NotFoundError(`no live initial access token ${id} in tenant ${tenant}`);
      throw error;
    }
  }

  /** The token's record if it is live and the tenant's, else `invalid_token` (401); spends nothing. */
  async verify(tenant: string, token: string | undefined): Promise<InitialAccessToken> {
    if (!token) throw refused('this tenant registers clients only with an initial access token (Authorization: Bearer)');
    const item = await this.#state.get<TokenItem>(tokenKey(token));
    // One answer for unknown, expired, spent and foreign tokens: none of them tells anything apart.
    if (!item || item.tenant !== tenant || item.expiresAt <= this.#nowSeconds()) throw refused('the initial access token is invalid, expired or already used');
    return recordOf(item);
  }

  /** Spends a single-use token (one guarded delete: the loser of a race is refused); others stay. */
  async spend(token: InitialAccessToken, presented: string): Promise<void> {
    if (!token.singleUse) return;
    try {
      await this.#state.delete(tokenKey(presented), { present: true, equals: { id: token.id, tenant: token.tenant } });
    } catch (error) {
      if (error instanceof ConflictError) throw refused('the initial access token is invalid, expired or already used');
      throw error;
    }
  }

  #nowSeconds(): number {
    return Math.floor(this.#clock.now() / 1000);
  }
}

const recordOf = (item: TokenItem): InitialAccessToken => ({
  id: item.id,
  tenant: item.tenant,
  createdAt: item.createdAt,
  expiresAt: item.expiresAt,
  singleUse: item.singleUse,
});
