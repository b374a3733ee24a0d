import { createHash } from 'node:crypto';
import { SamlError } from './xml.ts';

/** The only artifact format SAML 2.0 defines (Bindings §3.6.4): TypeCode 0x0004. */
export const ARTIFACT_TYPE = 0x0004;
const LENGTH = 44; // 2 type + 2 index + 20 SourceID + 20 MessageHandle

export interface Artifact {
  readonly endpointIndex: number;
  /** SHA-1 of the issuer's entityID, hex. */
  readonly sourceId: string;
  readonly messageHandle: Buffer;
}

export const sourceIdOf = (entityId: string): Buffer => createHash('sha1').update(entityId, 'utf8').digest();

/** A type 0x0004 artifact: SourceID = SHA-1(issuer entityID), MessageHandle = 20 random bytes. */
export function encodeArtifact(issuerEntityId: string, endpointIndex: number, messageHandle: Uint8Array): string {
  if (messageHandle.length !== 20) throw new Error('an artifact message handle is 20 bytes');
  const bytes = Buffer.alloc(LENGTH);
  bytes.writeUInt16BE(ARTIFACT_TYPE, 0);
  bytes.writeUInt16BE(endpointIndex, 2);
  sourceIdOf(issuerEntityId).copy(bytes, 4);
  Buffer.from(messageHandle).copy(bytes, 24);
  return bytes.toString('base64');
}

/** Decodes a SAMLart value; anything but a 44-byte type 0x0004 artifact is refused. */
export function decodeArtifact(value: string): Artifact {
  if (value.length > 100 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) throw new SamlError('SAMLart is not a base64 artifact');
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length !== LENGTH) throw new SamlError('SAMLart is not a SAML 2.0 artifact (wrong length)');
  if (bytes.readUInt16BE(0) !== ARTIFACT_TYPE) throw new SamlError('SAMLart has an unsupported type code (only 0x0004)');
  return { endpointIndex: bytes.readUInt16BE(2), sourceId: bytes.subarray(4, 24).toString('hex'), messageHandle: bytes.subarray(24) };
}

/** The key an artifact is stored under: its hash, so the table never holds a resolvable artifact. */
export const artifactHash = (value: string): string => createHash('sha256').update(Buffer.from(value, 'base64')).digest('base64url');
