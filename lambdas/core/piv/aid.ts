/** The PIV Card Application identifier (SP 800-73-4 Part 1 §2.2): RID A0 00 00 03 08, PIX 00 00 10 00 01 00. */
export const PIV_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00);

/** The NIST RID: the shortest AID prefix SELECT accepts (ISO 7816-4 partial DF name selection). */
export const PIV_RID_LENGTH = 5;

/**
 * Whether a SELECT's DF name picks the PIV application: the full AID or any prefix of it at least as long as
 * the RID (yubico-piv-tool sends the 5-byte RID, OpenSC the 9 bytes without the version).
 */
export function selectsPiv(name: Uint8Array): boolean {
  if (name.length < PIV_RID_LENGTH || name.length > PIV_AID.length) return false;
  return name.every((byte, i) => byte === PIV_AID[i]);
}
