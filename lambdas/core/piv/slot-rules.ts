/**
 * The access rule of each key slot (SP 800-73-4 Part 1 Table 4b): PIV Authentication (9A) and Key
 * Management (9D) need the PIN once per session, Digital Signature (9C) right before each use, Card
 * Authentication (9E) none. yubico's F9 attestation key is not the holder's to use.
 */
import type { PivSlot, SlotInfo } from './card-port.ts';

type PinPolicy = SlotInfo['pinPolicy'];

export const SLOT_PIN_POLICY: Readonly<Record<PivSlot, PinPolicy>> = {
  '9a': 'once',
  '9c': 'always',
  '9d': 'once',
  '9e': 'never',
  f9: 'never',
};

const STRENGTH: Readonly<Record<PinPolicy, number>> = { never: 0, once: 1, always: 2 };

/**
 * Whether a PIN policy asked for at GENERATE (yubico tag AA) would loosen the slot's rule: a key that signs
 * or decrypts without the PIN would make a stolen card session enough to use it.
 */
export function loosensSlotRule(slot: PivSlot, policy: PinPolicy): boolean {
  return STRENGTH[policy] < STRENGTH[SLOT_PIN_POLICY[slot]];
}
