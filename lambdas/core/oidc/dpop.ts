import { calculateJwkThumbprint, compactVerify, errors, importJWK, type JWK } from 'jose';
import { ConflictError } from '../errors.ts';
import type { Clock, Item, Random, StateStore } from '../../ports.ts';
import { OAuthError, invalidDpopProof } from './errors.ts';
import { s256 } from './hashing.ts';
import type { ReplayCache } from './replay.ts';

/** Proof algorithms we accept and advertise (`dpop_signing_alg_values_supported`): asymmetric only. */
export const DPOP_ALGORITHMS = ['ES256', 'RS256', 'PS256', 'EdDSA'] as const;

export interface DpopCheck {
  readonly tenant: string;
  /** HTTP method of the request. */
  readonly method: string;
  /** The endpoint URL the client targeted (htu), exactly as our issuer builds it. */
  readonly url: string;
  /** When presented at a resource (userinfo, introspection): the proof's `ath` must hash to it. */
  readonly accessToken?: string;
  readonly requireNonce: boolean;
}

export interface DpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof key: what tokens get bound to (`cnf.jkt`). */
  readonly jkt: string;
  readonly jwk: JWK;
  readonly jti: string;
}

// ------------------------------------------------------------------------------------------- nonces

/** A nonce is handed out for 5 minutes, then accepted 5 minutes more as `previous`. */
const ROTATE_SECONDS = 300;
/** Each container rereads the nonce item at most this often, instead of once per request. */
const CACHE_MS = 15_000;
/** An unknown nonce forces a reread (another container may have rotated), but not more often than this. */
const REREAD_MS = 1_000;
/** Shape of Random.id() values (URL-safe, >= 128 bits); anything else is rejected without a read. */
const NONCE = /^[A-Za-z0-9._~-]{16,256}$/;

type NonceItem = Item & { current: string; previous?: string; rotatedAt: number; version: number; expiresAt: number };
const nonceKey = (tenant: string) => ({ PK: `DPOPNONCE#${tenant}`, SK: 'DPOPNONCE' });

/**
 * Server-issued DPoP nonces (RFC 9449 §8), one rotating pair per tenant in the state table. The item
 * expires two periods after its last rotation, so after a quiet spell no stale nonce comes back as
 * `previous`: a fresh item starts over.
 */
export class DpopNonces {
  readonly #state: StateStore;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #cache = new Map<string, { item: NonceItem; readAt: number }>();

  constructor(state: StateStore, clock: Clock, random: Random) {
    this.#state = state;
    this.#clock = clock;
    this.#random = random;
  }

