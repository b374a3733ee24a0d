/**
 * GENERATE ASYMMETRIC KEY PAIR (INS 47), SP 800-73-4 Part 2 §3.3.2, with yubico's PIN/touch policy tags.
 * The holder may tighten a slot's PIN rule but not loosen it, and may use only the algorithms the card's
 * issuer allows: both refused 6A80, which yubico-piv-tool reports as "pin policy / algorithm not supported".
 */
import { SW } from '../apdu.ts';
import { asymmetricById, publicKeyDataObjects, publicKeyParts } from '../algorithms.ts';
import type { PivSlot, SlotInfo } from '../card-port.ts';
import { loosensSlotRule } from '../slot-rules.ts';
import { decodeMap, decodeOne, tlv } from '../tlv.ts';
import { status, type CommandContext, type Outcome } from './context.ts';

const GENERATION_SLOTS: ReadonlyMap<number, PivSlot> = new Map([
  [0x9a, '9a'],
  [0x9c, '9c'],
  [0x9d, '9d'],
  [0x9e, '9e'],
]);

/** yubico PIN policy byte (tag AA): 00 default (the slot's own), 01 never, 02 once, 03 always. */
const PIN_POLICIES: ReadonlyMap<number, SlotInfo['pinPolicy'] | undefined> = new Map([
  [0x00, undefined],
  [0x01, 'never'],
  [0x02, 'once'],
  [0x03, 'always'],
]);

/** yubico touch policy byte (tag AB): a virtual card has no button, so only 00 default and 01 never. */
const TOUCH_POLICIES = [0x00, 0x01];

export async function generateKeyPair(context: CommandContext): Promise<Outcome> {
  const { command, base, deps } = context;
  const slot = GENERATION_SLOTS.get(command.p2);
  if (command.p1 !== 0x00 || !slot) return status(SW.INCORRECT_P1P2, base);
  if (!base.adminAuthenticated) return status(SW.SECURITY_STATUS_NOT_SATISFIED, base);
  if (command.data.length === 0) return status(SW.WRONG_LENGTH, base);
  const outer = decodeOne(command.data);
  const members = outer?.tag === 0xac ? decodeMap(outer.value, [0x80, 0xaa, 0xab]) : undefined;
  const algorithmByte = members?.get(0x80);
  if (!members || algorithmByte?.length !== 1) return status(SW.INCORRECT_DATA, base);
  const algorithm = asymmetricById(algorithmByte[0]!);
  if (!algorithm) return status(SW.INCORRECT_DATA, base);
  const pinByte = members.get(0xaa);
  const touchByte = members.get(0xab);
  if (pinByte && (pinByte.length !== 1 || !PIN_POLICIES.has(pinByte[0]!))) return status(SW.INCORRECT_DATA, base);
  if (touchByte && (touchByte.length !== 1 || !TOUCH_POLICIES.includes(touchByte[0]!))) return status(SW.INCORRECT_DATA, base);
  const pinPolicy = pinByte ? PIN_POLICIES.get(pinByte[0]!) : undefined;
  if (pinPolicy && loosensSlotRule(slot, pinPolicy)) return status(SW.INCORRECT_DATA, base);
  if (!(await deps.card.holderLimits()).algorithms.includes(algorithm)) return status(SW.INCORRECT_DATA, base);
  const spki = await deps.card.generateKey(slot, algorithm, pinPolicy ? { pinPolicy } : {});
  const parts = publicKeyParts(spki);
  if (!parts) return status(SW.NO_PRECISE_DIAGNOSIS, base);
  return { sw: SW.OK, data: tlv(0x7f49, publicKeyDataObjects(parts)), state: base };
}
