/**
 * The yubico PIV extensions yubico-piv-tool needs on a non-YubiKey card: GET VERSION (FD), GET SERIAL (F8),
 * GET METADATA (F7), SET MANAGEMENT KEY (FF) and RESET (FB). Encodings follow Yubico's published PIV
 * command reference.
 */
import { SW } from '../apdu.ts';
import { ASYMMETRIC_IDS, MANAGEMENT_IDS, MANAGEMENT_KEY_BYTES, managementById, publicKeyDataObjects, publicKeyParts } from '../algorithms.ts';
import type { SlotInfo } from '../card-port.ts';
import { isFactoryKey } from '../management-key.ts';
import { newSessionState } from '../session.ts';
import { concat, tlv } from '../tlv.ts';
import { SLOT_OF_REFERENCE } from './authenticate.ts';
import { status, type CommandContext, type Outcome } from './context.ts';

function noParameters(context: CommandContext): Outcome | undefined {
  const { command, base } = context;
  if (command.p1 !== 0x00 || command.p2 !== 0x00) return status(SW.INCORRECT_P1P2, base);
  if (command.data.length !== 0) return status(SW.WRONG_LENGTH, base);
  return undefined;
}

export function getVersion(context: CommandContext): Outcome {
  return noParameters(context) ?? { sw: SW.OK, data: Uint8Array.from(context.deps.card.version), state: context.base };
}

export function getSerial(context: CommandContext): Outcome {
  const refused = noParameters(context);
  if (refused) return refused;
  const serial = context.deps.card.serial >>> 0;
  return { sw: SW.OK, data: Uint8Array.of(serial >>> 24, (serial >>> 16) & 0xff, (serial >>> 8) & 0xff, serial & 0xff), state: context.base };
}

/** Metadata tags: 01 algorithm, 02 policy (PIN, touch), 03 origin, 04 public key, 05 default, 06 retries. */
const POLICY_CODE: Readonly<Record<SlotInfo['pinPolicy'], number>> = { never: 0x01, once: 0x02, always: 0x03 };
const TOUCH_NEVER = 0x01;
const ORIGIN_CODE: Readonly<Record<SlotInfo['origin'], number>> = { generated: 0x01, imported: 0x02 };

export async function getMetadata(context: CommandContext): Promise<Outcome> {
  const { command, base, deps } = context;
  if (command.p1 !== 0x00) return status(SW.INCORRECT_P1P2, base);
  if (command.data.length !== 0) return status(SW.WRONG_LENGTH, base);
  const reference = command.p2;
  if (reference === 0x80 || reference === 0x81) {
    const pin = await deps.card.pinStatus(reference === 0x80 ? 'pin' : 'puk');
    const data = concat(
      tlv(0x01, Uint8Array.of(0xff)),
      tlv(0x05, Uint8Array.of(pin.mustChange ? 0x01 : 0x00)),
      tlv(0x06, Uint8Array.of(Math.min(pin.maxTries, 0xff), Math.min(pin.remaining, 0xff))),
    );
    return { sw: SW.OK, data, state: base };
  }
  if (reference === 0x9b) {
    const { algorithm, key } = await deps.card.managementKey();
    const data = concat(
      tlv(0x01, Uint8Array.of(MANAGEMENT_IDS[algorithm])),
      tlv(0x02, Uint8Array.of(0x00, TOUCH_NEVER)),
      tlv(0x05, Uint8Array.of(algorithm === '3des' && isFactoryKey(key) ? 0x01 : 0x00)),
    );
    return { sw: SW.OK, data, state: base };
  }
  const slot = SLOT_OF_REFERENCE.get(reference);
  if (!slot) return status(SW.REFERENCE_NOT_FOUND, base);
  const info = await deps.card.slot(slot);
  if (!info) return status(SW.REFERENCE_NOT_FOUND, base);
  const parts = publicKeyParts(info.publicKey);
  if (!parts) return status(SW.REFERENCE_DATA_NOT_USABLE, base);
  const data = concat(
    tlv(0x01, Uint8Array.of(ASYMMETRIC_IDS[info.algorithm])),
    tlv(0x02, Uint8Array.of(POLICY_CODE[info.pinPolicy], TOUCH_NEVER)),
    tlv(0x03, Uint8Array.of(ORIGIN_CODE[info.origin])),
    tlv(0x04, publicKeyDataObjects(parts)),
  );
  return { sw: SW.OK, data, state: base };
}

/**
 * SET MANAGEMENT KEY: P1 FF, P2 FF (FE would ask for touch, which a virtual card cannot offer). The new key
 * must use an algorithm the issuer allows and may not be the published factory key, which would let anyone
 * holding a card session replace (and so destroy) slot keys: 6A80.
 */
export async function setManagementKey(context: CommandContext): Promise<Outcome> {
  const { command, base, deps } = context;
  if (command.p1 !== 0xff || command.p2 !== 0xff) return status(SW.INCORRECT_P1P2, base);
  if (!base.adminAuthenticated) return status(SW.SECURITY_STATUS_NOT_SATISFIED, base);
  const [algorithmId, reference, length] = command.data;
  const algorithm = algorithmId === undefined ? undefined : managementById(algorithmId);
  if (!algorithm || reference !== 0x9b || length !== MANAGEMENT_KEY_BYTES[algorithm] || command.data.length !== 3 + length) {
    return status(SW.INCORRECT_DATA, base);
  }
  const key = command.data.slice(3);
  if (isFactoryKey(key) || !(await deps.card.holderLimits()).managementAlgorithms.includes(algorithm)) return status(SW.INCORRECT_DATA, base);
  await deps.card.setManagementKey(algorithm, key);
  return status(SW.OK, base);
}

/**
 * RESET: only a card whose PIN and PUK are both blocked may be wiped back to factory state, and only a card
 * that offers the wipe at all; an issued cloud card does not (its keys, 9D's above all, cannot be remade), so
 * it answers 6985 as a YubiKey does when the conditions are not met.
 */
export async function reset(context: CommandContext): Promise<Outcome> {
  const refused = noParameters(context);
  if (refused) return refused;
  const { deps, base } = context;
  if (!deps.card.reset) return status(SW.CONDITIONS_NOT_SATISFIED, base);
  const [pin, puk] = [await deps.card.pinStatus('pin'), await deps.card.pinStatus('puk')];
  if (pin.remaining !== 0 || puk.remaining !== 0) return status(SW.CONDITIONS_NOT_SATISFIED, base);
  await deps.card.reset();
  return status(SW.OK, newSessionState());
}
