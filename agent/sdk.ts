/**
 * A typed client for the card API (`{base}/t/{tenant}/card/v1/`). The client agent uses it; other
 * programs may too. It keeps no state beyond what the caller passes in and never logs.
 */
import { createHash } from 'node:crypto';
import { hostname, platform, release } from 'node:os';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

import type { PublicCard } from '../lambdas/core/cards/card-list.ts';

/** One card as the card API lists it (the server's own wire type; a type-only import, erased at run time). */
export type { PublicCard };

export interface CardList {
  readonly user: string;
  readonly cards: readonly PublicCard[];
  /**
   * The same list as a compact JWS signed by the tenant's card-list key, whose certificate the tenant's
   * card CA issued (`x5c`: that certificate, then the CA's). Absent for the empty list of a tenant that
   * never enrolled a card.
   */
  readonly signed?: string;
  readonly expiresAt: number;
}

export interface OpenedSession {
  /** The bearer secret of the session: send it with every APDU; keep it out of logs. */
  readonly session: string;
  readonly sessionId: string;
  readonly card: string;
  readonly expiresAt: number;
}

/** An RFC 7807 problem from the card API; `type` says what to do (see CardApiProblemType). */
export class CardApiError extends Error {
  override readonly name = 'CardApiError';
  readonly status: number;
  readonly type: string;
  readonly problem: Readonly<Record<string, unknown>>;
  constructor(status: number, problem: Record<string, unknown>) {
    super(`${status} ${String(problem['title'] ?? 'error')}: ${String(problem['detail'] ?? '')}`);
    this.status = status;
    this.type = String(problem['type'] ?? 'about:blank');
    this.problem = problem;
  }

  /** Another client took the card over, or the card was deleted: remove it from the reader. */
  get mustRemoveCard(): boolean {
    return this.problem['action'] === 'remove-card';
  }

  /** The session expired: open a new one. */
  get sessionExpired(): boolean {
    return this.type.endsWith('/card-session-expired');
  }
}

/** What the agent reports about its device at registration. */
export interface DeviceReport {
  readonly os?: string;
  /** base64url SHA-256 of the hostname (the name itself never leaves the machine). */
  readonly hostnameHash?: string;
  readonly agentVersion?: string;
  readonly cardSessionLive?: boolean;
}

/** The device record the IdP keeps; `id` is the device key's RFC 7638 thumbprint. */
export interface RegisteredDevice extends DeviceReport {
  readonly id: string;
  readonly registeredAt: number;
  readonly lastSeenAt: number;
}

/** This machine's report: OS and release, hashed hostname, the agent's version. */
export function localDeviceReport(agentVersion: string, cardSessionLive: boolean): DeviceReport {
  return {
    os: `${platform()} ${release()}`.slice(0, 128),
    hostnameHash: createHash('sha256').update(hostname()).digest('base64url'),
    agentVersion,
    cardSessionLive,
  };
}

export interface DeviceKey {
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly alg: 'ES256';
}

export interface CardApiClientOptions {
  /** `{base}/t/{tenant}`: the tenant's issuer URL. */
  readonly tenantUrl: string;
  /** Returns a current access token (with the `card` scope) of the signed-in user. */
  readonly accessToken: () => Promise<string> | string;
  readonly fetch?: typeof fetch;
  /** Per-request timeout in milliseconds (default 15 s). */
  readonly timeoutMs?: number;
}

