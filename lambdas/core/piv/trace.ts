/** Names for commands in logs: INS and parameters only, never the data (which can hold PINs and keys). */

const INSTRUCTION_NAMES: ReadonlyMap<number, string> = new Map([
  [0xa4, 'SELECT'],
  [0xcb, 'GET DATA'],
  [0xdb, 'PUT DATA'],
  [0x20, 'VERIFY'],
  [0x24, 'CHANGE REFERENCE DATA'],
  [0x2c, 'RESET RETRY COUNTER'],
  [0x87, 'GENERAL AUTHENTICATE'],
  [0x47, 'GENERATE ASYMMETRIC KEY PAIR'],
  [0xc0, 'GET RESPONSE'],
  [0xfd, 'GET VERSION'],
  [0xf8, 'GET SERIAL'],
  [0xf7, 'GET METADATA'],
  [0xff, 'SET MANAGEMENT KEY'],
  [0xfb, 'RESET'],
  [0xfa, 'SET PIN RETRIES'],
  [0xf9, 'ATTEST'],
  [0xfe, 'IMPORT ASYMMETRIC KEY'],
]);

export function instructionName(ins: number): string {
  return INSTRUCTION_NAMES.get(ins) ?? `INS ${hex(ins)}`;
}

function hex(byte: number): string {
  return byte.toString(16).toUpperCase().padStart(2, '0');
}

/** e.g. "GENERAL AUTHENTICATE 87 P1=07 P2=9A chained, 266 bytes"; total for any byte input. */
export function describeCommand(command: Uint8Array): string {
  if (command.length < 4) return `malformed APDU (${command.length} bytes)`;
  const [cla, ins, p1, p2] = [command[0]!, command[1]!, command[2]!, command[3]!];
  const chained = (cla & 0x10) !== 0 ? ' chained' : '';
  return `${instructionName(ins)} CLA=${hex(cla)} P1=${hex(p1)} P2=${hex(p2)}${chained}, ${command.length} bytes`;
}

/** e.g. "9000", "63C2". */
export function describeStatus(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, '0');
}
