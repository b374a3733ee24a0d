import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { Clock, Item, StateStore } from '../../ports.ts';
import { ownedBy, ownerPartition } from './owner-index.ts';

/** A device record lives this long after its last registration (the agent re-registers at each start). */
export const DEVICE_RECORD_SECONDS = 90 * 24 * 3600;

/** What the agent reports about its device; the id is the RFC 7638 thumbprint of its P-256 device key. */
export interface DeviceReport {
  readonly os?: string;
  readonly hostnameHash?: string;
  readonly agentVersion?: string;
  readonly cardSessionLive?: boolean;
}

export interface DeviceView extends DeviceReport {
  /** The device key's thumbprint (also the DPoP `jkt` of its PRT and the `jkt` of its card sessions). */
  readonly id: string;
  readonly registeredAt: number;
  readonly lastSeenAt: number;
}

/** Ends what a device holds: its refresh-token families (PRT: bound to its key, or named) and card sessions. */
export interface DeviceEndings {
  endDevice(tenant: string, username: string, jkt: string, grants: readonly string[]): Promise<void>;
}

/** How many of the families that registered a device are remembered (the agent's current one is the last). */
const GRANTS_KEPT = 5;

type DeviceItem = Item & { device: DeviceView; grants?: string[]; tenant: string; username: string; expiresAt: number };

/** `PK=AGENTDEV#{tenant}#{username}#{jkt}` (not `DEVICE#`: that is the RFC 8628 device code). */
const deviceKey = (tenant: string, username: string, jkt: string) => ({ PK: `AGENTDEV#${tenant}#${username}#${jkt}`, SK: 'AGENTDEV' });

const TEXT = /^[\x20-\x7e]{1,128}$/;
function text(report: Record<string, unknown>, field: keyof DeviceReport): string | undefined {
  const value = report[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !TEXT.test(value)) throw new ValidationError(`${field} must be 1 to 128 printable ASCII characters`);
  return value;
}

/** The JWS `typ` of a registration: signed by the device key, payload `{aud, iat, ...DeviceReport}`. */
export const DEVICE_REGISTRATION_TYP = 'cloudcard-device+jwt';
/** How far a registration's `iat` may be from now (clock skew; a replay only re-reports the same facts). */
const REGISTRATION_SKEW_SECONDS = 120;

/**
 * Checks a verified registration payload: addressed to this endpoint, fresh, and only known members
 * (a typo is refused, not silently dropped); returns the report.
 */
export function registrationReportOf(payload: Record<string, unknown>, audience: string, nowSeconds: number): DeviceReport {
  if (payload['aud'] !== audience) throw new ValidationError(`the registration must be addressed to ${audience} (aud)`);
  const iat = payload['iat'];
  if (typeof iat !== 'number' || Math.abs(iat - nowSeconds) > REGISTRATION_SKEW_SECONDS)
    throw new ValidationError('the registration iat must be within 120 s of now');
  const { aud: _aud, iat: _iat, ...body } = payload;
  return deviceReportOf(body);
}

function deviceReportOf(body: Record<string, unknown>): DeviceReport {
  for (const name of Object.keys(body)) {
    if (!['os', 'hostnameHash', 'agentVersion', 'cardSessionLive'].includes(name)) throw new ValidationError(`unknown member ${name}`);
  }
  const live = body['cardSessionLive'];
  if (live !== undefined && typeof live !== 'boolean') throw new ValidationError('cardSessionLive must be a boolean');
  const hostnameHash = text(body, 'hostnameHash');
  if (hostnameHash !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(hostnameHash))
    throw new ValidationError('hostnameHash must be a base64url SHA-256 (43 characters)');
  const os = text(body, 'os');
  const agentVersion = text(body, 'agentVersion');
  return {
    ...(os ? { os } : {}),
    ...(hostnameHash ? { hostnameHash } : {}),
    ...(agentVersion ? { agentVersion } : {}),
    ...(live === undefined ? {} : { cardSessionLive: live }),
  };
}

/** Whether a key is a registered device of the user: one get (a removed device's record is deleted). */
export class RegisteredDevices {
  readonly #state: StateStore;

  constructor(state: StateStore) {
    this.#state = state;
  }

  async isRegistered(tenant: string, username: string, jkt: string): Promise<boolean> {
    return (await this.#state.get<DeviceItem>(deviceKey(tenant, username, jkt))) !== undefined;
  }
}

/**
 * A user's registered devices (the agent's device key and what it reports), on the owner index
 * (`GSI1SK=AGENTDEV#{jkt}`) so one query lists them; removing one ends its PRT families and card sessions.
 */
export class Devices {
  readonly #state: StateStore;
  readonly #clock: Clock;
  readonly #endings: DeviceEndings;

  constructor(state: StateStore, clock: Clock, endings: DeviceEndings) {
    this.#state = state;
    this.#clock = clock;
    this.#endings = endings;
  }

  /**
   * Creates or refreshes the record (one put: the last report wins, `registeredAt` kept). `grant` is the
   * family whose access token registered it: removing the device revokes it even when it is not DPoP-bound.
   */
  async register(tenant: string, username: string, jkt: string, report: DeviceReport, grant?: string): Promise<DeviceView> {
    const now = Math.floor(this.#clock.now() / 1000);
    const key = deviceKey(tenant, username, jkt);
    const previous = await this.#state.get<DeviceItem>(key);
    const device: DeviceView = { id: jkt, ...report, registeredAt: previous?.device.registeredAt ?? now, lastSeenAt: now };
    const grants = [...(previous?.grants ?? []).filter((gid) => gid !== grant), ...(grant ? [grant] : [])].slice(-GRANTS_KEPT);
    await this.#state.put({ ...key, ...ownedBy(tenant, username, 'AGENTDEV', jkt), tenant, username, device, grants, expiresAt: now + DEVICE_RECORD_SECONDS });
    return device;
  }

  async list(tenant: string, username: string): Promise<DeviceView[]> {
    const devices: DeviceView[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#state.query<DeviceItem>({
        index: 'GSI1',
        partition: ownerPartition(tenant, username),
        sortPrefix: 'AGENTDEV#',
        limit: 100,
        ...(cursor ? { cursor } : {}),
      });
      devices.push(...page.items.map((item) => item.device));
      cursor = page.cursor;
    } while (cursor);
    return devices;
  }

  /** Ends the device's PRT families and card sessions first, then deletes the record (a retry finishes the job). */
  async remove(tenant: string, username: string, id: string): Promise<void> {
    const key = deviceKey(tenant, username, id);
    const item = await this.#state.get<DeviceItem>(key);
    if (!item) throw new NotFoundError(`user ${username} has no device ${id}`);
    await this.#endings.endDevice(tenant, username, id, item.grants ?? []);
    await this.#state.delete(key, { present: true }).catch((error: unknown) => {
      if (!(error instanceof ConflictError)) throw error;
    });
  }
}
