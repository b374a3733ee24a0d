import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AccessRevocation } from '../access/revocation.ts';
import { directoryKeys } from '../directory/keys.ts';
import type { Tenants } from '../directory/tenant.ts';
import type { Users } from '../directory/user.ts';
import type { ReplayCache } from '../oidc/replay.ts';
import type { RemoteKeySets } from '../outbound/remote-key-sets.ts';
import type { Clock, DirectoryStore, Item, StateStore } from '../../ports.ts';
import { ssfSignalKey } from './signal-keys.ts';
import type { SsfTransmitter } from './transmitters.ts';

/** RFC 8935 §2.3 error codes. */
export type SetErrorCode = 'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience' | 'authentication_failed';

export class SetError extends Error {
  readonly code: SetErrorCode;

  constructor(code: SetErrorCode, description: string) {
    super(description);
    this.code = code;
  }
}

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
export const CAEP_EVENTS = {
  sessionRevoked: `${CAEP}session-revoked`,
  credentialChange: `${CAEP}credential-change`,
  assuranceLevelChange: `${CAEP}assurance-level-change`,
  riskLevelChange: `${CAEP}risk-level-change`,
  deviceComplianceChange: `${CAEP}device-compliance-change`,
} as const;

/** A SET older than this (by `iat`) is refused; its `jti` is remembered as long. */
const MAX_AGE_SECONDS = 24 * 60 * 60;
const MAX_SKEW_SECONDS = 300;
const SIGNAL_KEEP_SECONDS = 30 * 24 * 60 * 60;

type Subject = Record<string, unknown>;

export { ssfSignalKey };

export interface SetReceiverDeps {
  readonly tenants: Pick<Tenants, 'find'>;
  readonly directory: DirectoryStore;
  readonly users: Pick<Users, 'withEmail'>;
  readonly state: StateStore;
  readonly endings: Pick<AccessRevocation, 'endWebSessions'>;
  readonly replay: ReplayCache;
  readonly keySets: RemoteKeySets;
  readonly clock: Clock;
}

/**
 * Receives Security Event Tokens (RFC 8417) pushed by a tenant's configured transmitters (RFC 8935) and
 * applies the CAEP 1.0 events they carry. Verification order: header type, the issuer is a configured
 * transmitter, signature by that transmitter's keys, audience, freshness, then the `jti` is used once.
 */
export class SetReceiver {
  readonly #deps: SetReceiverDeps;

  constructor(deps: SetReceiverDeps) {
    this.#deps = deps;
  }

