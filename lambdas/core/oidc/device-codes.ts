import { randomInt } from 'node:crypto';
import { ConflictError } from '../errors.ts';
import type { Clock, Item, StateStore } from '../../ports.ts';
import { newOpaque, opaqueHash } from './hashing.ts';

/** RFC 8628 §6.1: consonants only (no vowels, so no words), easy to read aloud and type. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
export const normaliseUserCode = (input: string): string => input.toUpperCase().replace(/[^A-Z]/g, '');
export const formatUserCode = (code: string): string => `${code.slice(0, 4)}-${code.slice(4)}`;

export interface DeviceAuthorization {
  readonly tenant: string;
  readonly clientId: string;
  readonly scope: string;
  readonly userCode: string;
  readonly status: 'pending' | 'approved' | 'denied' | 'redeemed';
  readonly intervalSeconds: number;
  readonly lastPolledAt: number;
  readonly approvedBy?: { sub: string; authTime: number; acr: string; amr: readonly string[]; sid: string };
}

type DeviceItem = Item & DeviceAuthorization & { expiresAt: number; version: number };
type UserCodeItem = Item & { deviceHash: string; expiresAt: number };
const deviceKey = (deviceHash: string) => ({ PK: `DEVICE#${deviceHash}`, SK: 'DEVICE' });
const userCodeKey = (tenant: string, userCode: string) => ({ PK: `USERCODE#${tenant}#${userCode}`, SK: 'USERCODE' });

export type Poll =
  { outcome: 'approved'; authorization: DeviceAuthorization } | { outcome: 'authorization_pending' | 'slow_down' | 'access_denied' | 'expired_token' };

export class DeviceCodes {
  readonly #state: StateStore;
  readonly #clock: Clock;

  constructor(state: StateStore, clock: Clock) {
    this.#state = state;
    this.#clock = clock;
  }

  async start(
    tenant: string,
    clientId: string,
    scope: string,
    lifetimeSeconds: number,
    intervalSeconds: number,
  ): Promise<{ deviceCode: string; userCode: string; intervalSeconds: number }> {
    const deviceCode = newOpaque('dc_');
    const deviceHash = opaqueHash(deviceCode);
    const expiresAt = this.#now() + lifetimeSeconds;
    // A user code is short, so it may collide: retry with a fresh one (the guard makes that safe).
    for (let attempt = 0; attempt < 5; attempt++) {
      const userCode = Array.from({ length: 8 }, () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]).join('');
      try {
        await this.#state.put({ ...userCodeKey(tenant, userCode), deviceHash, expiresAt }, { absent: true });
      } catch (error) {
        if (error instanceof ConflictError) continue;
        throw error;
      }
      const authorization: DeviceAuthorization = { tenant, clientId, scope, userCode, status: 'pending', intervalSeconds, lastPolledAt: 0 };
      await this.#state.put({ ...deviceKey(deviceHash), ...authorization, version: 1, expiresAt }, { absent: true });
      return { deviceCode, userCode, intervalSeconds };
    }
    throw new ConflictError('could not allocate a user code');
  }

  /** The pending authorization a user code names, for the portal's approval page. */
  async findByUserCode(tenant: string, userCode: string): Promise<(DeviceAuthorization & { deviceHash: string; version: number }) | undefined> {
    const code = normaliseUserCode(userCode);
    if (code.length !== 8) return undefined;
    const pointer = await this.#state.get<UserCodeItem>(userCodeKey(tenant, code));
    if (!pointer) return undefined;
    const item = await this.#state.get<DeviceItem>(deviceKey(pointer.deviceHash));
    return item && item.status === 'pending' ? { ...item, deviceHash: pointer.deviceHash } : undefined;
  }

  /** Approves or denies, once: a decision on an already-decided code fails. */
  async decide(deviceHash: string, version: number, decision: { approvedBy: NonNullable<DeviceAuthorization['approvedBy']> } | 'denied'): Promise<void> {
    const changes =
      decision === 'denied' ? { status: 'denied', version: version + 1 } : { status: 'approved', approvedBy: decision.approvedBy, version: version + 1 };
    await this.#state.update(deviceKey(deviceHash), changes, { present: true, equals: { status: 'pending', version } });
  }

  /** One poll: rate-limited by `interval` (slow_down), and an approval is redeemed exactly once. */
  async poll(deviceCode: string, clientId: string): Promise<Poll> {
    const key = deviceKey(opaqueHash(deviceCode));
    const item = await this.#state.get<DeviceItem>(key);
    if (!item || item.clientId !== clientId) return { outcome: 'expired_token' };
    const now = this.#now();
    if (item.status === 'denied') return { outcome: 'access_denied' };
    if (item.status === 'redeemed') return { outcome: 'expired_token' };
    if (item.status === 'approved') {
      try {
        await this.#state.update(
          key,
          { status: 'redeemed', version: item.version + 1 },
          { present: true, equals: { status: 'approved', version: item.version } },
        );
        return { outcome: 'approved', authorization: item };
      } catch (error) {
        if (error instanceof ConflictError) return { outcome: 'expired_token' };
        throw error;
      }
    }
    const tooSoon = now - item.lastPolledAt < item.intervalSeconds;
    try {
      await this.#state.update(
        key,
        { lastPolledAt: now, intervalSeconds: tooSoon ? item.intervalSeconds + 5 : item.intervalSeconds, version: item.version + 1 },
        { present: true, equals: { version: item.version } },
      );
    } catch (error) {
      if (error instanceof ConflictError) return { outcome: 'slow_down' };
      throw error;
    }
    return { outcome: tooSoon ? 'slow_down' : 'authorization_pending' };
  }

  #now(): number {
    return Math.floor(this.#clock.now() / 1000);
  }
}
