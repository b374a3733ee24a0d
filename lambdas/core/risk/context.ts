import type { SessionCorrelation } from './correlation.ts';

/**
 * What is known about one request that signs in or continues access (issue 13). Built once in the HTTP
 * layer (`lambdas/http/access-context.ts`) from the source address, the user agent and, only where the
 * stack trusts them, the CDN's location headers; stored on the SSO session and on the grant (refresh-token
 * family) when they are issued, and as their last context on every continuation.
 */
export interface AccessContext {
  /** Source address as API Gateway (or the local gateway's socket) saw it. */
  readonly ip?: string;
  readonly userAgent?: string;
  /** User-agent families (http/user-agent.ts, bowser's names): e.g. `Chrome`, `Firefox`; `Linux`, `Windows`. */
  readonly browser?: string;
  readonly os?: string;
  /** From trusted CDN headers only (`CloudFront-Viewer-*`); never from a plain API URL. */
  readonly location?: Location;
  /** When the request was made (epoch milliseconds). */
  readonly at?: number;
  /** Authentication methods of the sign-in behind it (`pwd`, `otp`, ...). */
  readonly amr?: readonly string[];
  /** RFC 7638 thumbprint of the key the caller proved (DPoP key, agent device key). */
  readonly keyThumbprint?: string;
  /** The relying party: OAuth client id, SAML SP entityID, RFC 8707 resource. */
  readonly clientId?: string;
  readonly sp?: string;
  readonly resource?: string;
}

export interface Location {
  /** ISO 3166-1 alpha-2. */
  readonly country?: string;
  readonly city?: string;
  readonly latitude?: number;
  readonly longitude?: number;
  readonly asn?: string;
}

/**
 * The risk record kept on an SSO session or a grant: the context it was issued in, the last context it
 * was continued from, the keys seen with it, and the last decisions (bounded).
 */
export interface RiskRecord {
  readonly issued: AccessContext;
  /** An SSO session's device correlation (core/risk/correlation.ts): which device, why, when, still holding or lost. */
  readonly correlation?: SessionCorrelation;
  readonly last: AccessContext;
  readonly knownKeys: readonly string[];
  readonly decisions: readonly DecisionEntry[];
}

export interface DecisionEntry {
  readonly at: number;
  readonly kind: string;
  readonly decision: 'allow' | 'step-up' | 'deny';
  readonly score: number;
  readonly reasons: readonly string[];
  readonly context: AccessContext;
}

/** How many decisions a session or family keeps (the oldest go first). */
export const DECISION_HISTORY = 10;
/** How many distinct keys a record remembers. */
const KNOWN_KEYS = 5;

/** The record a session or grant starts with. */
export function newRiskRecord(context: AccessContext, correlation?: SessionCorrelation): RiskRecord {
  return {
    issued: context,
    ...(correlation ? { correlation } : {}),
    last: context,
    knownKeys: context.keyThumbprint ? [context.keyThumbprint] : [],
    decisions: [],
  };
}

/**
 * The record after a decision: the last context moves only when access was allowed (a refused request is
 * no new baseline); the correlation as the check found it (lost, or following a re-inserted card).
 */
export function recordDecision(record: RiskRecord, entry: DecisionEntry, correlation: SessionCorrelation | undefined = record.correlation): RiskRecord {
  const allowed = entry.decision === 'allow';
  const key = entry.context.keyThumbprint;
  const knownKeys = allowed && key && !record.knownKeys.includes(key) ? [...record.knownKeys, key].slice(-KNOWN_KEYS) : record.knownKeys;
  return {
    issued: record.issued,
    ...(correlation ? { correlation } : {}),
    last: allowed ? entry.context : record.last,
    knownKeys,
    decisions: [...record.decisions, entry].slice(-DECISION_HISTORY),
  };
}
