import type { Item, StateStore } from '../../ports.ts';
import type { OidcLogoutOutcome, OidcLogoutTarget } from '../oidc/backchannel-logout.ts';
import type { SecurityEvents } from '../security-events.ts';
import { ownerPartition } from './owner-index.ts';

/** An SSO session that was ended: its stored hash (what its SAML participants hang off) and public `sid`. */
export interface EndedSession {
  readonly hash: string;
  readonly sid?: string;
}

/** A refresh-token family (grant) that was revoked: its client and the session it came from. */
export interface EndedGrant {
  readonly clientId: string;
  readonly sid?: string;
}

/** What one decision not the user's own ended (a risk denial, an administrator, Shared Signals, a device removal). */
export interface EndedAccess {
  readonly sessions: readonly EndedSession[];
  readonly grants: readonly EndedGrant[];
}

/** The port AccessRevocation tells; it never throws and returns within its bound. */
export interface ParticipantLogoutNotifier {
  notify(tenant: string, username: string, ended: EndedAccess): Promise<void>;
}

/**
 * One ended access to tell the relying parties of, as a function without the token-signing key hands it
 * to the function that has it (the oidc function): `baseUrl` is the `{base}` of the request that ended it.
 */
export interface ParticipantLogoutRequest {
  readonly tenant: string;
  readonly username: string;
  readonly ended: EndedAccess;
  readonly baseUrl?: string;
}

/** Carries a request to the oidc function (in AWS an asynchronous Lambda invoke); resolves once it is accepted. */
export interface LogoutRelay {
  send(request: ParticipantLogoutRequest): Promise<void>;
}

/** A SAML session participant as recorded at assertion time (core/saml/session-participants.ts). */
export interface SamlParticipantRecord {
  readonly spEntityId: string;
  readonly nameId: string;
  readonly nameIdFormat: string;
  readonly spProvidedId?: string;
  readonly sessionIndex: string;
}

/** `front-channel-only`: the SP has no SOAP SingleLogoutService; only the user's browser could reach it. */
export type SamlLogoutOutcome = 'sent' | 'not-registered' | 'front-channel-only';

/** The two ways out. A function that cannot build one (the oidc function bundles no XML) leaves it absent. */
export interface LogoutChannels {
  readonly oidc?: { logout(tenant: string, issuer: string, target: OidcLogoutTarget): Promise<OidcLogoutOutcome> };
  readonly saml?: { logout(tenant: string, issuer: string, participant: SamlParticipantRecord): Promise<SamlLogoutOutcome> };
}

export interface ParticipantLogoutDeps extends LogoutChannels {
  readonly state: StateStore;
  readonly events: SecurityEvents;
  /** `{base}` of the deployment (the request being served, else the configured public URL); issuers are `{base}/t/{tenant}`. */
  readonly baseUrl: () => string | undefined;
  /** Calls in flight at once. */
  readonly parallelism?: number;
  /** The whole delivery is given up after this; what has not answered by then counts as failed. */
  readonly deadlineMs?: number;
}

export const LOGOUT_PARALLELISM = 4;
/** Within the functions' 10 s, above one SOAP call's 3 s and one back-channel POST's 2 s. */
export const LOGOUT_DEADLINE_MS = 5000;

type ParticipantItem = Item & { tenant: string; participant: SamlParticipantRecord };
type GrantItem = Item & { clientId?: string; sid?: string };

interface Job {
  /** `client` of the security event: the OAuth client id or `saml:{entityID}`. */
  readonly client: string;
  readonly run: () => Promise<string>;
}

/**
 * Tells the relying parties of ended sessions and families that their user is gone: OIDC clients that
 * registered a `backchannel_logout_uri` get a logout token, SAML SPs with a SOAP SingleLogoutService a
 * signed LogoutRequest. Who took part is what the session already records: the SAML participant items
 * (one per SP, on GSI1 `SSO#{hash}`) and the grants made from it (their `sid`, on the owner index).
 * Bounded: a few calls at once, each under its own timeout (outbound URL policy), all given up at the
 * deadline; every outcome is a security event, and nothing here fails the decision that ended the session.
 */
export class ParticipantLogout implements ParticipantLogoutNotifier {
  readonly #deps: ParticipantLogoutDeps;

  constructor(deps: ParticipantLogoutDeps) {
    this.#deps = deps;
  }

  /** `baseUrl` overrides the deps' one: a relayed request carries the `{base}` of the request that ended the access. */
  async notify(tenant: string, username: string, ended: EndedAccess, baseUrl?: string): Promise<void> {
    if (ended.sessions.length === 0 && ended.grants.length === 0) return;
    const emitFailure = (client: string, reason: string) => this.#deps.events.emit({ kind: 'participant-logout-failed', tenant, username, client, reason });
    let jobs: Job[];
    try {
      jobs = await this.#jobs(tenant, username, ended, baseUrl);
    } catch {
      // The participants could not be read: the decision stands, the logout is reported as not done.
      emitFailure('*', 'participants-unreadable');
      return;
    }
    const base = baseUrl ?? this.#deps.baseUrl();
    if (!base) {
      for (const job of jobs) emitFailure(job.client, 'no-issuer');
      return;
    }
    const results = await runBounded(
      jobs.map((job) => job.run),
      this.#deps.parallelism ?? LOGOUT_PARALLELISM,
      this.#deps.deadlineMs ?? LOGOUT_DEADLINE_MS,
    );
    results.forEach((result, index) => {
      const client = jobs[index]!.client;
      if (result.state === 'done') {
        if (result.value === 'sent-oidc' || result.value === 'sent-saml')
          this.#deps.events.emit({ kind: 'participant-logout', tenant, username, client, reason: result.value === 'sent-oidc' ? 'backchannel' : 'soap' });
        else if (result.value !== 'not-registered') emitFailure(client, result.value);
      } else emitFailure(client, result.state === 'timeout' ? 'timeout' : 'unreachable');
    });
  }

