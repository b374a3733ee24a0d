import type { SecurityEvents } from '../security-events.ts';
import type { Tenant, Tenants } from '../directory/tenant.ts';
import type { User, Users } from '../directory/user.ts';
import { NotFoundError } from '../errors.ts';
import type { Clock } from '../../ports.ts';
import { newRiskRecord, recordDecision, type AccessContext, type RiskRecord } from '../risk/context.ts';
import { assessRisk, type RiskAssessment } from '../risk/engine.ts';
import { bandsFor, DEFAULT_RISK_POLICY, type RiskPolicy } from '../risk/policy.ts';
import { combine, type ExternalRisk, type ExternalRiskRequest } from '../risk/external.ts';
import type { RiskRecordRef, RiskRecords } from './risk-records.ts';
import { correlationSignal, type SessionCorrelation } from '../risk/correlation.ts';
import type { CaepLevels, ReportedLevels } from './caep-levels.ts';
import type { DeviceCorrelations } from './correlations.ts';

/**
 * Every way an access granted earlier is carried on without a new sign-in. Each one goes through
 * `AccessCheck.continueAccess` before it yields anything (a token, a code, an assertion, a signature).
 */
export type ContinuationKind =
  | 'refresh'
  /** A device's PRT asking for a one-time browser-SSO transfer (`cloudcard-agent browser-sso`). */
  | 'sso-transfer'
  | 'code'
  | 'device-code'
  | 'sso-reuse-oidc'
  | 'sso-reuse-saml'
  /** An SP resolving the artifact of a Response issued moments before (the user may have been disabled since). */
  | 'saml-artifact'
  | 'userinfo'
  | 'card-api'
  /** A resource server asking whether a token is still good (RFC 7662): inactive unless the check allows. */
  | 'introspection'
  | 'card-session-open'
  /** Renewing a live card session (its verified PIN carried for one more lifetime). */
  | 'card-session'
  | 'apdu';

export type { AccessContext } from '../risk/context.ts';

/** Continuations whose context is scored (the hot ones, userinfo and every APDU, only get the hard rules). */
const SCORED: ReadonlySet<ContinuationKind> = new Set([
  'refresh',
  'sso-transfer',
  'code',
  'device-code',
  'sso-reuse-oidc',
  'sso-reuse-saml',
  'card-session-open',
]);

/** A typed description of one continuation: who continues what, for whom, from where. */
export interface Continuation {
  readonly kind: ContinuationKind;
  readonly tenant: string;
  /** A user (read and checked) or an OAuth client acting for itself (client_credentials: no user). */
  readonly subject: { readonly user: string } | { readonly client: string };
  /** The relying party the access is continued for: an OAuth client id or `saml:{SP entityID}`. */
  readonly audience?: string;
  /** When the access being continued was granted by a sign-in (epoch seconds, e.g. `auth_time`). */
  readonly grantedAt?: number;
  /** Ids of what is continued, for the decision record (SSO session `sid`, grant id, card session id, card). */
  readonly sessionId?: string;
  readonly grantId?: string;
  readonly card?: string;
  readonly context?: AccessContext;
  /** Where the continued session's or family's risk record lives (its baseline and decision history). */
  readonly record?: RiskRecordRef;
  /**
   * The record as the caller has just read it with what it continues (the refresh rotation's one update
   * returns the family item, record included): used instead of reading it again.
   */
  readonly recordAsRead?: { readonly value: RiskRecord | undefined };
  /** The key the continued family is bound to (a public client's DPoP `jkt`). */
  readonly boundKey?: string;
  /**
   * The presented key when it stands for a device (the agent's PRT: its DPoP key is the device key): looked
   * up among the user's registered devices, beside the first reads; none found fires `unknown-device`.
   */
  readonly deviceKey?: string;
}

export type DenialReason = 'tenant-missing' | 'tenant-disabled' | 'user-missing' | 'user-disabled' | 'revoked' | 'risk';

