import { buildCcc, buildCertificateObject, buildChuid, buildDiscovery, buildKeyHistory, parseCertificateObject } from '../piv/builders.ts';
import type { PivSlot } from '../piv/card-port.ts';
import { buildSecurityObject, signChuid, type ContentSigner } from '../piv/content-signing.ts';
import { CERT_TAG_OF_SLOT, TAG } from '../piv/objects.ts';

/** How long a card's CHUID says it is valid: the same as its certificates. */
const CARD_VALIDITY_YEARS = 3;

/**
 * The PIV data objects a new card starts with: CCC and CHUID (unique per card: its GUID and serial; the
 * CHUID signed by the tenant's content signer), Discovery, an empty Key History, one certificate object
 * per enrolled slot, and the Security Object over all of them.
 */
export async function initialObjects(input: {
  guid: Uint8Array;
  serial: number;
  certificates: ReadonlyMap<PivSlot, Uint8Array>;
  now: number;
  signer: ContentSigner;
}): Promise<Map<number, Uint8Array>> {
  const expires = new Date(input.now);
  expires.setUTCFullYear(expires.getUTCFullYear() + CARD_VALIDITY_YEARS);
  // RFC 4122 version 4 / variant bits, so the GUID reads as the UUID it is meant to be.
  const guid = Uint8Array.from(input.guid);
  guid[6] = (guid[6]! & 0x0f) | 0x40;
  guid[8] = (guid[8]! & 0x3f) | 0x80;
  const cardId = new Uint8Array(14);
  cardId.set(guid.subarray(0, 10));
  new DataView(cardId.buffer).setUint32(10, input.serial);
  const objects = new Map<number, Uint8Array>([
    [TAG.CCC, buildCcc(cardId)],
    [TAG.CHUID, await signChuid(buildChuid({ guid, expires }), input.signer, new Date(input.now))],
    [TAG.DISCOVERY, buildDiscovery()],
    [TAG.KEY_HISTORY, buildKeyHistory({ onCard: 0, offCard: 0 })],
  ]);
  for (const [slot, der] of input.certificates) objects.set(CERT_TAG_OF_SLOT[slot], buildCertificateObject(der));
  objects.set(TAG.SECURITY_OBJECT, await buildSecurityObject(objects, input.signer, new Date(input.now)));
  return objects;
}

/** The X.509 DER in a slot's certificate object, when there is a well-formed one. */
export function certificateOf(objects: ReadonlyMap<number, Uint8Array>, slot: PivSlot): Uint8Array | undefined {
  const content = objects.get(CERT_TAG_OF_SLOT[slot]);
  return content ? parseCertificateObject(content) : undefined;
}