  async receive(tenantId: string, token: string): Promise<{ applied: string[] }> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      throw new SetError('invalid_request', 'the body is not a JWT');
    }
    if (
      String(header.typ ?? '')
        .toLowerCase()
        .replace(/^application\//, '') !== 'secevent+jwt'
    )
      throw new SetError('invalid_request', 'the SET header typ must be secevent+jwt');
    const tenant = await this.#deps.tenants.find(tenantId);
    const transmitter = tenant?.status === 'active' ? tenant.ssfTransmitters?.transmitters.find((t) => t.issuer === unverified.iss) : undefined;
    if (!transmitter) throw new SetError('invalid_issuer', 'the issuer is not a transmitter of this tenant');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#keys(transmitter), {
        issuer: transmitter.issuer,
        algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'],
        currentDate: new Date(this.#deps.clock.now()),
      }));
    } catch (error) {
      if (
        error instanceof errors.JWSSignatureVerificationFailed ||
        error instanceof errors.JWKSNoMatchingKey ||
        error instanceof errors.JWKSMultipleMatchingKeys
      )
        throw new SetError('invalid_key', 'the SET is not signed by a key of the transmitter');
      if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired)
        throw new SetError('invalid_request', `the SET is not acceptable: ${error.message}`);
      throw new SetError('invalid_key', "the transmitter's keys could not be used");
    }
    const audiences = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
    if (!audiences.includes(transmitter.audience)) throw new SetError('invalid_audience', 'the SET is not addressed to this receiver');
    const now = Math.floor(this.#deps.clock.now() / 1000);
    if (typeof payload.iat !== 'number' || payload.iat > now + MAX_SKEW_SECONDS || payload.iat < now - MAX_AGE_SECONDS)
      throw new SetError('invalid_request', 'the SET iat is missing or out of range');
    if (typeof payload.jti !== 'string' || !payload.jti) throw new SetError('invalid_request', 'the SET has no jti');
    const events = payload['events'];
    if (!events || typeof events !== 'object' || Array.isArray(events) || !Object.keys(events).length)
      throw new SetError('invalid_request', 'the SET carries no events');
    if (!(await this.#deps.replay.firstUse(`ssf:${tenantId}:${transmitter.issuer}`, payload.jti, payload.iat + MAX_AGE_SECONDS)))
      throw new SetError('invalid_request', 'the SET jti was already received');

    const applied: string[] = [];
    for (const [type, body] of Object.entries(events as Record<string, unknown>)) {
      const event = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
      const subject = (payload['sub_id'] ?? event['subject']) as Subject | undefined;
      if (await this.#apply(tenantId, transmitter, type, event, subject)) applied.push(type);
    }
    return { applied };
  }

  #keys(transmitter: SsfTransmitter): JWTVerifyGetKey {
    return transmitter.jwks ? createLocalJWKSet(transmitter.jwks as JSONWebKeySet) : this.#deps.keySets.resolver(transmitter.jwks_uri!);
  }

  /** One CAEP event; an event type we do not act on is accepted and ignored (RFC 8935 §2). */
  async #apply(tenant: string, transmitter: SsfTransmitter, type: string, event: Record<string, unknown>, subject: Subject | undefined): Promise<boolean> {
    const at = new Date(this.#deps.clock.now()).toISOString();
    const from = transmitter.issuer;
    switch (type) {
      case CAEP_EVENTS.sessionRevoked:
      case CAEP_EVENTS.credentialChange: {
        const username = await this.#user(tenant, subject);
        if (!username) return false;
        // Every SSO session and refresh-token family of the user ends (the one revocation path).
        await this.#deps.endings.endWebSessions(tenant, username);
        return true;
      }
      case CAEP_EVENTS.assuranceLevelChange:
      case CAEP_EVENTS.riskLevelChange: {
        const username = await this.#user(tenant, subject);
        if (!username) return false;
        const field = type === CAEP_EVENTS.riskLevelChange ? ('riskLevel' as const) : ('assuranceLevel' as const);
        const value = String(event['current_level'] ?? '').slice(0, 64);
        await this.#deps.state.put({ ...ssfSignalKey(tenant, `USER#${username}#${field}`), level: value, from, at, expiresAt: this.#keepUntil() });
        return true;
      }
      case CAEP_EVENTS.deviceComplianceChange: {
        const device = deviceIdOf(subject);
        if (!device) return false;
        const status = String(event['current_status'] ?? '').slice(0, 32);
        await this.#deps.state.put({ ...ssfSignalKey(tenant, `DEVICE#${device}#compliance`), status, from, at, expiresAt: this.#keepUntil() });
        return true;
      }
      default:
        return false;
    }
  }

  /** Signals are kept this long after their last change (a transmitter re-sends on change). */
  #keepUntil(): number {
    return Math.floor(this.#deps.clock.now() / 1000) + SIGNAL_KEEP_SECONDS;
  }

  /** Our username for a subject: `opaque` id and `iss_sub` sub are usernames (our `sub` claim); `email` through the e-mail index. */
  async #user(tenant: string, subject: Subject | undefined): Promise<string | undefined> {
    const user = subject && subject['format'] === undefined && subject['user'] && typeof subject['user'] === 'object' ? (subject['user'] as Subject) : subject;
    if (!user) return undefined;
    switch (user['format']) {
      case 'opaque':
        return typeof user['id'] === 'string' ? await this.#known(tenant, user['id']) : undefined;
      case 'iss_sub':
        return typeof user['sub'] === 'string' ? await this.#known(tenant, user['sub']) : undefined;
      case 'email': {
        if (typeof user['email'] !== 'string') return undefined;
        return (await this.#deps.users.withEmail(tenant, user['email'], 2))[0]?.username;
      }
      default:
        return undefined;
    }
  }

  async #known(tenant: string, username: string): Promise<string | undefined> {
    const item = await this.#deps.directory.get<Item & { user?: { username: string } }>(directoryKeys.user(tenant, username));
    return item?.user?.username;
  }
}

/** A device subject: CAEP's complex subject `{device: {...}}` or a device-shaped simple subject. */
function deviceIdOf(subject: Subject | undefined): string | undefined {
  const device = subject && subject['device'] && typeof subject['device'] === 'object' ? (subject['device'] as Subject) : subject;
  const id = device?.['id'] ?? device?.['sub'] ?? device?.['uri'];
  return typeof id === 'string' && id.length <= 256 ? id : undefined;
}
