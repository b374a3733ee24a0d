import type { Random } from '../../ports.ts';
import type { ManagementAlgorithm, PinReference } from '../piv/card-port.ts';
import type { Tenant } from '../directory/tenant.ts';

export const MANAGEMENT_KEY_LENGTH: Record<ManagementAlgorithm, number> = { '3des': 24, aes128: 16, aes192: 24, aes256: 32 };

/**
 * The tenant's PIN policy (length; digits only, as PIV PIN pads require printable characters and PIN
 * pads enter digits). A PUK is 8 characters, any printable ASCII. Returns the reason for a rejection.
 */
export function checkPinPolicy(reference: PinReference, value: string, policy: Tenant['pinPolicy']): string | undefined {
  if (reference === 'puk') return /^[\x21-\x7e]{6,8}$/.test(value) ? undefined : 'a PUK is 6-8 printable characters';
  if (value.length < policy.minLength || value.length > policy.maxLength) return `a PIN is ${policy.minLength}-${policy.maxLength} digits`;
  if (!/^[0-9]+$/.test(value)) return 'a PIN is digits only';
  return undefined;
}

/** A random numeric secret of the given length, without modulo bias. */
export function randomDigits(random: Random, length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of random.bytes(length * 2)) if (byte < 250 && out.length < length) out += String(byte % 10);
  }
  return out;
}
