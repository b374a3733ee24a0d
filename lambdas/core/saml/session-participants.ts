import { opaqueHash } from '../oidc/hashing.ts';
import type { Item, StateStore } from '../../ports.ts';
import { entityHash } from './service-providers.ts';

/** An SP that received an assertion in an SSO session, with what it was told (for its LogoutRequest). */
export interface SamlParticipant {
  readonly spEntityId: string;
  readonly nameId: string;
  readonly nameIdFormat: string;
  readonly spProvidedId?: string;
  readonly sessionIndex: string;
}

type ParticipantItem = Item & { tenant: string; sessionHash: string; participant: SamlParticipant; expiresAt: number };

const participantKey = (tenant: string, spEntityId: string, sessionIndex: string) => ({
  PK: `SAMLSI#${opaqueHash(`${tenant}\0${spEntityId}\0${sessionIndex}`)}`,
  SK: 'SAMLSI',
});

/**
 * The session participants of SAML Single Logout (Core §3.7), one state item per (session, SP): written
 * by one put when the SP gets an assertion (a later assertion to the same SP replaces it, so concurrent
 * logins cannot lose each other's entries), found by the session (GSI1, owner = the session's hash)
 * and by the SP's (entityID, SessionIndex) for a back-channel LogoutRequest, which has no cookie.
 */
export class SessionParticipants {
  readonly #state: StateStore;

  constructor(state: StateStore) {
    this.#state = state;
  }

  async record(tenant: string, sessionHash: string, participant: SamlParticipant, expiresAt: number): Promise<void> {
    await this.#state.put({
      ...participantKey(tenant, participant.spEntityId, participant.sessionIndex),
      GSI1PK: `SSO#${sessionHash}`,
      GSI1SK: `SAMLSI#${entityHash(participant.spEntityId)}`,
      tenant,
      sessionHash,
      participant,
      expiresAt,
    });
  }

  async ofSession(tenant: string, sessionHash: string): Promise<SamlParticipant[]> {
    const found: SamlParticipant[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#state.query<ParticipantItem>({
        index: 'GSI1',
        partition: `SSO#${sessionHash}`,
        sortPrefix: 'SAMLSI#',
        ...(cursor ? { cursor } : {}),
      });
      found.push(...page.items.filter((item) => item.tenant === tenant && item.sessionHash === sessionHash).map((item) => item.participant));
      cursor = page.cursor;
    } while (cursor);
    return found;
  }

  /** The session an SP's SessionIndex belongs to, with the participant entry. */
  async bySessionIndex(tenant: string, spEntityId: string, sessionIndex: string): Promise<{ sessionHash: string; participant: SamlParticipant } | undefined> {
    if (!sessionIndex || sessionIndex.length > 256) return undefined;
    const item = await this.#state.get<ParticipantItem>(participantKey(tenant, spEntityId, sessionIndex));
    return item && item.tenant === tenant && item.participant.spEntityId === spEntityId
      ? { sessionHash: item.sessionHash, participant: item.participant }
      : undefined;
  }
}