  async #jobs(tenant: string, username: string, ended: EndedAccess, baseUrl: string | undefined): Promise<Job[]> {
    const { oidc, saml } = this.#deps;
    const issuer = () => `${baseUrl ?? this.#deps.baseUrl()}/t/${tenant}`;
    const [participants, targets] = await Promise.all([this.#samlParticipants(tenant, ended.sessions), this.#oidcTargets(tenant, username, ended)]);
    return [
      ...targets.map((target): Job => ({
        client: target.clientId,
        run: async () => (oidc ? ((await oidc.logout(tenant, issuer(), target)) === 'sent' ? 'sent-oidc' : 'not-registered') : 'no-channel'),
      })),
      ...participants.map((participant): Job => ({
        client: `saml:${participant.spEntityId}`,
        run: async () => {
          if (!saml) return 'no-channel';
          const outcome = await saml.logout(tenant, issuer(), participant);
          return outcome === 'sent' ? 'sent-saml' : outcome;
        },
      })),
    ];
  }

  /** The SPs that got an assertion in the ended sessions (one item per SP and session). */
  async #samlParticipants(tenant: string, sessions: readonly EndedSession[]): Promise<SamlParticipantRecord[]> {
    const found: SamlParticipantRecord[] = [];
    for (const session of sessions) {
      let cursor: string | undefined;
      do {
        const page = await this.#deps.state.query<ParticipantItem>({
          index: 'GSI1',
          partition: `SSO#${session.hash}`,
          sortPrefix: 'SAMLSI#',
          ...(cursor ? { cursor } : {}),
        });
        found.push(...page.items.filter((item) => item.tenant === tenant).map((item) => item.participant));
        cursor = page.cursor;
      } while (cursor);
    }
    return found;
  }

  /** The clients that got tokens from the ended sessions (grants carrying their sid), and those of the ended grants; one per (client, sid). */
  async #oidcTargets(tenant: string, username: string, ended: EndedAccess): Promise<OidcLogoutTarget[]> {
    const sids = new Set(ended.sessions.map((session) => session.sid).filter((sid): sid is string => !!sid));
    const pairs: EndedGrant[] = [...ended.grants];
    if (sids.size > 0) {
      let cursor: string | undefined;
      do {
        const page = await this.#deps.state.query<GrantItem>({
          index: 'GSI1',
          partition: ownerPartition(tenant, username),
          sortPrefix: 'GRANT#',
          limit: 100,
          ...(cursor ? { cursor } : {}),
        });
        for (const item of page.items) if (item.clientId && item.sid && sids.has(item.sid)) pairs.push({ clientId: item.clientId, sid: item.sid });
        cursor = page.cursor;
      } while (cursor);
    }
    const seen = new Map<string, OidcLogoutTarget>();
    for (const pair of pairs)
      seen.set(`${pair.clientId}\0${pair.sid ?? ''}`, { clientId: pair.clientId, sub: username, ...(pair.sid ? { sid: pair.sid } : {}) });
    return [...seen.values()];
  }
}

/**
 * The notifier of a function that holds no token-signing key (admin, portal in AWS): it signs nothing and
 * calls no relying party, it hands the ended access to the oidc function, which runs ParticipantLogout
 * (the one delivery) with its key. A hand-off that fails is a `participant-logout-failed` event; the
 * decision that ended the access stands.
 */
export class RelayedParticipantLogout implements ParticipantLogoutNotifier {
  readonly #relay: LogoutRelay;
  readonly #events: SecurityEvents;
  readonly #baseUrl: () => string | undefined;

  constructor(relay: LogoutRelay, events: SecurityEvents, baseUrl: () => string | undefined) {
    this.#relay = relay;
    this.#events = events;
    this.#baseUrl = baseUrl;
  }

  async notify(tenant: string, username: string, ended: EndedAccess): Promise<void> {
    if (ended.sessions.length === 0 && ended.grants.length === 0) return;
    const baseUrl = this.#baseUrl();
    try {
      await this.#relay.send({ tenant, username, ended, ...(baseUrl ? { baseUrl } : {}) });
    } catch {
      this.#events.emit({ kind: 'participant-logout-failed', tenant, username, client: '*', reason: 'relay-failed' });
    }
  }
}

export type BoundedResult<T> = { state: 'done'; value: T } | { state: 'failed'; error: unknown } | { state: 'timeout' };

/**
 * Runs the jobs `parallelism` at a time and returns when all are settled or the deadline passes,
 * whichever comes first: a job still running then (or never started) is `timeout`, and no job starts
 * after it. Never rejects.
 */
export async function runBounded<T>(jobs: readonly (() => Promise<T>)[], parallelism: number, deadlineMs: number): Promise<BoundedResult<T>[]> {
  const results: BoundedResult<T>[] = jobs.map(() => ({ state: 'timeout' }));
  let next = 0;
  let expired = false;
  const worker = async () => {
    while (!expired && next < jobs.length) {
      const index = next++;
      try {
        const value = await jobs[index]!();
        if (!expired) results[index] = { state: 'done', value };
      } catch (error) {
        if (!expired) results[index] = { state: 'failed', error };
      }
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, deadlineMs);
  });
  await Promise.race([Promise.all(Array.from({ length: Math.min(parallelism, jobs.length) }, worker)), deadline]);
  expired = true;
  clearTimeout(timer);
  return results;
}
