import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Clock, OutboundHttp } from '../../ports.ts';

/** A JWKS is a few keys: anything larger is not one. */
export const JWKS_MAX_BYTES = 64 * 1024;
export const JWKS_TIMEOUT_MS = 5000;
/** Keys are kept this long; a token naming an unknown key fetches again, at most once per cooldown. */
const CACHE_MS = 10 * 60 * 1000;
/** Also the wait after a failed fetch: a stream of tokens naming a broken issuer makes one call per cooldown. */
const COOLDOWN_MS = 30 * 1000;
/** At most this many URIs are cached per process (the oldest fetched goes first): registered clients name their own. */
export const JWKS_CACHE_MAX_URIS = 500;

type Entry = { readonly keys: JWTVerifyGetKey; readonly at: number } | { readonly failed: Error; readonly at: number };

/**
 * Remote JWK sets (trusted issuers' JWKS URIs, OIDC clients' `jwks_uri`), fetched through the outbound HTTP port (so the outbound
 * URL policy, size and time limits apply, and no redirect is followed) and cached per process.
 */
export class RemoteKeySets {
  readonly #outbound: OutboundHttp;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<Entry>>();
  readonly #maxUris: number;

  constructor(outbound: OutboundHttp, clock: Clock, options: { maxUris?: number } = {}) {
    this.#outbound = outbound;
    this.#clock = clock;
    this.#maxUris = options.maxUris ?? JWKS_CACHE_MAX_URIS;
  }

  /** A key resolver for jose's jwtVerify over the JWKS at `uri`. */
  resolver(uri: string): JWTVerifyGetKey {
    return async (header, token) => {
      let entry = this.#entries.get(uri);
      if (!entry || this.#age(entry) >= ('failed' in entry ? COOLDOWN_MS : CACHE_MS)) entry = await this.#fetch(uri);
      if ('failed' in entry) throw entry.failed;
      try {
        return await entry.keys(header, token);
      } catch (error) {
        if (!(error instanceof errors.JWKSNoMatchingKey) || this.#age(entry) < COOLDOWN_MS) throw error;
        const fresh = await this.#fetch(uri);
        if ('failed' in fresh) throw fresh.failed;
        return fresh.keys(header, token);
      }
    };
  }

  #age(entry: Entry): number {
    return this.#clock.now() - entry.at;
  }

  /** One fetch per URI at a time; concurrent verifications wait for it. */
  #fetch(uri: string): Promise<Entry> {
    let pending = this.#pending.get(uri);
    if (!pending) {
      pending = this.#load(uri).finally(() => this.#pending.delete(uri));
      this.#pending.set(uri, pending);
    }
    return pending;
  }

  async #load(uri: string): Promise<Entry> {
    let entry: Entry;
    try {
      const answer = await this.#outbound.request(uri, {
        method: 'GET',
        headers: { Accept: 'application/jwk-set+json, application/json' },
        timeoutMs: JWKS_TIMEOUT_MS,
        maxResponseBytes: JWKS_MAX_BYTES,
      });
      if (answer.status !== 200) throw new Error(`the JWKS URI answered HTTP ${answer.status}`);
      entry = { keys: createLocalJWKSet(JSON.parse(answer.body) as JSONWebKeySet), at: this.#clock.now() };
    } catch (error) {
      entry = { failed: error as Error, at: this.#clock.now() };
    }
    this.#entries.delete(uri);
    if (this.#entries.size >= this.#maxUris) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(uri, entry);
    return entry;
  }
}
