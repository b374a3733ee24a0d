import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MacKey } from '../../ports.ts';
import type { PivSessionState } from '../piv/session.ts';

/** The label the session-state subkey is derived under (the card function's own MAC key). */
export const SESSION_SEAL_LABEL = 'cloudcard/card-session-state/v1';

/** What a seal binds: the session item (its key, the hash of the secret), the session, the card, the sequence number and the state. */
export interface SealedFields {
  /** The session item's partition key (`CARDSESS#` + SHA-256 of the bearer secret). */
  readonly itemKey: string;
  readonly sessionId: string;
  readonly tenant: string;
  readonly card: string;
  readonly seq: number;
  readonly piv: PivSessionState;
}

/**
 * A MAC over a card session's PIV security state, under a subkey of a MAC key only the card function may
 * use. Any function that can write the state table could otherwise write "PIN verified" into a session;
 * without the key it cannot make a seal that verifies. Computing and checking a seal is local HMAC work
 * (the subkey is derived once per container), so an APDU still costs no KMS call.
 */
export class SessionSeal {
  readonly #key: MacKey;

  constructor(key: MacKey) {
    this.#key = key;
  }

  async seal(fields: SealedFields): Promise<string> {
    const subkey = await this.#key.deriveSubkey(SESSION_SEAL_LABEL);
    return createHmac('sha256', subkey)
      .update(canonicalJson(sealInput(fields)))
      .digest('base64url');
  }

  /** Whether the stored seal is the one these fields get; a missing or malformed seal never verifies. */
  async verify(fields: SealedFields, stored: unknown): Promise<boolean> {
    if (typeof stored !== 'string') return false;
    const expected = Buffer.from(await this.seal(fields), 'base64url');
    const actual = Buffer.from(stored, 'base64url');
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }
}

const sealInput = (fields: SealedFields) => ['card-session-state', fields.itemKey, fields.sessionId, fields.tenant, fields.card, fields.seq, fields.piv];

/**
 * JSON with object keys sorted at every level: the stored state comes back from DynamoDB as a map whose
 * key order is not preserved, and the seal must not depend on it.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
