import { createServer, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CloudCard } from './cloud-card.ts';
import { currentAccessToken } from './login.ts';
import { CardApiClient, localDeviceReport, type PublicCard } from './sdk.ts';
import { loadDeviceKey, readState } from './state.ts';
import { quickAckHint } from './latency-hint.ts';
import type { QuickAck } from './quickack.ts';
import { VpcdLink, VPCD_DEFAULT_PORT, type TurnStats } from './vpcd.ts';

export interface DaemonOptions {
  readonly stateDir: string;
  readonly vpcdHost?: string;
  readonly vpcdPort?: number;
  /** How many vpcd reader slots to use (vpcd offers two by default). */
  readonly slots?: number;
  readonly verbose?: boolean;
  /** Re-arms TCP_QUICKACK on the vpcd sockets (quickack.ts); absent: the kernel's delayed ACK. */
  readonly quickAck?: QuickAck;
  /** Reported at device registration. */
  readonly agentVersion?: string;
  readonly log: (line: string) => void;
}

interface Inserted {
  readonly card: CloudCard;
  readonly link: VpcdLink;
  readonly slot: number;
}

export const controlSocket = (stateDir: string): string => join(stateDir, 'agent.sock');

/**
 * `cloudcard-agent run`: fetches the user's cards, opens a session for each and connects each to a vpcd
 * reader slot, so pcscd sees a card. A card the server says was taken over is removed from its reader
 * (and the user told why) until `cards insert` takes it back. Reconnects to vpcd by itself; a control
 * socket in the state directory takes `cards insert|eject`.
 */
export class AgentDaemon {
  readonly #options: DaemonOptions;
  readonly #inserted = new Map<string, Inserted>();
  #client!: CardApiClient;
  #cards: PublicCard[] = [];
  #control: Server | undefined;
  #quickAckReported = false;

