import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import { checkResolved, OutboundCallError, OutboundUrlError, outboundTarget, type OutboundPolicy, type OutboundTarget } from '../core/outbound/url-policy.ts';
import type { OutboundAnswer, OutboundHttp, OutboundRequest } from '../ports.ts';

/** Host name to addresses (tests inject one; no real DNS there). */
export type Resolver = (hostname: string) => Promise<readonly string[]>;

export const systemResolver: Resolver = async (hostname) => (await dnsLookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

export type OutboundLog = (level: 'info' | 'warn', message: string, entry: Readonly<Record<string, unknown>>) => void;

export interface PolicedHttpOptions {
  readonly policy: OutboundPolicy;
  readonly resolve?: Resolver;
  /** TCP (and TLS) connection must be up within this; the request's own timeout bounds the whole call. */
  readonly connectTimeoutMs?: number;
  readonly log?: OutboundLog;
}

/** How long registration waits for a name to resolve before leaving the decision to call time. */
const REGISTRATION_RESOLVE_MS = 3000;
const CONNECT_TIMEOUT_MS = 2000;

let defaultLogger: Logger | undefined;
const defaultLog: OutboundLog = (level, message, entry) => {
  defaultLogger ??= new Logger({ serviceName: 'cloudcard-outbound' });
  defaultLogger[level](message, { ...entry });
};

/** Where a call went, for the logs: origin and path, never the query (it may carry an artifact or a token). */
function logUrl(raw: string): string {
  try {
    const url = new URL(raw);
    return `${url.origin}${url.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]).finally(
    () => clearTimeout(timer),
  );
}

/**
 * Outbound HTTP through the outbound URL policy. At registration (`check`) the URL and, when the name
 * resolves, every address it resolves to. At a call, the URL again and the addresses resolved for that
 * very connection: the socket's `lookup` is ours, it checks every address before handing them over, so
 * the connection goes only to an address that was checked (a rebinding name gains nothing), while TLS
 * still verifies the certificate against the host name (SNI too). No redirects are followed (a 3xx is
 * just an answer), no connection is reused, the answer is read only up to its cap, and the connection
 * and the whole call have time limits.
 */
export class PolicedHttp implements OutboundHttp {
  readonly #policy: OutboundPolicy;
  readonly #resolve: Resolver;
  readonly #connectTimeoutMs: number;
  readonly #log: OutboundLog;

  constructor(options: PolicedHttpOptions) {
    this.#policy = options.policy;
    this.#resolve = options.resolve ?? systemResolver;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.#log = options.log ?? defaultLog;
  }

  async check(url: string): Promise<void> {
    const target = outboundTarget(url, this.#policy);
    if (target.literal) return;
    let addresses: readonly string[];
    try {
      addresses = await withTimeout(this.#resolve(target.host), REGISTRATION_RESOLVE_MS);
    } catch {
      return; // A name that does not resolve (yet) may be registered: every call checks it again.
    }
    checkResolved(target, addresses, this.#policy);
  }

  async request(url: string, request: OutboundRequest): Promise<OutboundAnswer> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const answer = await this.#exchange(outboundTarget(url, this.#policy), request);
      this.#log(answer.status >= 200 && answer.status < 300 ? 'info' : 'warn', 'outbound call', {
        url: logUrl(url),
        status: answer.status,
        bytes: answer.body.length,
        ms: elapsed(),
      });
      return answer;
    } catch (error) {
      const reason = error instanceof OutboundUrlError ? `refused by the outbound URL policy: ${error.message}` : (error as Error).message;
      this.#log('warn', 'outbound call failed', { url: logUrl(url), reason, ms: elapsed() });
      throw new OutboundCallError(reason, { cause: error });
    }
  }

  /** The socket's name resolution: every address checked, and only checked addresses handed back. */
  #lookup(target: OutboundTarget): LookupFunction {
    return (hostname, options, callback) => {
      this.#resolve(hostname)
        .then((addresses) => {
          checkResolved(target, addresses, this.#policy);
          const entries = addresses.map((address) => ({ address, family: isIP(address) }));
          if (options.all) (callback as (error: null, addresses: typeof entries) => void)(null, entries);
          else callback(null, entries[0]!.address, entries[0]!.family);
        })
        .catch((error: unknown) => callback(error as NodeJS.ErrnoException, '', 0));
    };
  }

  #exchange(target: OutboundTarget, request: OutboundRequest): Promise<OutboundAnswer> {
    const https = target.url.protocol === 'https:';
    return new Promise<OutboundAnswer>((resolve, reject) => {
      let settled = false;
      const outgoing = (https ? httpsRequest : httpRequest)(target.url, {
        method: request.method,
        headers: {
          'User-Agent': 'cloudcard',
          ...request.headers,
          ...(request.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(request.body, 'utf8')) } : {}),
        },
        agent: false,
        lookup: this.#lookup(target),
      });
      const finish = (error: Error | undefined, answer?: OutboundAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(total);
        clearTimeout(connecting);
        if (error) {
          outgoing.destroy();
          reject(error);
        } else resolve(answer!);
      };
      const total = setTimeout(() => finish(new Error(`no complete answer within ${request.timeoutMs} ms`)), request.timeoutMs);
      const connectMs = Math.min(this.#connectTimeoutMs, request.timeoutMs);
      const connecting = setTimeout(() => finish(new Error(`no connection within ${connectMs} ms`)), connectMs);
      outgoing.on('socket', (socket) => socket.once(https ? 'secureConnect' : 'connect', () => clearTimeout(connecting)));
      outgoing.on('error', (error) => finish(error));
      outgoing.on('response', (response) => {
        const declared = Number(response.headers['content-length'] ?? '0');
        if (declared > request.maxResponseBytes)
          return finish(new Error(`the answer declares ${declared} bytes, over the ${request.maxResponseBytes}-byte cap`));
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > request.maxResponseBytes) finish(new Error(`the answer exceeds the ${request.maxResponseBytes}-byte cap`));
          else chunks.push(chunk);
        });
        response.on('error', (error) => finish(error));
        response.on('end', () => {
          const bytes = Buffer.concat(chunks);
          finish(undefined, {
            status: response.statusCode ?? 0,
            contentType: String(response.headers['content-type'] ?? ''),
            body: bytes.toString('utf8'),
            bytes: new Uint8Array(bytes),
          });
        });
      });
      outgoing.end(request.body);
    });
  }
}
