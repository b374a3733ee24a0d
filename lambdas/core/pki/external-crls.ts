import type { X509Certificate } from 'node:crypto';
import type { Clock, OutboundHttp } from '../../ports.ts';
import { crlProblem, isRevoked, parseCrl, type Crl } from './external-crl.ts';
import { pemBody } from './pem.ts';

/** A CRL fetch gives up after this long, and reads at most this much (a CA's CRL of ~100,000 entries). */
const FETCH_TIMEOUT_MS = 3_000;
const MAX_CRL_BYTES = 4 * 1024 * 1024;
/** A good CRL is reused until its nextUpdate, but at most this long: a CA may publish early after a revocation. */
const MAX_REUSE_MS = 60 * 60 * 1_000;
/** After a failed fetch, sign-ins with that CA's certificates are refused without retrying for this long (a dead server is not hammered). */
const FAILURE_COOLDOWN_MS = 30 * 1_000;
/** Distinct CRLs kept per container: tenants × their trusted CAs with a CRL (20 at most each); the oldest entry goes first. */
const MAX_ENTRIES = 500;

/** The CA's revocation status cannot be known: no CRL fetched, or none that verifies and is current. Sign-in fails closed. */
export class CrlUnavailableError extends Error {
  override readonly name = 'CrlUnavailableError';
}

type Entry = { readonly crl: Crl; readonly until: number } | { readonly failure: string; readonly until: number };

/**
 * The CRLs of trusted external CAs, fetched through the outbound port (its URL policy applies to every
 * call) and kept per container: one fetch at a time per CRL, a good CRL reused until its nextUpdate (at
 * most an hour), a failure remembered for 30 s. Every use re-checks the CRL against the CA and the clock,
 * so a CRL past its nextUpdate is never trusted, even from the cache.
 */
export class ExternalCrls {
  readonly #outbound: Pick<OutboundHttp, 'request'>;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<Entry>>();

  constructor(outbound: Pick<OutboundHttp, 'request'>, clock: Clock) {
    this.#outbound = outbound;
    this.#clock = clock;
  }

  /** Whether the CA's CRL at `url` lists the serial; throws CrlUnavailableError when no usable CRL can be had. */
  async isRevoked(url: string, ca: X509Certificate, serial: string): Promise<boolean> {
    const key = `${ca.fingerprint256} ${url}`;
    const now = this.#clock.now();
    let entry = this.#entries.get(key);
    if (!entry || entry.until <= now) entry = await this.#fetchOnce(key, url, ca);
    if ('failure' in entry) throw new CrlUnavailableError(entry.failure);
    const problem = crlProblem(entry.crl, ca, this.#clock.now());
    if (problem) throw new CrlUnavailableError(problem);
    return isRevoked(entry.crl, serial);
  }

  #fetchOnce(key: string, url: string, ca: X509Certificate): Promise<Entry> {
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#fetch(url, ca)
        .then((entry) => this.#remember(key, entry))
        .finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    return pending;
  }

  async #fetch(url: string, ca: X509Certificate): Promise<Entry> {
    const failed = (failure: string): Entry => ({ failure, until: this.#clock.now() + FAILURE_COOLDOWN_MS });
    let bytes: Uint8Array;
    try {
      const answer = await this.#outbound.request(url, { method: 'GET', timeoutMs: FETCH_TIMEOUT_MS, maxResponseBytes: MAX_CRL_BYTES });
      if (answer.status !== 200) return failed(`the CRL server answered ${answer.status}`);
      bytes = derOf(answer.bytes);
    } catch {
      return failed('the CRL could not be fetched');
    }
    let crl: Crl;
    try {
      crl = parseCrl(bytes);
    } catch {
      return failed('the CRL server did not send a CRL');
    }
    const now = this.#clock.now();
    const problem = crlProblem(crl, ca, now);
    if (problem) return failed(problem);
    return { crl, until: Math.min(crl.nextUpdate ?? now, now + MAX_REUSE_MS) };
  }

  #remember(key: string, entry: Entry): Entry {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (this.#entries.size > MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    return entry;
  }
}

/** A CRL is DER on the wire (RFC 5280 §4.2.1.13); a PEM one (`-----BEGIN X509 CRL-----`) is accepted too. */
function derOf(bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes.subarray(0, 64)).toString('latin1');
  if (!text.startsWith('-----BEGIN X509 CRL-----')) return bytes;
  return new Uint8Array(Buffer.from(pemBody(Buffer.from(bytes).toString('latin1'), 'X509 CRL'), 'base64'));
}