  constructor(options: DaemonOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    const state = readState(this.#options.stateDir);
    this.#client = new CardApiClient({ tenantUrl: state.issuer, accessToken: () => currentAccessToken(this.#options.stateDir) });
    this.#cards = [...(await this.#retry('fetch the card list', () => this.#client.cards())).cards];
    if (this.#cards.length === 0) this.#options.log('no cards: ask your administrator to enrol one');
    const slots = this.#options.slots ?? 2;
    for (const [index, card] of this.#cards.slice(0, slots).entries()) await this.insert(card.id, index);
    if (this.#cards.length > slots)
      this.#options.log(`${this.#cards.length - slots} more card(s) than reader slots; insert them with: cloudcard-agent cards insert CARD`);
    await this.#registerDevice();
    await this.#listen();
  }

  /** Reports the device to the IdP (its key, OS, hostname hash, version, card state); a failure only logs: the cards still work. */
  async #registerDevice(): Promise<void> {
    try {
      const device = await this.#client.registerDevice(
        await loadDeviceKey(readState(this.#options.stateDir)),
        localDeviceReport(this.#options.agentVersion ?? 'unknown', this.#inserted.size > 0),
      );
      this.#options.log(`device registered (${device.id})`);
    } catch (error) {
      this.#options.log(`device registration failed: ${(error as Error).message}`);
    }
  }

  /** Opens a session for the card (taking it over from any other client) and puts it in a reader. */
  async insert(cardId: string, preferredSlot?: number): Promise<string> {
    const card = this.#cards.find((c) => c.id === cardId);
    if (!card) throw new Error(`no card ${cardId} for this user`);
    const existing = this.#inserted.get(cardId);
    const slot = existing?.slot ?? preferredSlot ?? this.#freeSlot();
    existing?.link.stop();
    const state = readState(this.#options.stateDir);
    const who = this.#who(state);
    const cloud = new CloudCard(this.#client, await loadDeviceKey(state), card, {
      removed: (reason) => {
        this.#options.log(`card ${card.label} (${card.id}) removed from the reader: ${reason}`);
        this.#inserted.get(card.id)?.link.stop();
      },
      reinserted: (reason) => {
        this.#options.log(
          `card ${card.label} (${card.id}) of ${who}: session ended by the server (${reason}); the reader reports a removal and re-insertion, the PIN will be asked again`,
        );
        this.#inserted.get(card.id)?.link.reinsert();
      },
      renewed: (expiresAt) => {
        if (this.#options.verbose)
          this.#options.log(
            `card ${card.label} (${card.id}) of ${who}: session renewed with the verified PIN until ${new Date(expiresAt * 1000).toISOString()}`,
          );
      },
      ...(this.#options.verbose
        ? {
            trace: (t: { ins: number; sw: number; remote: boolean }) =>
              this.#options.log(`apdu ${card.id} ins=${hex(t.ins, 2)} sw=${hex(t.sw, 4)} ${t.remote ? 'server' : 'local'}`),
          }
        : {}),
    });
    await this.#retry(`open a session for card ${card.id}`, () => cloud.insert());
    const port = (this.#options.vpcdPort ?? VPCD_DEFAULT_PORT) + slot;
    const link = new VpcdLink({
      ...(this.#options.vpcdHost ? { host: this.#options.vpcdHost } : {}),
      port,
      card: cloud,
      ...(this.#options.quickAck ? { quickAck: this.#options.quickAck, onQuickAckFailed: () => void this.#quickAckFailed() } : {}),
      onState: (linkState, detail) => {
        if (linkState !== 'retrying' || this.#options.verbose)
          this.#options.log(`reader slot ${slot} (port ${port}): ${linkState}${detail ? ` ${detail}` : ''}`);
      },
    });
    link.start();
    this.#inserted.set(card.id, { card: cloud, link, slot });
    this.#options.log(`card ${card.label} (${card.id}) inserted in reader slot ${slot}`);
    return `inserted ${card.id} in slot ${slot}`;
  }

  async eject(cardId: string): Promise<string> {
    const inserted = this.#inserted.get(cardId);
    if (!inserted) throw new Error(`card ${cardId} is not inserted`);
    inserted.link.stop();
    await inserted.card.eject();
    this.#inserted.delete(cardId);
    this.#options.log(`card ${cardId} ejected`);
    return `ejected ${cardId}`;
  }

  /** HTTPS requests the inserted cards made for APDUs. */
  requests(): Record<string, number> {
    return Object.fromEntries([...this.#inserted].map(([id, entry]) => [id, entry.card.requests]));
  }

  /** How long each inserted card's vpcd messages took to arrive (the delayed-ACK wait shows as slow turns). */
  turns(): Record<string, TurnStats> {
    return Object.fromEntries([...this.#inserted].map(([id, entry]) => [id, entry.link.turnStats]));
  }

  async stop(): Promise<void> {
    this.#control?.close();
    rmSync(controlSocket(this.#options.stateDir), { force: true });
    for (const id of [...this.#inserted.keys()]) await this.eject(id).catch(() => undefined);
  }

  /** Once: quick-ACK was loaded but could not be set on a socket; the agent goes on as without it, with the hint. */
  async #quickAckFailed(): Promise<void> {
    if (this.#quickAckReported) return;
    this.#quickAckReported = true;
    const hint = await quickAckHint(this.#options.vpcdHost ?? '127.0.0.1');
    this.#options.log(`TCP_QUICKACK could not be set on the vpcd socket${hint ? `; hint: ${hint}` : ''}`);
  }

  /** "tenant T, user U" for the logs: the tenant from the issuer URL, the user from the access token's claims (not verified: only named). */
  #who(state: { issuer: string; accessToken: string }): string {
    const tenant = /\/t\/([^/]+)\/?$/.exec(state.issuer)?.[1] ?? state.issuer;
    let user = 'unknown user';
    try {
      const claims = JSON.parse(Buffer.from(state.accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
      user = String(claims['preferred_username'] ?? claims['sub'] ?? user);
    } catch {
      // an opaque token names nobody; the log says so
    }
    return `tenant ${tenant}, user ${user}`;
  }

  #freeSlot(): number {
    const used = new Set([...this.#inserted.values()].map((entry) => entry.slot));
    for (let slot = 0; slot < (this.#options.slots ?? 2); slot++) if (!used.has(slot)) return slot;
    throw new Error('every reader slot holds a card; eject one first');
  }

  /** Retries with backoff while the service is unreachable (network down, gateway restarting). */
  async #retry<T>(what: string, operation: () => Promise<T>): Promise<T> {
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        return await operation();
      } catch (error) {
        const status = (error as { status?: number }).status;
        if (status !== undefined && status < 500) throw error; // a refusal, not an outage
        this.#options.log(`could not ${what} (${(error as Error).message}); retrying in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  async #listen(): Promise<void> {
    const path = controlSocket(this.#options.stateDir);
    rmSync(path, { force: true });
    this.#control = createServer((socket) => {
      socket.setEncoding('utf8');
      let buffer = '';
      socket.on('data', async (chunk: string) => {
        buffer += chunk;
        if (!buffer.includes('\n')) return;
        const line = buffer.slice(0, buffer.indexOf('\n'));
        let reply: { ok: boolean; message: string; requests?: Record<string, number>; turns?: Record<string, TurnStats> };
        try {
          const request = JSON.parse(line) as { command?: string; card?: string };
          if (request.command === 'insert') reply = { ok: true, message: await this.insert(String(request.card)) };
          else if (request.command === 'eject') reply = { ok: true, message: await this.eject(String(request.card)) };
          else if (request.command === 'stats')
            reply = { ok: true, message: 'requests and vpcd turns per card', requests: this.requests(), turns: this.turns() };
          else reply = { ok: false, message: 'unknown command' };
        } catch (error) {
          reply = { ok: false, message: (error as Error).message };
        }
        socket.end(`${JSON.stringify(reply)}\n`);
      });
    });
    await new Promise<void>((resolve) => this.#control!.listen(path, resolve));
  }
}

const hex = (value: number, width: number): string => value.toString(16).padStart(width, '0');