/**
 * The answer. A risk-scored continuation also carries its `risk` (score and the signals that fired).
 * `step-up`: allowed only after a stronger sign-in (one-time code), each protocol says how it asks.
 * `deny` for risk: the check has already revoked the family and ended the SSO session it continued.
 */
export type AccessDecision =
  /** `user`: the user as read, when the subject is one (so a caller such as userinfo need not read it again). */
  | { readonly outcome: 'allow'; readonly user?: User; readonly risk?: RiskAssessment }
  | { readonly outcome: 'step-up'; readonly message: string; readonly user?: User; readonly risk: RiskAssessment }
  | { readonly outcome: 'deny'; readonly reason: DenialReason; readonly message: string; readonly risk?: RiskAssessment };

/** What ends a continued session or family when risk denies it (core/access/revocation.ts). */
export interface ContinuationEndings {
  endContinuation(tenant: string, username: string, what: { gid?: string; sid?: string; ssoHash?: string }): Promise<void>;
}

/** The optional collaborators of risk scoring; without them only the hard rules apply. */
export interface RiskPorts {
  readonly records?: Pick<RiskRecords, 'load' | 'save'>;
  readonly failures?: { recentFailures(tenant: string, username: string): Promise<number> };
  readonly endings?: ContinuationEndings;
  /** The tenant's external risk service, when its policy names one. */
  readonly external?: Pick<ExternalRisk, 'ask'>;
  /** Where step-up and deny decisions are reported (core/security-events.ts). */
  readonly events?: SecurityEvents;
  /** Re-checks an SSO session's device correlation (core/access/correlations.ts). */
  readonly correlations?: Pick<DeviceCorrelations, 'recheck'>;
  /** What the tenant's Shared Signals transmitters reported (read only for a tenant that has transmitters). */
  readonly caep?: Pick<CaepLevels, 'read'>;
  /** Whether a device key is a registered, not removed device of the user (core/access/devices.ts). */
  readonly devices?: { isRegistered(tenant: string, username: string, jkt: string): Promise<boolean> };
  readonly clock: Clock;
}
const deny = (reason: DenialReason, message: string): AccessDecision => ({ outcome: 'deny', reason, message });

/**
 * The first round of a check's reads: the tenant, the user (none for a client), the user's recent failed
 * sign-ins and, for a device key (a PRT refresh), whether it is a registered device of the user (scored only).
 */
type Reads = Promise<readonly [Tenant | undefined, User | undefined, number | undefined, boolean | undefined]>;

/**
 * A check's reads started before its continuation is complete (`AccessCheck.prefetch`): for this tenant,
 * subject and kind only.
 */
export class PrefetchedReads {
  readonly tenant: string;
  readonly subject: Continuation['subject'];
  readonly kind: ContinuationKind;
  readonly deviceKey: string | undefined;
  readonly reads: Reads;

  constructor(tenant: string, subject: Continuation['subject'], kind: ContinuationKind, deviceKey: string | undefined, reads: Reads) {
    this.tenant = tenant;
    this.subject = subject;
    this.kind = kind;
    this.deviceKey = deviceKey;
    this.reads = reads;
    reads.catch(() => undefined); // a caller that fails first and never continues leaves no unhandled rejection
  }
}

/**
 * The one access check. It reads the tenant and the user (in parallel, the user only when the subject
 * is one) and refuses when either is missing or disabled, or when access was revoked after the
 * continued access was granted (`accessRevokedAt`, set by disabling): so re-enabling a tenant never
 * brings back a session, token or code from before, even if the proactive revocation was cut short.
 */
export class AccessCheck {
  readonly #tenants: Pick<Tenants, 'find'>;
  readonly #users: Pick<Users, 'get'>;

  readonly #risk: RiskPorts | undefined;

  constructor(tenants: Pick<Tenants, 'find'>, users: Pick<Users, 'get'>, risk?: RiskPorts) {
    this.#tenants = tenants;
    this.#users = users;
    this.#risk = risk;
  }

