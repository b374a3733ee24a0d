/** SELECT (ISO 7816-4 §11.2.2) of the PIV application, answering its application property template. */
import { SW } from '../apdu.ts';
import { ASYMMETRIC_IDS, MANAGEMENT_IDS } from '../algorithms.ts';
import { PIV_AID, PIV_RID_LENGTH, selectsPiv } from '../aid.ts';
import { concat, tlv } from '../tlv.ts';
import { status, type CommandContext, type Outcome } from './context.ts';

const LABEL = new TextEncoder().encode('cloudcard PIV');

/**
 * Application property template (SP 800-73-4 Part 1 Table 3): 4F the PIX, 79 the coexistent tag allocation
 * authority (the NIST RID), 50 a label, AC the algorithms the card implements ending with 06 01 00.
 */
export function applicationPropertyTemplate(): Uint8Array {
  const algorithms = [...Object.values(MANAGEMENT_IDS), ...Object.values(ASYMMETRIC_IDS)].map((id) => tlv(0x80, Uint8Array.of(id)));
  return tlv(
    0x61,
    tlv(0x4f, PIV_AID.subarray(PIV_RID_LENGTH)),
    tlv(0x79, tlv(0x4f, PIV_AID.subarray(0, PIV_RID_LENGTH))),
    tlv(0x50, LABEL),
    tlv(0xac, concat(...algorithms, tlv(0x06, Uint8Array.of(0x00)))),
  );
}

/** File selections (P1 00..03, 08, 09): this card has no file system, so the file is never found. */
const FILE_SELECTION = [0x00, 0x01, 0x02, 0x03, 0x08, 0x09];

/**
 * PIV is the card's only and default application, so a SELECT that fails (another AID, a file) leaves it
 * selected, as ISO 7816-4 says a failed selection keeps the current one. Selecting PIV again keeps the
 * verified PIN and the 9B authentication (OpenSC re-selects when it takes the card lock and expects its
 * login to survive); only the one-command state (PIN-always permission, chains, pending data) is dropped.
 * Hosts that want a clean slate send VERIFY with P1=FF (yubico-piv-tool does) or reset the card.
 */
export function select(context: CommandContext): Outcome {
  const { command, base } = context;
  if (FILE_SELECTION.includes(command.p1)) return status(SW.NOT_FOUND, base);
  if (command.p1 !== 0x04) return status(SW.INCORRECT_P1P2, base);
  // P2: 00 return FCI/template, 0C no response data; 02 "next occurrence" finds nothing on a one-app card.
  if (command.p2 === 0x02 || command.p2 === 0x0e) return status(SW.NOT_FOUND, base);
  if (command.p2 !== 0x00 && command.p2 !== 0x0c) return status(SW.INCORRECT_P1P2, base);
  if (!selectsPiv(command.data)) return status(SW.NOT_FOUND, base);
  return { sw: SW.OK, data: command.p2 === 0x0c ? undefined : applicationPropertyTemplate(), state: base };
}
