import { ConflictError } from '../errors.ts';
import type { Clock, Item, StateStore } from '../../ports.ts';
import { newOpaque, opaqueHash } from './hashing.ts';
import type { Authentication } from './interactions.ts';

/** A transfer is for the browser the agent opens at once: a minute is plenty, and bounds a leak. */
export const SSO_TRANSFER_SECONDS = 60;

/** What a transfer carries from the device's PRT to the browser session it starts. */
export interface SsoTransfer {
  readonly tenant: string;
  /** The PRT's sign-in: the browser session continues it (same user, time, level and methods). */
  readonly authentication: Omit<Authentication, 'sid'>;
  /** The PRT's family and the device key it is bound to (for the record). */
  readonly gid: string;
  readonly jkt: string;
  /** The source address of the device that asked: the browser redeeming it must come from the same. */
  readonly ip: string;
  /** Where the browser goes once signed in (checked to be within the tenant's own URLs at issue). */
  readonly target: string;
}

type TransferItem = Item & { transfer: SsoTransfer; tenant: string; ip: string; used: boolean; expiresAt: number };

const PREFIX = 'sx_';
const TRANSFER = /^sx_[A-Za-z0-9_-]{43}$/;
export const ssoTransferKey = (secret: string) => ({ PK: `SSOXFER#${opaqueHash(secret)}`, SK: 'SSOXFER' });

export type Redemption =
  | { outcome: 'redeemed'; transfer: SsoTransfer }
  /** Already redeemed once: a replay. `username` is whose transfer it was (for the security event). */
  | { outcome: 'used'; username: string }
  /** Presented from another source address than the device that asked for it. */
  | { outcome: 'other-device'; username: string }
  /** Never issued, malformed, another tenant's, or expired. */
  | { outcome: 'unknown' };

/**
 * One-time browser-SSO transfers from a device's PRT (`cloudcard-agent browser-sso`): 256 random bits,
 * stored only by hash, for SSO_TRANSFER_SECONDS, redeemable once and only from the device's address.
 */
export class SsoTransfers {
  readonly #state: StateStore;
  readonly #clock: Clock;

  constructor(state: StateStore, clock: Clock) {
    this.#state = state;
    this.#clock = clock;
  }

  async issue(transfer: SsoTransfer): Promise<{ secret: string; expiresIn: number }> {
    const secret = newOpaque(PREFIX);
    const expiresAt = Math.floor(this.#clock.now() / 1000) + SSO_TRANSFER_SECONDS;
    await this.#state.put({ ...ssoTransferKey(secret), transfer, tenant: transfer.tenant, ip: transfer.ip, used: false, expiresAt }, { absent: true });
    return { secret, expiresIn: SSO_TRANSFER_SECONDS };
  }

  /**
   * The transfer, once: one write guarded on it being unused, live, of this tenant and presented from the
   * device's address, so of racing redemptions exactly one wins. A refused attempt changes nothing (a
   * stranger's try does not burn the user's transfer); the item as it stood tells which refusal it is.
   */
  async redeem(tenant: string, secret: string, ip: string | undefined): Promise<Redemption> {
    if (!TRANSFER.test(secret)) return { outcome: 'unknown' };
    try {
      const item = await this.#state.update<TransferItem>(
        ssoTransferKey(secret),
        { used: true },
        { present: true, equals: { used: false, tenant, ip: ip ?? '' }, reportCurrent: true },
      );
      return { outcome: 'redeemed', transfer: item.transfer };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const current = error.current as TransferItem | undefined;
      if (!current || current.tenant !== tenant || current.expiresAt <= Math.floor(this.#clock.now() / 1000)) return { outcome: 'unknown' };
      const username = current.transfer.authentication.sub;
      if (current.used) return { outcome: 'used', username };
      return { outcome: 'other-device', username };
    }
  }
}
