/**
 * The ATR the client agent's virtual reader presents.
 *
 * OpenSC's PIV driver (card-piv.c, piv_match_card_continued) matches a card with an unknown ATR by probing
 * it (GET DATA Discovery, then SELECT of the PIV AID), and sorts it by the ATR's historical bytes: "Yubikey"
 * makes it a YubiKey (with its quirks and YubiKey-only probes), a compact-TLV application identifier
 * (tag F, length 9) equal to the PIV AID without version makes it SC_CARD_TYPE_PIV_II_HIST, a plain PIV
 * card with no card issues flagged, whereas a generic unknown ATR gets flagged as "VERIFY without data
 * may fail" and "other AIDs lose our state" workarounds. yubico-piv-tool does not require a YubiKey ATR: it
 * only compares the ATR with known YubiKey models to pick a device model, and an unknown one works (it
 * then asks GET VERSION / GET SERIAL, which this card answers).
 *
 * So the ATR announces a PIV card honestly, not a YubiKey: T=1, and historical bytes 80 (compact-TLV
 * follows) F9 (application identifier, 9 bytes) A0 00 00 03 08 00 00 10 00, then the check byte TCK.
 */
const HEADER = [0x3b, 0x8b, 0x80, 0x01];
const HISTORICAL = [0x80, 0xf9, 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00];

function withCheckByte(bytes: number[]): Uint8Array {
  // TCK: XOR of every byte from T0 to the last historical byte (ISO 7816-3 §8.2.5), needed since T=1 is offered.
  const tck = bytes.slice(1).reduce((x, b) => x ^ b, 0);
  return Uint8Array.from([...bytes, tck]);
}

export const PIV_ATR: Uint8Array = withCheckByte([...HEADER, ...HISTORICAL]);