  /**
   * The same check reading tenants through `tenants` instead: the oidc function's per-container cache
   * (core/read-cache.ts), so a tenant disabled elsewhere whose proactive revocation was cut short is
   * still honoured there for at most the cache's TTL. Users are always read fresh.
   */
  withTenants(tenants: Pick<Tenants, 'find'>): AccessCheck {
    return new AccessCheck(tenants, this.#users, this.#risk);
  }

  /**
   * The hard rules first (tenant and user active, not revoked since); then, for a user's scored
   * continuation with a context, the risk engine over the tenant's policy, the record's baseline (last
   * allowed context, known keys) and recent failed sign-ins. The decision is appended to the record
   * (bounded); a risk denial ends what was continued before it is answered.
   */
  async continueAccess(continuation: Continuation, prefetched?: PrefetchedReads): Promise<AccessDecision> {
    if (prefetched) assertSame(prefetched, continuation);
    const decision = await this.#continue(continuation, prefetched?.reads);
    if (decision.outcome !== 'allow') this.#report(continuation, decision);
    return decision;
  }

  /**
   * Starts the reads of `continueAccess` (tenant, user, the user's recent failed sign-ins when the kind is
   * scored) before the continuation is complete, for a caller that learns whose access it continues
   * ahead of the rest: the refresh grant's token names its user, so these run beside the rotation. The
   * reads are as fresh as `continueAccess`'s own; pass the result to it with the same tenant, subject, kind.
   */
  prefetch(tenant: string, subject: Continuation['subject'], kind: ContinuationKind, deviceKey?: string): PrefetchedReads {
    const username = 'user' in subject ? subject.user : undefined;
    return new PrefetchedReads(tenant, subject, kind, deviceKey, this.#reads(tenant, username, this.#scores(kind, username), deviceKey));
  }

  /** Whether a continuation of this kind for this subject is scored when it has a context. */
  #scores(kind: ContinuationKind, username: string | undefined): boolean {
    return this.#risk !== undefined && username !== undefined && SCORED.has(kind);
  }

  #reads(tenant: string, username: string | undefined, scored: boolean, deviceKey?: string): Reads {
    const risk = this.#risk;
    return Promise.all([
      this.#tenants.find(tenant),
      username === undefined ? undefined : this.#user(tenant, username),
      scored && risk?.failures ? risk.failures.recentFailures(tenant, username!) : undefined,
      // One get of the device record, PRT refreshes only: in the same round as the others.
      scored && deviceKey && risk?.devices ? risk.devices.isRegistered(tenant, username!, deviceKey) : undefined,
    ] as const);
  }

