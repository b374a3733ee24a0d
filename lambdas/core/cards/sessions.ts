import { calculateJwkThumbprint, compactVerify, importJWK, type JWK } from 'jose';
import { NO_SECURITY_EVENTS, type SecurityEvents } from '../security-events.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { opaqueHash } from '../oidc/hashing.ts';
import { handleApdu } from '../piv/application.ts';
import { newSessionState, validSessionState, type PivSessionState } from '../piv/session.ts';
import type { Clock, Item, Random, StateStore } from '../../ports.ts';
import type { AccessCheck, AccessContext, AccessDecision, Continuation } from '../access/access-check.ts';
import { ownedBy, type SessionEnd } from '../access/owner-index.ts';
import type { Tenant } from '../directory/tenant.ts';
import type { CardItem } from './card-item.ts';
import type { Cards } from './cards.ts';
import type { SessionSeal } from './session-seal.ts';

/** A challenge must be answered within this many seconds. */
const CHALLENGE_SECONDS = 60;
/** Device proofs: the algorithms an agent's device key may use. */
const DEVICE_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];
/** The largest command APDU accepted: extended length with 65535 data bytes and Le. */
export const MAX_APDU_BYTES = 4 + 3 + 65_535 + 2;

/** Why a session cannot carry an APDU; the card API turns each into its own problem type. */
export class CardSessionError extends Error {
  override readonly name = 'CardSessionError';
  readonly reason: 'expired' | 'superseded' | 'card-deleted' | 'busy' | 'access-revoked';
  constructor(reason: CardSessionError['reason'], message: string) {
    super(message);
    this.reason = reason;
  }
}

interface ChallengeRecord {
  readonly tenant: string;
  readonly card: string;
  readonly username: string;
  /** RFC 7638 thumbprint of the device key that must sign the answer. */
  readonly jkt: string;
}

/** The stored session: its PIV security state travels between Lambda instances through this item. */
export interface CardSession {
  readonly id: string;
  readonly tenant: string;
  readonly card: string;
  readonly username: string;
  readonly jkt: string;
  readonly openedAt: number;
  readonly pinPolicy: Tenant['pinPolicy'];
  /** The tenant's renewal policy when the session was opened (absent on sessions from before renewal existed). */
  readonly renewal?: RenewalPolicy;
}

/** How long one lifetime extends the session, and how long a verified PIN may be carried across renewals. */
export interface RenewalPolicy {
  readonly lifetimeSeconds: number;
  readonly pinIdleSeconds: number;
  readonly pinMaxSeconds: number;
}

/** An APDU refreshes the session's idle clock when it is older than this (so not every APDU writes). */
const ACTIVITY_STEP_SECONDS = 30;

/**
 * The renewal rule, over epoch seconds: the new expiry (one lifetime from now, capped at the absolute
 * maximum) or why the session must end instead. `activeAt`: the last APDU the session carried.
 */
export function renewalOf(policy: RenewalPolicy, openedAt: number, activeAt: number, now: number): { expiresAt: number } | { end: 'idle' | 'maximum' } {
  const maximum = openedAt + policy.pinMaxSeconds;
  if (now >= maximum) return { end: 'maximum' };
  if (now >= activeAt + policy.pinIdleSeconds) return { end: 'idle' };
  return { expiresAt: Math.min(now + policy.lifetimeSeconds, maximum) };
}

type ChallengeItem = Item & { challenge: ChallengeRecord; expiresAt: number };
/**
 * `pivMac` seals `piv` to the session and `seq` (session-seal.ts): a state without a good seal is not trusted.
 * `ended`: a tombstone left by revocation or card deletion (PIV state scrubbed), so the agent learns why.
 */
type SessionItem = Item & {
  session: CardSession;
  piv: PivSessionState | null;
  pivMac?: string;
  seq: number;
  expiresAt: number;
  ended?: SessionEnd;
  /** Epoch seconds of the last APDU (within ACTIVITY_STEP_SECONDS): the idle clock of the verified PIN. */
  activeAt?: number;
  /** Counts renewals: each one is guarded on it, so of concurrent renewals exactly one wins. */
  renewals?: number;
};

const challengeKey = (nonce: string) => ({ PK: `CARDCHAL#${opaqueHash(nonce)}`, SK: 'CARDCHAL' });
const sessionKey = (secret: string) => ({ PK: `CARDSESS#${opaqueHash(secret)}`, SK: 'CARDSESS' });

