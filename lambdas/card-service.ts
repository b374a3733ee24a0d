import type { BaseServices } from './base-services.ts';
import { CardAuthority } from './core/cards/authority.ts';
import { Cards } from './core/cards/cards.ts';
import { PinHasher } from './core/cards/pin-hash.ts';
import { ResidentSlotKeys, WrappedSlotKeys } from './core/cards/slot-keys.ts';
import type { Runtime } from './runtime.ts';
/**
 * The card service over the base services, when key custody, resident keys and the PIN key were given.
 * The card function builds only this beside `baseServices` (no service providers, no tenant transfer).
 */
export function cardService(
  runtime: Pick<Runtime, 'directory' | 'clock' | 'random'> & Partial<Pick<Runtime, 'custody' | 'residentKeys' | 'cardPinKey'>>,
  base: BaseServices,
): Cards | undefined {
  if (!runtime.custody || !runtime.residentKeys || !runtime.cardPinKey) return undefined;
  return new Cards({
    directory: runtime.directory,
    custody: runtime.custody,
    slotKeys: { wrapped: new WrappedSlotKeys(runtime.custody), 'kms-resident': new ResidentSlotKeys(runtime.residentKeys) },
    authority: new CardAuthority(runtime.directory, runtime.residentKeys, runtime.clock, base.truststore),
    pins: new PinHasher(runtime.cardPinKey),
    tenants: base.tenants,
    users: base.users,
    clock: runtime.clock,
    random: runtime.random,
    ...(base.revocation ? { sessionEndings: base.revocation } : {}),
  });
}
