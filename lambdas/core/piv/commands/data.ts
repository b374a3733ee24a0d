/** GET DATA (INS CB) and PUT DATA (INS DB), SP 800-73-4 Part 2 §3.1.2 and §3.3.2. */
import { SW } from '../apdu.ts';
import { buildDiscovery } from '../builders.ts';
import { objectRule, responseTag, TAG } from '../objects.ts';
import { decodeAll, decodeOne, tlv } from '../tlv.ts';
import { status, type CommandContext, type Outcome } from './context.ts';

/** Largest object PUT DATA stores; it still fits one chain and one pending response. */
export const MAX_OBJECT_BYTES = 8000;

function isCurrentDataObject(command: { p1: number; p2: number }): boolean {
  return command.p1 === 0x3f && command.p2 === 0xff;
}

/** The tag named by a tag list `5C len tag` (one to three bytes), or undefined. */
function tagFromList(value: Uint8Array): number | undefined {
  if (value.length < 1 || value.length > 3) return undefined;
  return value.reduce((tag, byte) => (tag << 8) | byte, 0);
}

export async function getData(context: CommandContext): Promise<Outcome> {
  const { command, base, deps } = context;
  if (!isCurrentDataObject(command)) return status(SW.INCORRECT_P1P2, base);
  if (command.data.length === 0) return status(SW.WRONG_LENGTH, base);
  const list = decodeOne(command.data);
  const tag = list?.tag === 0x5c ? tagFromList(list.value) : undefined;
  if (tag === undefined) return status(SW.INCORRECT_DATA, base);
  const rule = objectRule(tag);
  if (!rule) return status(SW.NOT_FOUND, base);
  // The access rule is checked before presence, so an unverified reader cannot learn what exists.
  if (rule.pinToRead && !base.pinVerified) return status(SW.SECURITY_STATUS_NOT_SATISFIED, base);
  const stored = await deps.card.readObject(tag);
  const content = stored ?? (tag === TAG.DISCOVERY ? buildDiscovery() : undefined);
  if (content === undefined) return status(SW.NOT_FOUND, base);
  return { sw: SW.OK, data: tlv(responseTag(tag), content), state: base };
}

export async function putData(context: CommandContext): Promise<Outcome> {
  const { command, base, deps } = context;
  if (!isCurrentDataObject(command)) return status(SW.INCORRECT_P1P2, base);
  if (!base.adminAuthenticated) return status(SW.SECURITY_STATUS_NOT_SATISFIED, base);
  if (command.data.length === 0) return status(SW.WRONG_LENGTH, base);
  const items = decodeAll(command.data);
  if (!items || items.length !== 2 || items[0]!.tag !== 0x5c || items[1]!.tag !== 0x53) return status(SW.INCORRECT_DATA, base);
  const tag = tagFromList(items[0]!.value);
  const rule = tag === undefined ? undefined : objectRule(tag);
  if (tag === undefined || !rule?.writable) return status(SW.INCORRECT_DATA, base);
  const content = items[1]!.value;
  if (content.length > MAX_OBJECT_BYTES) return status(SW.NOT_ENOUGH_MEMORY, base);
  await deps.card.writeObject(tag, content.slice());
  return status(SW.OK, base);
}
