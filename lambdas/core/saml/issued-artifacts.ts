import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { ConflictError } from '../errors.ts';
import type { Clock, Item, Random, StateStore } from '../../ports.ts';
import { artifactHash, decodeArtifact, encodeArtifact, sourceIdOf } from './artifact.ts';
import { SamlError } from './xml.ts';

/** An artifact lives long enough for the SP's back-channel call, no longer (Bindings §3.6.5.1 suggests minutes at most). */
export const ARTIFACT_SECONDS = 60;
/** Index of our ArtifactResolutionService in the metadata; every artifact we issue names it. */
export const IDP_ARS_INDEX = 0;

/** The sign-in an assertion carried by an artifact continues: checked again when the SP resolves it. */
export interface ArtifactGrant {
  readonly user: string;
  /** The sign-in's time (epoch seconds), for the access check's revocation rule. */
  readonly grantedAt: number;
  readonly sessionId?: string;
}

type ArtifactItem = Item & { tenant: string; spEntityId: string; sealed: string; username?: string; grant?: ArtifactGrant; expiresAt: number };
const artifactKey = (artifact: string) => ({ PK: `SAMLART#${artifactHash(artifact)}`, SK: 'SAMLART' });

/**
 * The stored message is sealed (AES-256-GCM) under a key derived from the artifact, which only the SP
 * holds; the table keeps the artifact's hash and the ciphertext, so a read of the table yields no
 * assertion that could be posted to an ACS.
 */
const sealingKey = (artifact: string): Buffer =>
  Buffer.from(hkdfSync('sha256', Buffer.from(artifact, 'base64'), Buffer.alloc(0), 'cloudcard saml artifact message', 32));

function seal(artifact: string, message: string, iv: Uint8Array): string {
  const cipher = createCipheriv('aes-256-gcm', sealingKey(artifact), iv);
  const ciphertext = Buffer.concat([cipher.update(message, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
}

function open(artifact: string, sealed: string): string {
  const bytes = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', sealingKey(artifact), bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(12, 28));
  return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
}

/** What a resolved artifact hands back: the message, and whose federation its delivery confirms. */
export interface TakenArtifact {
  readonly message: string;
  readonly username?: string;
  readonly grant?: ArtifactGrant;
}

/**
 * Messages the IdP sends by HTTP-Artifact (Response to an ACS): stored under the hash of the artifact
 * for ARTIFACT_SECONDS, handed out once, and only to the SP they were issued to.
 */
export class IssuedArtifacts {
  readonly #state: StateStore;
  readonly #clock: Clock;
  readonly #random: Random;

  constructor(state: StateStore, clock: Clock, random: Random) {
    this.#state = state;
    this.#clock = clock;
    this.#random = random;
  }

  /** Stores the message and returns its artifact (type 0x0004, SourceID = SHA-1 of our entityID). */
  async issue(tenant: string, idpEntityId: string, spEntityId: string, message: string, username?: string, grant?: ArtifactGrant): Promise<string> {
    const artifact = encodeArtifact(idpEntityId, IDP_ARS_INDEX, this.#random.bytes(20));
    const expiresAt = Math.floor(this.#clock.now() / 1000) + ARTIFACT_SECONDS;
    const sealed = seal(artifact, message, this.#random.bytes(12));
    await this.#state.put(
      { ...artifactKey(artifact), tenant, spEntityId, sealed, ...(username ? { username } : {}), ...(grant ? { grant } : {}), expiresAt },
      { absent: true },
    );
    return artifact;
  }

  /**
   * The message, exactly once, to the SP it was issued to: one conditional delete (live, same SP)
   * decides between two concurrent resolutions. A foreign SP gets nothing and does not burn it.
   */
  async take(tenant: string, idpEntityId: string, artifact: string, requesterEntityId: string): Promise<TakenArtifact | undefined> {
    let decoded;
    try {
      decoded = decodeArtifact(artifact);
    } catch (error) {
      if (error instanceof SamlError) return undefined;
      throw error;
    }
    if (decoded.sourceId !== sourceIdOf(idpEntityId).toString('hex') || decoded.endpointIndex !== IDP_ARS_INDEX) return undefined;
    const item = await this.#state.get<ArtifactItem>(artifactKey(artifact));
    if (!item || item.tenant !== tenant || item.spEntityId !== requesterEntityId) return undefined;
    if (item.expiresAt <= Math.floor(this.#clock.now() / 1000)) return undefined;
    try {
      await this.#state.delete(artifactKey(artifact), { equals: { tenant, spEntityId: requesterEntityId } });
    } catch (error) {
      if (error instanceof ConflictError) return undefined;
      throw error;
    }
    return { message: open(artifact, item.sealed), ...(item.username ? { username: item.username } : {}), ...(item.grant ? { grant: item.grant } : {}) };
  }
}
