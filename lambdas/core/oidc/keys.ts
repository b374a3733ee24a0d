import { createPrivateKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { ConflictError, UnavailableError } from '../errors.ts';
import type { Clock, DirectoryStore, Item, JwsAlgorithm, KeyCustody, PublicJwk, Signer, WrappedKey } from '../../ports.ts';
import { tenantPartition } from '../directory/keys.ts';
import type { OidcSettings } from '../directory/tenant.ts';

const signOffThread = promisify(cryptoSign);

export interface TenantKey {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  /** `wrapped`: our key, stored wrapped by the KEK; `kms`: the stack's KMS signing key. */
  readonly mode: 'wrapped' | 'kms';
  readonly publicJwk: PublicJwk;
  readonly wrapped?: WrappedKey;
  readonly createdAt: string;
}

interface KeyRing {
  readonly current: string;
  readonly next?: string;
  /** Retired keys stay published until every token they signed has expired. */
  readonly retired: readonly { kid: string; until: number }[];
}

type RingItem = Item & { ring: KeyRing; version: number };
type KeyItem = Item & { key: TenantKey };

const ringKey = (tenant: string) => ({ PK: tenantPartition(tenant), SK: 'SIGNKEYS' });
const keyKey = (tenant: string, kid: string) => ({ PK: tenantPartition(tenant), SK: `SIGNKEY#${kid}` });
/** Custody context of a wrapped signing key: distinct from every card's, so neither opens the other. */
export const signingKeyContext = (tenant: string, kid: string) => ({ tenant, card: 'oidc-signing', slot: kid });

/** How long an unwrapped signing key may stay in a warm container: speed is why a tenant picks wrapped. */
const UNWRAPPED_CACHE_MS = 5 * 60_000;

/**
 * How long a container trusts its copy of a tenant's key ring. Safe because rotation only ever promotes
 * the already-published next key: a container still signing with the old current key for this long
 * produces tokens every verifier can check (the retired key stays published for the overlap).
 */
const RING_CACHE_MS = 30_000;

export interface TenantKeysDeps {
  readonly directory: DirectoryStore;
  readonly clock: Clock;
  /** Unwraps wrapped signing keys; absent where the function holds no KEK grant. */
  readonly custody?: KeyCustody;
  /** The stack's KMS signer, for tenants in `kms` mode. */
  readonly platformSigner?: Signer;
}

/**
 * A tenant's token-signing keys: the current key signs, the next one is already published so relying
 * parties have it cached before rotation makes it current, and retired keys stay in the JWKS until the
 * tokens they signed expire. Rotation is one guarded write on the ring item.
 */
export class TenantKeys {
  readonly #deps: TenantKeysDeps;
  readonly #unwrapped = new Map<string, { key: KeyObject; until: number }>();
  /** Key items never change once written (rotation writes new ones), so they are cached for good. */
  readonly #keys = new Map<string, TenantKey>();
  readonly #rings = new Map<string, { ring: KeyRing; until: number }>();

  constructor(deps: TenantKeysDeps) {
    this.#deps = deps;
  }

  /** The signer for new tokens, creating the tenant's first keys on first use. */
  async currentSigner(tenant: string, settings: OidcSettings): Promise<{ kid: string; signer: Signer }> {
    const ring = await this.#ring(tenant, settings);
    const key = await this.#key(tenant, ring.current);
    return { kid: key.kid, signer: await this.#signerFor(tenant, key) };
  }

  /**
   * The current key as a private KeyObject, for signers that need the key itself (SAML XML signatures).
   * Only `wrapped` keys have one: a `kms`-mode tenant's key never leaves KMS.
   */
  async currentPrivateKey(tenant: string, settings: OidcSettings): Promise<{ kid: string; alg: TenantKey['alg']; privateKey: KeyObject }> {
    const ring = await this.#ring(tenant, settings);
    const key = await this.#key(tenant, ring.current);
    if (key.mode !== 'wrapped') throw new UnavailableError('kms', 'the tenant signs with the KMS key, which has no exportable private key');
    return { kid: key.kid, alg: key.alg, privateKey: await this.#unwrap(tenant, key) };
  }

  /** The next key's private key (published ahead of rotation), when the ring has a wrapped one. */
  async nextPrivateKey(tenant: string, settings: OidcSettings): Promise<{ kid: string; alg: TenantKey['alg']; privateKey: KeyObject } | undefined> {
    const ring = await this.#ring(tenant, settings);
    if (!ring.next) return undefined;
    const key = await this.#key(tenant, ring.next);
    if (key.mode !== 'wrapped') return undefined;
    return { kid: key.kid, alg: key.alg, privateKey: await this.#unwrap(tenant, key) };
  }

  /** Every published public key: current, next, and retired ones still within their overlap. */
  async jwks(tenant: string, settings: OidcSettings): Promise<PublicJwk[]> {
    const ring = await this.#ring(tenant, settings);
    const now = this.#deps.clock.now();
    const kids = [ring.current, ...(ring.next ? [ring.next] : []), ...ring.retired.filter((r) => r.until > now).map((r) => r.kid)];
    return Promise.all(kids.map(async (kid) => (await this.#key(tenant, kid)).publicJwk));
  }

  /**
   * Promotes next to current, retires current (published for `overlapSeconds` more), and creates a new
   * next key in the tenant's configured mode and algorithm.
   */
  async rotate(tenant: string, settings: OidcSettings, overlapSeconds: number): Promise<{ current: string; next: string; retired: string }> {
    await this.#ring(tenant, settings); // a tenant that never signed gets its first keys, then rotates
    const item = (await this.#deps.directory.get<RingItem>(ringKey(tenant)))!;
    const promoted = item.ring.next ?? (await this.#createKey(tenant, settings)).kid;
    const fresh = await this.#createKey(tenant, settings);
    const now = this.#deps.clock.now();
    const ring: KeyRing = {
      current: promoted,
      next: fresh.kid,
      retired: [...item.ring.retired.filter((r) => r.until > now), { kid: item.ring.current, until: now + overlapSeconds * 1000 }],
    };
    try {
      await this.#deps.directory.update(ringKey(tenant), { ring, version: item.version + 1 }, { equals: { version: item.version } });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError('the keys were rotated concurrently; run the rotation again if needed');
      throw error;
    }
    this.#rings.delete(tenant);
    return { current: ring.current, next: fresh.kid, retired: item.ring.current };
  }

  async #ring(tenant: string, settings: OidcSettings): Promise<KeyRing> {
    const now = this.#deps.clock.now();
    const cached = this.#rings.get(tenant);
    if (cached && cached.until > now) return cached.ring;
    const ring = await this.#loadRing(tenant, settings);
    this.#rings.set(tenant, { ring, until: now + RING_CACHE_MS });
    return ring;
  }

  async #loadRing(tenant: string, settings: OidcSettings): Promise<KeyRing> {
    const item = await this.#deps.directory.get<RingItem>(ringKey(tenant));
    if (item) return item.ring;
    const current = await this.#createKey(tenant, settings);
    const next = settings.signingMode === 'wrapped' ? await this.#createKey(tenant, settings) : undefined;
    const ring: KeyRing = { current: current.kid, ...(next ? { next: next.kid } : {}), retired: [] };
    try {
      await this.#deps.directory.put({ ...ringKey(tenant), ring, version: 1 }, { absent: true });
      return ring;
    } catch (error) {
      // Another request created the ring first: use theirs (our unused keys are harmless).
      if (error instanceof ConflictError) return (await this.#deps.directory.get<RingItem>(ringKey(tenant)))!.ring;
      throw error;
    }
  }

  async #key(tenant: string, kid: string): Promise<TenantKey> {
    const cacheKey = `${tenant}/${kid}`;
    const cached = this.#keys.get(cacheKey);
    if (cached) return cached;
    const item = await this.#deps.directory.get<KeyItem>(keyKey(tenant, kid));
    if (!item) throw new UnavailableError('directory', `signing key ${kid} of tenant ${tenant} is missing`);
    this.#keys.set(cacheKey, item.key);
    return item.key;
  }

  async #createKey(tenant: string, settings: OidcSettings): Promise<TenantKey> {
    const createdAt = new Date(this.#deps.clock.now()).toISOString();
    if (settings.signingMode === 'kms') {
      const platform = this.#deps.platformSigner;
      if (!platform) throw new UnavailableError('kms', 'no KMS signing key is configured for this function');
      const publicJwk = await platform.publicJwk();
      const key: TenantKey = { kid: publicJwk.kid, alg: 'RS256', mode: 'kms', publicJwk, createdAt };
      await this.#deps.directory.put({ ...keyKey(tenant, key.kid), key });
      return key;
    }
    const custody = this.#deps.custody;
    if (!custody) throw new UnavailableError('kms', 'this function cannot wrap signing keys');
    const alg = settings.signingAlgorithm;
    const { privateKey, publicKey } =
      alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = publicKey.export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint(jwk);
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });
    const wrapped = await custody.wrap(der, signingKeyContext(tenant, kid));
    der.fill(0);
    const key: TenantKey = { kid, alg, mode: 'wrapped', publicJwk: { ...jwk, kty: jwk.kty as 'RSA' | 'EC', kid, alg, use: 'sig' }, wrapped, createdAt };
    await this.#deps.directory.put({ ...keyKey(tenant, kid), key }, { absent: true });
    return key;
  }

  async #signerFor(tenant: string, key: TenantKey): Promise<Signer> {
    if (key.mode === 'kms') {
      if (!this.#deps.platformSigner) throw new UnavailableError('kms', 'no KMS signing key is configured for this function');
      return this.#deps.platformSigner;
    }
    const privateKey = await this.#unwrap(tenant, key);
    const algorithm: JwsAlgorithm = key.alg;
    return {
      keyId: key.kid,
      algorithm,
      // With a callback, node signs on libuv's thread pool: the event loop (the local gateway's, under load)
      // goes on with other requests meanwhile, as oidc-provider's WebCrypto signing does.
      sign: async (data) => signOffThread('sha256', data, algorithm === 'ES256' ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey),
      publicJwk: async () => key.publicJwk,
      ping: async () => undefined,
    };
  }

  async #unwrap(tenant: string, key: TenantKey): Promise<KeyObject> {
    const cacheKey = `${tenant}/${key.kid}`;
    const cached = this.#unwrapped.get(cacheKey);
    if (cached && cached.until > this.#deps.clock.now()) return cached.key;
    if (!this.#deps.custody || !key.wrapped) throw new UnavailableError('kms', 'this function cannot unwrap signing keys');
    const der = await this.#deps.custody.unwrap(key.wrapped, signingKeyContext(tenant, key.kid));
    const privateKey = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    der.fill(0);
    this.#unwrapped.set(cacheKey, { key: privateKey, until: this.#deps.clock.now() + UNWRAPPED_CACHE_MS });
    return privateKey;
  }
}