  /** A step-up or a denial as one security event; a risk denial also revoked the family it continued. */
  #report(continuation: Continuation, decision: Exclude<AccessDecision, { outcome: 'allow' }>): void {
    const events = this.#risk?.events;
    if (!events) return;
    const event = {
      tenant: continuation.tenant,
      ...('user' in continuation.subject ? { username: continuation.subject.user } : {}),
      ...(continuation.audience ? { client: continuation.audience } : {}),
      ...(continuation.context?.ip ? { ip: continuation.context.ip } : {}),
      ...(decision.risk ? { score: decision.risk.score } : {}),
    };
    if (decision.outcome === 'step-up') return events.emit({ kind: 'step-up', ...event, reason: `${continuation.kind}:${decision.risk.reasons.join('+')}` });
    events.emit({ kind: 'deny', ...event, reason: `${continuation.kind}:${decision.reason}` });
    if (decision.reason === 'risk' && continuation.grantId) events.emit({ kind: 'token-revoked', ...event, reason: 'risk-deny' });
  }

  async #continue(continuation: Continuation, prefetched?: Reads): Promise<AccessDecision> {
    const username = 'user' in continuation.subject ? continuation.subject.user : undefined;
    const risk = this.#risk;
    const scored = this.#scores(continuation.kind, username) && continuation.context !== undefined;
    const [[tenant, user, failures, registeredDevice], record] = await Promise.all([
      prefetched ?? this.#reads(continuation.tenant, username, scored, continuation.deviceKey),
      scored && continuation.record && risk!.records
        ? continuation.recordAsRead
          ? continuation.recordAsRead.value
          : risk!.records.load(continuation.record)
        : undefined,
    ]);
    const hard = decide(continuation, tenant, username === undefined ? null : user);
    if (!scored || !risk || hard.outcome !== 'allow') return hard;
    const context: AccessContext = { ...continuation.context, at: continuation.context!.at ?? risk.clock.now() };
    const policy = tenant!.riskPolicy ?? DEFAULT_RISK_POLICY;
    const { correlation, reported } = await this.#devicesAndLevels(tenant!, username!, context, record?.correlation);
    const signal = correlationSignal(correlation, context.ip);
    const builtIn = assessRisk(
      {
        current: context,
        ...(record ? { last: record.last, knownKeys: record.knownKeys } : {}),
        ...(continuation.boundKey ? { boundKey: continuation.boundKey } : {}),
        ...(failures !== undefined ? { recentFailures: failures } : {}),
        ...(continuation.audience ? { audience: continuation.audience } : {}),
        ...(signal ? { correlation: signal } : {}),
        ...(reported ? { reported } : {}),
        ...(registeredDevice !== undefined ? { registeredDevice } : {}),
      },
      policy,
    );
    const { assessment, unavailable } = await this.#withExternal(
      policy,
      builtIn,
      {
        tenant: continuation.tenant,
        subject: username!,
        kind: continuation.kind,
        ...(continuation.audience ? { audience: continuation.audience } : {}),
        context,
        builtIn,
      },
      context.at!,
    );
    if (continuation.record && risk.records) {
      const entry = { at: context.at!, kind: continuation.kind, decision: assessment.decision, score: assessment.score, reasons: assessment.reasons, context };
      await risk.records.save(continuation.record, recordDecision(record ?? newRiskRecord(context), entry, correlation));
    }
    const found = hard.user ? { user: hard.user } : {};
    if (assessment.decision === 'allow') return { ...hard, risk: assessment };
    const why = `risk score ${assessment.score} (${assessment.reasons.join(', ')})`;
    // Fail-closed on an unusable external service: refused, but an outage is no evidence against the session.
    if (unavailable) return { outcome: 'deny', reason: 'risk', message: 'access refused: the external risk service could not be consulted', risk: assessment };
    if (assessment.decision === 'step-up') return { outcome: 'step-up', message: `a stronger sign-in is required: ${why}`, ...found, risk: assessment };
    await risk.endings?.endContinuation(continuation.tenant, username!, {
      ...(continuation.grantId ? { gid: continuation.grantId } : {}),
      ...(continuation.sessionId ? { sid: continuation.sessionId } : {}),
      ...(continuation.record?.kind === 'sso' ? { ssoHash: continuation.record.hash } : {}),
    });
    return { outcome: 'deny', reason: 'risk', message: `access refused: ${why}`, risk: assessment };
  }

  /**
   * The second round of reads, all at once and only where they can matter: the session's device
   * correlation re-checked (one owner-index query, for a session correlated through a card session), and
   * the Shared Signals levels (one query for the user's, one get per device involved: the presented key
   * and the correlated device), for a tenant with transmitters.
   */
  async #devicesAndLevels(
    tenant: Tenant,
    username: string,
    context: AccessContext,
    stored: SessionCorrelation | undefined,
  ): Promise<{ correlation?: SessionCorrelation; reported?: ReportedLevels }> {
    const risk = this.#risk!;
    const devices = [...new Set([context.keyThumbprint, stored?.device].filter((id): id is string => id !== undefined))];
    const [correlation, reported] = await Promise.all([
      stored && risk.correlations ? risk.correlations.recheck(tenant.id, username, stored) : stored,
      risk.caep && tenant.ssfTransmitters?.transmitters.length ? risk.caep.read(tenant.id, username, devices) : undefined,
    ]);
    return { ...(correlation ? { correlation } : {}), ...(reported ? { reported } : {}) };
  }

  /** The external service's answer folded in; unusable, it adds `external-unavailable` and the tenant's failure mode. */
  async #withExternal(
    policy: RiskPolicy,
    builtIn: RiskAssessment,
    request: ExternalRiskRequest,
    now: number,
  ): Promise<{ assessment: RiskAssessment; unavailable: boolean }> {
    const settings = policy.external;
    if (!settings) return { assessment: builtIn, unavailable: false };
    const answer = await this.#risk?.external?.ask(settings, request, now);
    if (answer) return { assessment: combine(builtIn, answer, bandsFor(policy, request.audience)), unavailable: false };
    const closed = settings.failure === 'closed';
    return {
      assessment: { decision: closed ? 'deny' : builtIn.decision, score: builtIn.score, reasons: [...builtIn.reasons, 'external-unavailable'] },
      unavailable: closed,
    };
  }

  /**
   * The same check in two steps, for a caller that knows whose access it continues before it has read
   * the rest (the card APDU path reads its session, its card, the tenant and the user at once): the reads
   * start now, the decision is made once the continuation is complete. It must be for the same subject.
   */
  start(tenant: string, subject: Continuation['subject']): { decide(continuation: Continuation): Promise<AccessDecision> } {
    const username = 'user' in subject ? subject.user : undefined;
    const reads = this.#reads(tenant, username, false);
    reads.catch(() => undefined); // a caller that fails first and never decides leaves no unhandled rejection
    return {
      decide: async (continuation) => {
        // Only unscored continuations (APDUs): a scored one needs the risk reads continueAccess makes.
        if (this.#risk !== undefined && SCORED.has(continuation.kind)) throw new Error(`the ${continuation.kind} continuation is scored: use continueAccess`);
        if (continuation.tenant !== tenant || JSON.stringify(continuation.subject) !== JSON.stringify(subject))
          throw new Error('the access check was started for another subject');
        const [found, user] = await reads;
        return decide(continuation, found, username === undefined ? null : user);
      },
    };
  }

  async #user(tenant: string, username: string): Promise<User | undefined> {
    try {
      return await this.#users.get(tenant, username);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }
}

function assertSame(prefetched: PrefetchedReads, continuation: Continuation): void {
  if (
    prefetched.tenant !== continuation.tenant ||
    prefetched.kind !== continuation.kind ||
    prefetched.deviceKey !== continuation.deviceKey ||
    JSON.stringify(prefetched.subject) !== JSON.stringify(continuation.subject)
  )
    throw new Error('the reads were prefetched for another continuation');
}

/** The rule itself, over what was read (`user` null: the subject is a client, there is no user to check). */
export function decide(continuation: Pick<Continuation, 'grantedAt'>, tenant: Tenant | undefined, user: User | undefined | null): AccessDecision {
  if (!tenant) return deny('tenant-missing', 'the tenant does not exist');
  if (tenant.status !== 'active') return deny('tenant-disabled', 'the tenant is disabled');
  if (revokedSince(tenant.accessRevokedAt, continuation.grantedAt)) return deny('revoked', "the tenant's access was revoked after this was granted");
  if (user === null) return { outcome: 'allow' };
  if (!user) return deny('user-missing', 'the user no longer exists');
  if (user.status !== 'active') return deny('user-disabled', 'the user is disabled');
  if (revokedSince(user.accessRevokedAt, continuation.grantedAt)) return deny('revoked', "the user's access was revoked after this was granted");
  return { outcome: 'allow', user };
}

/**
 * Granted strictly before the revocation's second. Something granted in that same second survives
 * only if its proactive revocation also failed; a continuation with no grant time is not compared.
 */
const revokedSince = (revokedAt: number | undefined, grantedAt: number | undefined): boolean =>
  revokedAt !== undefined && grantedAt !== undefined && grantedAt < revokedAt;
