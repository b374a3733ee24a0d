import { createHash } from 'node:crypto';
import type { AdminClients } from '../core/directory/admin-client.ts';
import type { Clock } from '../ports.ts';
import { HttpProblem } from './problem.ts';
import type { ApiRequest } from './types.ts';

const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="cloudcard-admin", charset="UTF-8"' };
const CACHE_SECONDS = 60;
const CACHE_ENTRIES = 64;

/**
 * HTTP Basic authentication of admin clients. A verified pair is remembered (by hash, never in clear) for
 * a minute so a burst of admin calls pays the memory-hard hash once.
 */
export class AdminAuthenticator {
  readonly #clients: AdminClients;
  readonly #clock: Clock;
  readonly #verified = new Map<string, number>();

  constructor(clients: AdminClients, clock: Clock) {
    this.#clients = clients;
    this.#clock = clock;
  }

  /** Returns the client id, or throws 401 with a challenge. */
  async authenticate(request: ApiRequest): Promise<string> {
    const credentials = parseBasic(request.headers['authorization']);
    if (!credentials) throw new HttpProblem(401, 'Unauthorized', { detail: 'admin client credentials are required (HTTP Basic)', headers: CHALLENGE });
    const fingerprint = createHash('sha256').update(`${credentials.id}\0${credentials.secret}`).digest('base64url');
    const now = this.#clock.now();
    const until = this.#verified.get(fingerprint);
    if (until !== undefined && until > now) return credentials.id;
    if (!(await this.#clients.verify(credentials.id, credentials.secret))) {
      throw new HttpProblem(401, 'Unauthorized', { detail: 'invalid admin client credentials', headers: CHALLENGE });
    }
    if (this.#verified.size >= CACHE_ENTRIES) this.#verified.clear();
    this.#verified.set(fingerprint, now + CACHE_SECONDS * 1000);
    return credentials.id;
  }
}

function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header?.trim() ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  // RFC 6749 §2.3.1 form-encodes client credentials before Basic; accept both encoded and plain.
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s.replace(/\+/g, '%20'));
    } catch {
      return s;
    }
  };
  return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
}
