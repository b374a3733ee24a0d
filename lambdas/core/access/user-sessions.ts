import { NotFoundError } from '../errors.ts';
import type { Item, StateStore } from '../../ports.ts';
import type { DecisionEntry, RiskRecord } from '../risk/context.ts';
import type { SessionCorrelation } from '../risk/correlation.ts';
import { ownerPartition } from './owner-index.ts';
import type { ContinuationEndings } from './access-check.ts';

/** One of a user's live sessions as an administrator sees it: what it is, and its last context and decision. */
export interface SessionView {
  /** The SSO session's public `sid`, or the grant id of a refresh-token family. */
  readonly id: string;
  readonly kind: 'sso' | 'refresh-family';
  readonly clientId?: string;
  readonly authTime?: number;
  readonly acr?: string;
  readonly expiresAt: number;
  readonly ip?: string;
  readonly userAgent?: string;
  readonly country?: string;
  /** The thumbprint of the last key (DPoP or device key) seen with it. */
  readonly device?: string;
  readonly score?: number;
  readonly decision?: DecisionEntry['decision'];
  readonly reasons?: readonly string[];
  /** The last decisions (at most 10), oldest first. */
  readonly decisions: readonly DecisionEntry[];
  /** The device correlation of an SSO session (or of a family issued in one) as of its last check: device, card session, why, when, or lost. */
  readonly correlation?: SessionCorrelation;
}

type OwnedItem = Item & {
  GSI1SK: string;
  expiresAt: number;
  risk?: RiskRecord;
  session?: { sid?: string; authTime?: number; acr?: string };
  gid?: string;
  clientId?: string;
  revoked?: boolean;
};

/**
 * A user's SSO sessions and refresh-token families with their last context (the owner index, one
 * query), and ending one of them by id, the way a risk denial does.
 */
export class UserSessions {
  readonly #state: StateStore;
  readonly #endings: ContinuationEndings;

  constructor(state: StateStore, endings: ContinuationEndings) {
    this.#state = state;
    this.#endings = endings;
  }

  async list(tenant: string, username: string): Promise<SessionView[]> {
    const views: SessionView[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#state.query<OwnedItem>({
        index: 'GSI1',
        partition: ownerPartition(tenant, username),
        limit: 100,
        ...(cursor ? { cursor } : {}),
      });
      for (const item of page.items) {
        const view = viewOf(item);
        if (view) views.push(view);
      }
      cursor = page.cursor;
    } while (cursor);
    return views;
  }

  /** Ends the session or family with this id; NotFound when the user has no such live one. */
  async end(tenant: string, username: string, id: string): Promise<void> {
    const found = (await this.list(tenant, username)).find((view) => view.id === id);
    if (!found) throw new NotFoundError(`user ${username} has no live session ${id}`);
    await this.#endings.endContinuation(tenant, username, found.kind === 'sso' ? { sid: id } : { gid: id });
  }
}

function viewOf(item: OwnedItem): SessionView | undefined {
  const sso = item.GSI1SK.startsWith('SSO#');
  if (!sso && !item.GSI1SK.startsWith('GRANT#')) return undefined;
  if (!sso && item.revoked) return undefined;
  const id = sso ? item.session?.sid : item.gid;
  if (!id) return undefined;
  const risk = item.risk;
  const last = risk?.last;
  const decision = risk?.decisions.at(-1);
  return {
    id,
    kind: sso ? 'sso' : 'refresh-family',
    ...(item.clientId ? { clientId: item.clientId } : {}),
    ...(sso && item.session?.authTime !== undefined ? { authTime: item.session.authTime } : {}),
    ...(sso && item.session?.acr ? { acr: item.session.acr } : {}),
    expiresAt: item.expiresAt,
    ...(last?.ip ? { ip: last.ip } : {}),
    ...(last?.userAgent ? { userAgent: last.userAgent } : {}),
    ...(last?.location?.country ? { country: last.location.country } : {}),
    ...(last?.keyThumbprint ? { device: last.keyThumbprint } : {}),
    ...(decision ? { score: decision.score, decision: decision.decision, reasons: decision.reasons } : {}),
    decisions: risk?.decisions ?? [],
    ...(risk?.correlation ? { correlation: risk.correlation } : {}),
  };
}