const OPAQUE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The session token the agent sends with each APDU: `{hint}.{secret}`, the hint being base64url JSON
 * [card, username]. The hint lets an APDU read the session, the card, the tenant and the user at once
 * (one round trip) instead of the session first; it is no credential: the session is found by the hash
 * of the secret alone, and a hint that does not match the session found is refused as an unknown session.
 */
export function sessionToken(secret: string, card: string, username: string): string {
  return `${Buffer.from(JSON.stringify([card, username]), 'utf8').toString('base64url')}.${secret}`;
}

/** The token's parts, or undefined when it is not one (then it names no session). */
export function parseSessionToken(token: string): { secret: string; card: string; username: string } | undefined {
  const dot = token.lastIndexOf('.');
  const secret = token.slice(dot + 1);
  if (dot <= 0 || !OPAQUE.test(secret)) return undefined;
  try {
    const hint: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
    if (!Array.isArray(hint) || hint.length !== 2 || !hint.every((part) => typeof part === 'string' && part.length > 0)) return undefined;
    return { secret, card: hint[0] as string, username: hint[1] as string };
  } catch {
    return undefined;
  }
}

/**
 * Card sessions. Opening one is a challenge-response with the agent's device key; the new session then
 * becomes the card's only active one by one write of `activeSession` on the card item (the last opener
 * wins, so two racing openers end with exactly one active session). The bearer secret the agent gets is
 * stored only as its hash; the session's PIV security state lives in the state table with an expiry,
 * sealed by a MAC under a key only the card function holds. A state whose seal does not verify (written
 * by anything else, e.g. "PIN verified" forged by another function with state-table access) is treated
 * as a power cycle: the command runs on a fresh security state, which is stored back sealed.
 */
export class CardSessions {
  readonly #state: StateStore;
  readonly #cards: Cards;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #access: Pick<AccessCheck, 'continueAccess' | 'start'>;
  readonly #seal: SessionSeal;
  readonly #events: SecurityEvents;

  constructor(
    state: StateStore,
    cards: Cards,
    clock: Clock,
    random: Random,
    access: Pick<AccessCheck, 'continueAccess' | 'start'>,
    seal: SessionSeal,
    events: SecurityEvents = NO_SECURITY_EVENTS,
  ) {
    this.#state = state;
    this.#cards = cards;
    this.#clock = clock;
    this.#random = random;
    this.#access = access;
    this.#seal = seal;
    this.#events = events;
  }

  /** Issues a nonce for the user's card, to be signed by the device key with this thumbprint. */
  async challenge(tenant: Tenant, username: string, cardId: string, deviceKey: unknown): Promise<{ nonce: string; expiresAt: number; jkt: string }> {
    const card = await this.#ownCard(tenant.id, username, cardId);
    const jkt = await deviceThumbprint(deviceKey);
    const nonce = Buffer.from(this.#random.bytes(32)).toString('base64url');
    const expiresAt = this.#seconds() + CHALLENGE_SECONDS;
    await this.#state.put({ ...challengeKey(nonce), challenge: { tenant: tenant.id, card: card.id, username, jkt }, expiresAt }, { absent: true });
    return { nonce, expiresAt, jkt };
  }

  /**
   * Opens a session from a signed challenge: a compact JWS by the device key (its public JWK in the
   * header) over {"nonce", "card"}. The challenge is consumed first (one guarded delete), so an answer
   * works once. `grantedAt` is when the user signed in for the token that asks (the access check refuses
   * the opening when access was revoked since).
   * `secret` is the session token (sessionToken) the agent sends with each APDU.
   */
  async open(
    tenant: Tenant,
    username: string,
    cardId: string,
    proof: string,
    grantedAt?: number,
    context: AccessContext = {},
  ): Promise<{ secret: string; session: CardSession; expiresAt: number }> {
    const verified = await verifyDeviceProof(proof);
    const nonce = typeof verified.payload['nonce'] === 'string' ? verified.payload['nonce'] : '';
    if (!OPAQUE.test(nonce) || verified.payload['card'] !== cardId) throw new ValidationError('the proof must sign {"nonce", "card"} of this challenge');
    const challenge = await this.#state.get<ChallengeItem>(challengeKey(nonce));
    try {
      await this.#state.delete(challengeKey(nonce), { present: true });
    } catch (error) {
      if (error instanceof ConflictError) throw new ValidationError('the challenge is unknown, used or expired');
      throw error;
    }
    const record = challenge?.challenge;
    if (!record || record.tenant !== tenant.id || record.card !== cardId || record.username !== username) {
      throw new ValidationError('the challenge was issued for another card or user');
    }
    if (record.jkt !== verified.jkt) throw new ValidationError('the proof was signed by another key than the challenge names');
    const [, decision] = await Promise.all([
      this.#ownCard(tenant.id, username, cardId),
      this.#access.continueAccess({
        kind: 'card-session-open',
        tenant: tenant.id,
        subject: { user: username },
        card: cardId,
        ...(grantedAt === undefined ? {} : { grantedAt }),
        context: { ...context, keyThumbprint: verified.jkt },
      }),
    ]);
    refuseUnlessAllowed(decision);