export class CardApiClient {
  readonly #base: string;
  readonly #accessToken: CardApiClientOptions['accessToken'];
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: CardApiClientOptions) {
    this.#base = `${options.tenantUrl.replace(/\/$/, '')}/card/v1`;
    this.#accessToken = options.accessToken;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  /** The user's cards with their public objects ("get tokens"). */
  async cards(): Promise<CardList> {
    return (await this.#json('POST', '/tokens', undefined, await this.#bearer())) as CardList;
  }

  /** Opens a session for a card: challenge, signed by the device key, answered once. */
  async openSession(cardId: string, device: DeviceKey): Promise<OpenedSession> {
    const bearer = await this.#bearer();
    const card = encodeURIComponent(cardId);
    const challenge = (await this.#json('POST', `/cards/${card}/challenge`, { deviceKey: device.publicJwk }, bearer)) as { nonce: string };
    const proof = await new CompactSign(new TextEncoder().encode(JSON.stringify({ nonce: challenge.nonce, card: cardId })))
      .setProtectedHeader({ alg: device.alg, typ: 'cloudcard-session+jwt', jwk: device.publicJwk })
      .sign(device.privateKey);
    return (await this.#json('POST', `/cards/${card}/sessions`, { proof }, bearer)) as OpenedSession;
  }

  /**
   * Registers (or refreshes) this device: the device key signs what the agent reports (OS, hostname hash,
   * agent version, whether a card session is live), addressed to the registration URL and dated now.
   */
  async registerDevice(device: DeviceKey, report: DeviceReport): Promise<RegisteredDevice> {
    const payload = { ...report, aud: `${this.#base}/devices`, iat: Math.floor(Date.now() / 1000) };
    const proof = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: device.alg, typ: 'cloudcard-device+jwt', jwk: device.publicJwk })
      .sign(device.privateKey);
    return (await this.#json('POST', '/devices', { proof }, await this.#bearer())) as RegisteredDevice;
  }

  /**
   * Sends one command APDU and returns the response APDU (data || SW1 SW2). With `reset`, the card's
   * security state starts over first (a power cycle the reader reported), in the same request.
   */
  async transmit(session: string, command: Uint8Array, options: { reset?: boolean } = {}): Promise<Uint8Array> {
    return (await this.exchange(session, command, options)).response;
  }

  /** Like transmit, also returning the PIN tries left after the command (`Cloudcard-Pin-Remaining`). */
  async exchange(session: string, command: Uint8Array, options: { reset?: boolean } = {}): Promise<{ response: Uint8Array; pinRemaining?: number }> {
    const response = await this.#request('POST', options.reset ? '/session/apdu?reset=true' : '/session/apdu', {
      headers: { Authorization: `CardSession ${session}`, 'Content-Type': 'application/octet-stream', Accept: 'application/octet-stream' },
      body: command,
    });
    const remaining = Number.parseInt(response.headers.get('cloudcard-pin-remaining') ?? '', 10);
    return { response: new Uint8Array(await response.arrayBuffer()), ...(Number.isInteger(remaining) ? { pinRemaining: remaining } : {}) };
  }

  /** Renews a live session for one more lifetime, keeping its security state (a verified PIN); the new expiry. */
  async renew(session: string): Promise<{ expiresAt: number }> {
    const response = await this.#request('POST', '/session/renew', { headers: { Authorization: `CardSession ${session}` } });
    return (await response.json()) as { expiresAt: number };
  }

  /** Power off/on or reset: the card's security state starts over. */
  async reset(session: string): Promise<void> {
    await this.#request('POST', '/session/reset', { headers: { Authorization: `CardSession ${session}` } });
  }

  async close(session: string): Promise<void> {
    await this.#request('DELETE', '/session', { headers: { Authorization: `CardSession ${session}` } });
  }

  async #bearer(): Promise<string> {
    return `Bearer ${await this.#accessToken()}`;
  }

  async #json(method: string, path: string, body: unknown, authorization: string): Promise<unknown> {
    const response = await this.#request(method, path, {
      headers: { Authorization: authorization, Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return response.json();
  }

  async #request(method: string, path: string, init: { headers: Record<string, string>; body?: string | Uint8Array }): Promise<Response> {
    const response = await this.#fetch(`${this.#base}${path}`, {
      method,
      headers: init.headers,
      ...(init.body === undefined ? {} : { body: init.body as string }),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    if (response.ok) return response;
    let problem: Record<string, unknown>;
    try {
      problem = (await response.json()) as Record<string, unknown>;
    } catch {
      problem = { title: response.statusText };
    }
    throw new CardApiError(response.status, problem);
  }
}

/** Makes a device key pair (P-256) for session proofs; persist it with `exportDeviceKey`. */
export async function generateDeviceKey(): Promise<DeviceKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, publicJwk: { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! }, alg: 'ES256' };
}