  /** The nonce to hand out (DPoP-Nonce header); rotates the tenant's nonce when it is due. */
  async current(tenant: string): Promise<string> {
    let item = (await this.#read(tenant, true)).item;
    for (let attempt = 0; !item || this.#due(item); attempt++) {
      // Each failed attempt means another container just wrote a fresh item, so this is a safety stop.
      if (attempt === 3) throw new ConflictError('the DPoP nonce kept changing; retry');
      item = item ? await this.#rotate(tenant, item) : await this.#create(tenant);
    }
    return item.current;
  }

  async isValid(tenant: string, nonce: string): Promise<boolean> {
    if (!NONCE.test(nonce)) return false;
    const { item, readAt } = await this.#read(tenant, true);
    if (item && this.#accepts(item, nonce)) return true;
    // Another container may have rotated since we read the item: look once more before refusing. The
    // floor keeps a flood of made-up nonces from turning into one read each.
    if (this.#clock.now() - readAt < REREAD_MS) return false;
    const fresh = (await this.#read(tenant, false)).item;
    return Boolean(fresh && this.#accepts(fresh, nonce));
  }

  #accepts(item: NonceItem, nonce: string): boolean {
    const now = this.#now();
    if (now >= item.expiresAt) return false;
    return nonce === item.current || (nonce === item.previous && now < item.rotatedAt + ROTATE_SECONDS);
  }

  #due(item: NonceItem): boolean {
    return this.#now() >= item.rotatedAt + ROTATE_SECONDS;
  }

  /** The tenant's nonce item, and when it was read from the store. */
  async #read(tenant: string, allowCache: boolean): Promise<{ item: NonceItem | undefined; readAt: number }> {
    const hit = this.#cache.get(tenant);
    if (allowCache && hit && this.#clock.now() - hit.readAt < CACHE_MS && this.#now() < hit.item.expiresAt) return hit;
    const item = await this.#state.get<NonceItem>(nonceKey(tenant));
    this.#remember(tenant, item);
    return { item, readAt: this.#clock.now() };
  }

  #remember(tenant: string, item: NonceItem | undefined): void {
    if (item) this.#cache.set(tenant, { item, readAt: this.#clock.now() });
    else this.#cache.delete(tenant);
  }

  async #create(tenant: string): Promise<NonceItem | undefined> {
    const now = this.#now();
    const item: NonceItem = { ...nonceKey(tenant), current: this.#random.id(), rotatedAt: now, version: 1, expiresAt: now + 2 * ROTATE_SECONDS };
    try {
      await this.#state.put(item, { absent: true });
    } catch (error) {
      if (error instanceof ConflictError) return (await this.#read(tenant, false)).item;
      throw error;
    }
    this.#remember(tenant, item);
    return item;
  }

  async #rotate(tenant: string, item: NonceItem): Promise<NonceItem | undefined> {
    const now = this.#now();
    const changes = { current: this.#random.id(), previous: item.current, rotatedAt: now, version: item.version + 1, expiresAt: now + 2 * ROTATE_SECONDS };
    try {
      // `current` is in the guard too: a recreated item restarts at version 1, and may meet a stale copy.
      const next = await this.#state.update<NonceItem>(nonceKey(tenant), changes, { present: true, equals: { version: item.version, current: item.current } });
      this.#remember(tenant, next);
      return next;
    } catch (error) {
      // A concurrent rotation won: use its nonce.
      if (error instanceof ConflictError) return (await this.#read(tenant, false)).item;
      throw error;
    }
  }

  #now(): number {
    return Math.floor(this.#clock.now() / 1000);
  }
}

// ----------------------------------------------------------------------------------------- verifier

/** Far above any honest proof (an RSA-4096 key and signature are about 1.4 kB together). */
const MAX_PROOF_CHARS = 8192;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** JWK members that only a private (or symmetric) key has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export interface DpopVerifierDeps {
  readonly replay: Pick<ReplayCache, 'firstUse'>;
  readonly nonces: DpopNonces;
  readonly clock: Clock;
  readonly maxAgeSeconds?: number;
  /** Tolerated clock skew for an `iat` in the future. */
  readonly leewaySeconds?: number;
}

/**
 * Checks a DPoP proof (RFC 9449 §4.3). Structural and claim checks run first, then the signature, then
 * the nonce (a read, usually cached), and the replay record last: a proof rejected for any other reason
 * leaves its `jti` unused.
 */
export class DpopVerifier {
  readonly #replay: Pick<ReplayCache, 'firstUse'>;
  readonly #nonces: DpopNonces;
  readonly #clock: Clock;
  readonly #maxAge: number;
  readonly #leeway: number;

  constructor(deps: DpopVerifierDeps) {
    this.#replay = deps.replay;
    this.#nonces = deps.nonces;
    this.#clock = deps.clock;
    this.#maxAge = deps.maxAgeSeconds ?? 300;
    this.#leeway = deps.leewaySeconds ?? 5;
  }

  /** undefined when the request carries no DPoP header; throws OAuthError otherwise if anything is wrong. */
  async verify(header: string | undefined, check: DpopCheck): Promise<DpopProof | undefined> {
    if (header === undefined) return undefined;
    const proof = header.trim();
    if (proof === '') throw invalidDpopProof('DPoP header is empty');
    // Repeated DPoP headers arrive joined by commas; a JWS never contains one.
    if (proof.includes(',')) throw invalidDpopProof('more than one DPoP proof');
    if (proof.length > MAX_PROOF_CHARS) throw invalidDpopProof('DPoP proof is too large');
    if (!COMPACT_JWS.test(proof)) throw invalidDpopProof('DPoP proof is not a compact JWS');
    const [encodedHeader, encodedPayload] = proof.split('.') as [string, string, string];

    const jose = decodeSegment(encodedHeader);
    if (!jose) throw invalidDpopProof('DPoP proof header is not a JSON object');
    if (!isDpopTyp(jose['typ'])) throw invalidDpopProof('DPoP proof typ must be dpop+jwt');
    const alg = jose['alg'];
    if (!isDpopAlgorithm(alg)) throw invalidDpopProof(`DPoP proof alg must be one of ${DPOP_ALGORITHMS.join(', ')}`);
    // crit/b64 would change what the signature covers; no proof needs them.
    if ('crit' in jose || 'b64' in jose) throw invalidDpopProof('DPoP proof header must not use crit or b64');
    const jwk = publicJwk(jose['jwk'], alg);

    const claims = decodeSegment(encodedPayload);
    if (!claims) throw invalidDpopProof('DPoP proof payload is not a JSON object');
    const { jti, htm, htu, iat, ath } = claims;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > 128) throw invalidDpopProof('DPoP proof jti must be a string of 1 to 128 characters');
    if (htm !== check.method) throw invalidDpopProof('DPoP proof htm does not match the request method');
    const target = typeof htu === 'string' ? normaliseHtu(htu) : undefined;
    if (!target || target !== normaliseHtu(check.url, true)) throw invalidDpopProof('DPoP proof htu does not match the request URL');
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalidDpopProof('DPoP proof iat must be a number');
    const now = this.#clock.now() / 1000;
    if (iat < now - this.#maxAge) throw invalidDpopProof('DPoP proof is too old');
    if (iat > now + this.#leeway) throw invalidDpopProof('DPoP proof iat is in the future');
    if (check.accessToken !== undefined) {
      if (typeof ath !== 'string') throw invalidDpopProof('DPoP proof ath is missing');
      if (ath !== s256(check.accessToken)) throw invalidDpopProof('DPoP proof ath does not match the access token');
    }

    let key: Awaited<ReturnType<typeof importJWK>>;
    try {
      key = await importJWK(jwk, alg);
    } catch {
      throw invalidDpopProof(`DPoP proof jwk is not a valid ${alg} public key`);
    }
    try {
      await compactVerify(proof, key, { algorithms: [alg] });
    } catch (error) {
      // jose refuses some keys only when verifying (an RSA modulus under 2048 bits).
      if (error instanceof errors.JWSSignatureVerificationFailed) throw invalidDpopProof('DPoP proof signature is invalid');
      throw invalidDpopProof(`DPoP proof jwk is not a valid ${alg} public key`);
    }

    if (check.requireNonce) {
      const nonce = claims['nonce'];
      if (typeof nonce !== 'string' || !(await this.#nonces.isValid(check.tenant, nonce))) {
        throw new OAuthError('use_dpop_nonce', 'Authorization server requires nonce in DPoP proof', {
          status: 400,
          headers: { 'DPoP-Nonce': await this.#nonces.current(check.tenant) },
        });
      }
    }

    const jkt = await calculateJwkThumbprint(jwk, 'sha256');
    // Remembered until the proof could no longer pass the iat window anyway.
    if (!(await this.#replay.firstUse(`dpop:${check.tenant}:${jkt}`, jti, iat + this.#maxAge + this.#leeway))) {
      throw invalidDpopProof('DPoP proof replayed');
    }
    return { jkt, jwk, jti };
  }
}

function isDpopAlgorithm(alg: unknown): alg is (typeof DPOP_ALGORITHMS)[number] {
  return (DPOP_ALGORITHMS as readonly unknown[]).includes(alg);
}

function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** RFC 7515 §4.1.9: "dpop+jwt" and "application/dpop+jwt" name the same media type, case-insensitively. */
function isDpopTyp(typ: unknown): boolean {
  return typeof typ === 'string' && ['dpop+jwt', 'application/dpop+jwt'].includes(typ.toLowerCase());
}

function publicJwk(value: unknown, alg: string): JWK {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalidDpopProof('DPoP proof header must carry a jwk');
  const jwk = value as JWK & Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) throw invalidDpopProof('DPoP proof jwk must be a public key');
  if ((jwk.use !== undefined && jwk.use !== 'sig') || (jwk.alg !== undefined && jwk.alg !== alg))
    throw invalidDpopProof('DPoP proof jwk is not meant for this alg');
  return jwk;
}

/**
 * Compares URLs as RFC 9449 §4.3 asks: without query and fragment, after RFC 3986 syntax- and
 * scheme-based normalisation (case of scheme and host, default port, dot segments, percent-encoding).
 */
function normaliseHtu(value: string, ours = false): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    if (ours) throw error; // our own endpoint URL is broken: a server fault, not the client's
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return undefined;
  const path = url.pathname.replace(/%[0-9A-Fa-f]{2}/g, (escape) => {
    const char = String.fromCharCode(parseInt(escape.slice(1), 16));
    return /[A-Za-z0-9._~-]/.test(char) ? char : escape.toUpperCase();
  });
  return `${url.protocol}//${url.host}${path}`;
}