    const secret = Buffer.from(this.#random.bytes(32)).toString('base64url');
    const now = this.#clock.now();
    const lifetimes = tenant.sessionLifetimes;
    const renewal: RenewalPolicy = {
      lifetimeSeconds: lifetimes.cardSessionSeconds,
      pinIdleSeconds: lifetimes.cardPinIdleSeconds ?? 3_600,
      pinMaxSeconds: lifetimes.cardPinMaxSeconds ?? 12 * 3_600,
    };
    const session: CardSession = {
      id: this.#random.id(),
      tenant: tenant.id,
      card: cardId,
      username,
      jkt: verified.jkt,
      openedAt: now,
      pinPolicy: tenant.pinPolicy,
      renewal,
    };
    const expiresAt = Math.floor(now / 1000) + Math.min(lifetimes.cardSessionSeconds, renewal.pinMaxSeconds);
    const piv = newSessionState();
    const pivMac = await this.#seal.seal(sealedFields(secret, session, 0, piv));
    // Indexed under its holder and card: disabling the user or deleting the card ends it at once.
    // `openedFrom`: the address a browser sign-in is correlated by (core/risk/correlation.ts).
    await this.#state.put(
      {
        ...sessionKey(secret),
        ...ownedBy(tenant.id, username, 'CARDSESS', `${cardId}#${session.id}`),
        session,
        ...(context.ip ? { openedFrom: context.ip } : {}),
        piv,
        pivMac,
        seq: 0,
        expiresAt,
        activeAt: Math.floor(now / 1000),
        renewals: 0,
      },
      { absent: true },
    );
    await this.#cards.activate(tenant.id, cardId, session.id);
    this.#events.emit({ kind: 'card-session-open', tenant: tenant.id, username, card: cardId, ...(context.ip ? { ip: context.ip } : {}) });
    return { secret: sessionToken(secret, cardId, username), session, expiresAt };
  }

  /**
   * Runs one command APDU on the session's card: reads the session, the card, the tenant and the user in
   * one round trip (the token names the card and the user), checks access still holds and the session is
   * the card's active one, runs the card application, and stores the new security state guarded on the
   * sequence number it read (a second APDU racing on the same session loses with "busy"). The card item,
   * with its PIN counters, is read fresh for every APDU: nothing of it is cached.
   */
  async apdu(
    tenantId: string,
    token: string,
    command: Uint8Array,
    options: { resetFirst?: boolean } = {},
  ): Promise<{ response: Uint8Array; trace: { ins: number; sw: number }; session: CardSession; pinRemaining: number }> {
    const { item, secret, card } = await this.#continued(tenantId, token, 'apdu');
    // A power cycle the agent reports with the command, or a state without a good seal: the command runs
    // on a fresh security state.
    const sealed = !options.resetFirst && item.piv !== null && (await this.#seal.verify(sealedFields(secret, item.session, item.seq, item.piv), item.pivMac));
    const piv = sealed && item.piv ? (validSessionState(item.piv) ?? newSessionState()) : newSessionState();
    const view = this.#cards.openView(card, item.session.pinPolicy);
    const result = await handleApdu(command, piv, { card: view, random: this.#random });
    const nowSeconds = this.#seconds();
    const idleClockStale = (item.activeAt ?? 0) + ACTIVITY_STEP_SECONDS <= nowSeconds;
    if (!sealed || idleClockStale || JSON.stringify(result.state) !== JSON.stringify(piv)) {
      const seq = item.seq + 1;
      const pivMac = await this.#seal.seal(sealedFields(secret, item.session, seq, result.state));
      try {
        await this.#state.update(sessionKey(secret), { piv: result.state, pivMac, seq, activeAt: nowSeconds }, { present: true, equals: { seq: item.seq } });
      } catch (error) {
        if (error instanceof ConflictError)
          throw new CardSessionError('busy', 'another APDU changed this session meanwhile; commands on one session must be sequential');
        throw error;
      }
    }
    // This command used the last PIN try: the card is blocked until an unblock (PUK or administrator).
    if (card.pinRemaining > 0 && view.item.pinRemaining <= 0)
      this.#events.emit({ kind: 'pin-blocked', tenant: tenantId, username: item.session.username, card: item.session.card });
    // The PIN tries left after the command: the agent answers PIN status queries from it, locally.
    return { response: result.response, trace: result.trace, session: item.session, pinRemaining: view.item.pinRemaining };
  }

  /** Power off/on or reset from the reader: the security state starts over (PIN no longer verified). */
  async reset(tenantId: string, token: string): Promise<void> {
    const { item, secret } = await this.#continued(tenantId, token, 'apdu');
    const piv = newSessionState();
    const seq = item.seq + 1;
    try {
      await this.#state.update(
        sessionKey(secret),
        { piv, pivMac: await this.#seal.seal(sealedFields(secret, item.session, seq, piv)), seq },
        { present: true, equals: { seq: item.seq } },
      );
    } catch (error) {
      if (error instanceof ConflictError) throw new CardSessionError('busy', 'another call changed this session meanwhile; retry');
      throw error;
    }
  }

  /**
   * Renews a live session for one more lifetime, its PIV security state (a verified PIN) kept: through
   * the access check (kind `card-session`: a disabled user, tenant or card, or a takeover, refuses it),
   * within the tenant's policy (an idle timeout and an absolute maximum for the verified PIN; past either,
   * the session is ended and the agent must make the reader report a removal). One guarded write on the
   * renewal counter: of concurrent renewals one wins, the others get `busy`.
   */
  async renew(tenantId: string, token: string): Promise<{ expiresAt: number; session: CardSession }> {
    const { item, secret } = await this.#continued(tenantId, token, 'card-session');
    const policy = item.session.renewal;
    if (!policy) throw expired();
    const now = this.#seconds();
    const outcome = renewalOf(policy, Math.floor(item.session.openedAt / 1000), item.activeAt ?? Math.floor(item.session.openedAt / 1000), now);
    if ('end' in outcome) {
      await this.close(tenantId, token);
      throw new CardSessionError(
        'expired',
        outcome.end === 'idle'
          ? 'the card was idle longer than the tenant allows a verified PIN; the session is ended, open a new one (the PIN is asked again)'
          : "the verified PIN reached the tenant's maximum lifetime; the session is ended, open a new one (the PIN is asked again)",
      );
    }
    try {
      await this.#state.update(
        sessionKey(secret),
        { expiresAt: outcome.expiresAt, renewals: (item.renewals ?? 0) + 1 },
        { present: true, equals: { renewals: item.renewals ?? 0 } },
      );
    } catch (error) {
      if (error instanceof ConflictError) throw new CardSessionError('busy', 'another renewal of this session won meanwhile; use the expiry it set');
      throw error;
    }
    return { expiresAt: outcome.expiresAt, session: item.session };
  }

  /** Ends the session; if it was the card's active one, the card has none afterwards. */
  async close(tenantId: string, token: string): Promise<void> {
    const parsed = parseSessionToken(token);
    if (!parsed) throw expired();
    const secret = parsed.secret;
    const item = this.#checked(tenantId, parsed, await this.#state.get<SessionItem>(sessionKey(secret)));
    try {
      await this.#state.delete(sessionKey(secret), { present: true });
    } catch (error) {
      // Already gone (closed twice, or expired meanwhile) is fine; an outage is not: nothing else changes.
      if (!(error instanceof ConflictError)) throw error;
    }
    await this.#cards.deactivate(tenantId, item.session.card, item.session.id);
  }

  /**
   * The session, once it is this token's, access still holds for its user, and it is its card's active
   * one; with the card. Everything is read at once: session, card, tenant and user (the access check).
   */
  async #continued(tenantId: string, token: string, kind: Continuation['kind']): Promise<{ item: SessionItem; secret: string; card: CardItem }> {
    const parsed = parseSessionToken(token);
    if (!parsed) throw expired();
    const access = this.#access.start(tenantId, { user: parsed.username });
    const [item, card] = await Promise.all([this.#state.get<SessionItem>(sessionKey(parsed.secret)), settled(this.#cards.item(tenantId, parsed.card))]);
    const { session } = this.#checked(tenantId, parsed, item);
    const decision = await access.decide({
      kind,
      tenant: session.tenant,
      subject: { user: session.username },
      grantedAt: Math.floor(session.openedAt / 1000),
      card: session.card,
      sessionId: session.id,
      context: { keyThumbprint: session.jkt },
    });
    // A revoked access is the first thing the agent must learn: it outranks the card's own state.
    refuseUnlessAllowed(decision);
    if ('failed' in card) {
      if (card.failed instanceof NotFoundError) throw new CardSessionError('card-deleted', 'the card was deleted; remove it from the reader');
      throw card.failed;
    }
    if (card.value.activeSession !== session.id) {
      this.#events.emit({ kind: 'card-session-superseded', tenant: session.tenant, username: session.username, card: session.card, reason: kind });
      throw new CardSessionError(
        'superseded',
        'another client opened a session for this card (or an administrator disconnected it); remove the card from the reader, re-insert it to take it back',
      );
    }
    return { item: item!, secret: parsed.secret, card: card.value };
  }

  /** The session item, if it is the live session of this tenant the token names (its hint included). */
  #checked(tenantId: string, parsed: ReturnType<typeof parseSessionToken>, item: SessionItem | undefined): SessionItem {
    if (!parsed || !item || item.session.tenant !== tenantId || item.session.card !== parsed.card || item.session.username !== parsed.username) throw expired();
    if (item.ended === 'card-deleted') throw new CardSessionError('card-deleted', 'the card was deleted; remove it from the reader');
    if (item.ended)
      throw new CardSessionError('access-revoked', 'access to this card was revoked (the user or the tenant was disabled); remove the card from the reader');
    return item;
  }

  async #ownCard(tenantId: string, username: string, cardId: string): Promise<CardItem> {
    const card = await this.#cards.item(tenantId, cardId);
    if (card.username !== username) throw new NotFoundError(`card ${cardId} does not exist in tenant ${tenantId}`);
    return card;
  }

  #seconds(): number {
    return Math.floor(this.#clock.now() / 1000);
  }
}

