import { ConflictError } from '../errors.ts';
import { grantKey } from '../oidc/grants.ts';
import { keyOfHash } from '../oidc/sessions.ts';
import type { Item, StateStore } from '../../ports.ts';
import type { RiskRecord } from '../risk/context.ts';

/** What a continuation continues, for its risk record: an SSO session (by its hash) or a grant (refresh-token family). */
export type RiskRecordRef = { readonly kind: 'sso'; readonly hash: string } | { readonly kind: 'grant'; readonly gid: string };

const keyOf = (ref: RiskRecordRef) => (ref.kind === 'sso' ? keyOfHash(ref.hash) : grantKey(ref.gid));

/**
 * The `risk` attribute of an SSO session or grant item: issue context, last context, known keys, last
 * decisions. Written with one update of that item (present and live); a lost race between two
 * continuations of one family may drop one history entry, never the item's other attributes.
 */
export class RiskRecords {
  readonly #state: StateStore;

  constructor(state: StateStore) {
    this.#state = state;
  }

  async load(ref: RiskRecordRef): Promise<RiskRecord | undefined> {
    return (await this.#state.get<Item & { risk?: RiskRecord }>(keyOf(ref)))?.risk;
  }

  async save(ref: RiskRecordRef, record: RiskRecord): Promise<void> {
    try {
      await this.#state.update(keyOf(ref), { risk: record }, { present: true });
    } catch (error) {
      // Ended or expired meanwhile: nothing left to record on.
      if (!(error instanceof ConflictError)) throw error;
    }
  }
}