/** What the state's seal binds: the session item (by the hash of its secret), the session, its card, seq and state. */
function sealedFields(secret: string, session: CardSession, seq: number, piv: PivSessionState) {
  return { itemKey: sessionKey(secret).PK, sessionId: session.id, tenant: session.tenant, card: session.card, seq, piv };
}

const expired = (): CardSessionError => new CardSessionError('expired', 'the card session does not exist or has expired; open a new one');

/** A read's value or its failure, so reads started together can be judged in order of precedence. */
async function settled<T>(read: Promise<T>): Promise<{ value: T } | { failed: unknown }> {
  try {
    return { value: await read };
  } catch (error) {
    return { failed: error };
  }
}

function refuseUnlessAllowed(decision: AccessDecision): void {
  if (decision.outcome !== 'allow')
    throw new CardSessionError('access-revoked', `access to this card was revoked: ${decision.message}; remove the card from the reader`);
}

/** The RFC 7638 thumbprint of a device public key given as a JWK; private members are refused. */
export async function deviceThumbprint(jwk: unknown): Promise<string> {
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) throw new ValidationError('deviceKey must be a public JWK');
  const key = jwk as JWK;
  if ('d' in key || 'p' in key || 'k' in key) throw new ValidationError('deviceKey must be a public key');
  if (!['EC', 'OKP', 'RSA'].includes(String(key.kty))) throw new ValidationError('deviceKey must be an EC, OKP or RSA key');
  try {
    return await calculateJwkThumbprint(key);
  } catch {
    throw new ValidationError('deviceKey is not a valid JWK');
  }
}

/** Verifies a JWS signed by the device key it carries in its `jwk` header; `typ` names what it proves. */
export async function verifyDeviceProof(proof: unknown, typ = 'cloudcard-session+jwt'): Promise<{ payload: Record<string, unknown>; jkt: string }> {
  if (typeof proof !== 'string' || proof.length > 8192) throw new ValidationError('proof must be a compact JWS');
  try {
    const header = JSON.parse(Buffer.from(proof.split('.')[0] ?? '', 'base64url').toString('utf8')) as { alg?: string; jwk?: JWK; typ?: string };
    if (!header.alg || !DEVICE_ALGORITHMS.includes(header.alg)) throw new Error('alg');
    if (header.typ !== typ) throw new Error('typ');
    const jkt = await deviceThumbprint(header.jwk);
    const key = await importJWK(header.jwk!, header.alg);
    const { payload } = await compactVerify(proof, key, { algorithms: DEVICE_ALGORITHMS });
    return { payload: JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>, jkt };
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    throw new ValidationError(`proof is not a valid JWS of typ ${typ} signed by the key in its header`);
  }
}
