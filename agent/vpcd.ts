import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { QuickAck } from './quickack.ts';

/** vpcd's control bytes (vsmartcard vpcd.h): a one-byte message is a reader event, longer ones are APDUs. */
export const VPCD_CONTROL = { powerOff: 0x00, powerOn: 0x01, reset: 0x02, getAtr: 0x04 } as const;

/** vpcd's first port; reader slot N listens on this + N. */
export const VPCD_DEFAULT_PORT = 35963;

export interface VirtualCard {
  /** The ATR to report; answered locally, never sent to the server. */
  atr(): Uint8Array;
  /** A power or reset event from the reader. */
  control(event: 'power-off' | 'power-on' | 'reset'): void;
  /** One command APDU from the reader; returns the response APDU. */
  transmit(command: Uint8Array): Promise<Uint8Array>;
}

export interface VpcdLinkOptions {
  readonly host?: string;
  readonly port: number;
  readonly card: VirtualCard;
  /** Called with each state change, for logs. */
  readonly onState?: (state: 'connected' | 'disconnected' | 'retrying', detail?: string) => void;
  /** Backoff bounds in milliseconds (default 250 ms doubling up to 5 s). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Re-arms TCP_QUICKACK on the socket after each read and write (quickack.ts); absent: the kernel's delayed ACK. */
  readonly quickAck?: QuickAck;
  /** Called when quickAck could not be set on a new connection (no descriptor, or setsockopt failed). */
  readonly onQuickAckFailed?: () => void;
}

/** How long the link waited for vpcd's messages: the wait a delayed ACK causes shows here. */
export interface TurnStats {
  /** Messages received. */
  readonly turns: number;
  /** Messages whose bytes took longer than SLOW_TURN_MS from the first to the last. */
  readonly slow: number;
  readonly maxMs: number;
}

/** Above this, a message's arrival was held up (a delayed ACK holds it ~40 ms; on loopback it takes µs). */
export const SLOW_TURN_MS = 20;

/**
 * The link to vpcd: while it is connected, pcscd sees a card in the reader; closing it removes the card.
 * Frames are a 2-byte big-endian length and the payload. Commands are answered strictly in order (vpcd
 * waits for each answer). When pcscd restarts or the socket drops, the link reconnects with backoff until
 * it is stopped.
 */
export class VpcdLink {
  readonly #options: VpcdLinkOptions;
  #socket: Socket | undefined;
  #stopped = false;
  #backoff: number;
  #timer: NodeJS.Timeout | undefined;
  #queue: Promise<void> = Promise.resolve();
  #turns = { turns: 0, slow: 0, maxMs: 0 };

  constructor(options: VpcdLinkOptions) {
    this.#options = options;
    this.#backoff = options.minBackoffMs ?? 250;
  }

  get connected(): boolean {
    return this.#socket !== undefined && !this.#socket.destroyed && !this.#socket.connecting;
  }

  /** Per-message arrival times since the link was made. */
  get turnStats(): TurnStats {
    return { ...this.#turns };
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  /**
   * Makes the reader report a card removal and then a new insertion (the socket closes, and opens again
   * after `awayMs`, long enough for pcscd's polling to see the empty reader): middleware drops its login.
   */
  reinsert(awayMs = 2_000): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#timer = setTimeout(() => this.start(), awayMs);
  }

  /** Removes the card from the reader and stops reconnecting. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #connect(): void {
    if (this.#stopped) return;
    const socket = connect({ host: this.#options.host ?? '127.0.0.1', port: this.#options.port });
    this.#socket = socket;
    socket.setNoDelay(true);
    const quickAck = this.#options.quickAck;
    let pending = Buffer.alloc(0);
    /** When the first bytes of the message being assembled arrived. */
    let firstByteAt: number | undefined;
    socket.on('connect', () => {
      this.#backoff = this.#options.minBackoffMs ?? 250;
      if (quickAck && !quickAck(socket)) this.#options.onQuickAckFailed?.();
      this.#options.onState?.('connected');
    });
    socket.on('data', (chunk: Buffer) => {
      // ACK at once what just came: vpcd < 0.9 holds a message's payload until its length is ACKed.
      quickAck?.(socket);
      const now = performance.now();
      let started = firstByteAt ?? now;
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const message = Buffer.from(pending.subarray(2, 2 + length));
        pending = pending.subarray(2 + length);
        this.#recordTurn(now - started);
        started = now;
        this.#queue = this.#queue.then(() => this.#handle(socket, message));
      }
      firstByteAt = pending.length > 0 ? started : undefined;
    });
    socket.on('error', () => undefined); // 'close' follows and schedules the retry
    socket.on('close', () => {
      if (this.#socket === socket) this.#socket = undefined;
      this.#options.onState?.('disconnected');
      if (this.#stopped) return;
      this.#options.onState?.('retrying', `in ${this.#backoff} ms`);
      this.#timer = setTimeout(() => this.#connect(), this.#backoff);
      this.#backoff = Math.min(this.#backoff * 2, this.#options.maxBackoffMs ?? 5_000);
    });
  }

  #recordTurn(ms: number): void {
    const turns = this.#turns;
    this.#turns = { turns: turns.turns + 1, slow: turns.slow + (ms > SLOW_TURN_MS ? 1 : 0), maxMs: Math.max(turns.maxMs, ms) };
  }

  async #handle(socket: Socket, message: Buffer): Promise<void> {
    const { card } = this.#options;
    if (message.length === 1) {
      switch (message[0]) {
        case VPCD_CONTROL.getAtr:
          return this.#send(socket, card.atr());
        case VPCD_CONTROL.powerOff:
          return card.control('power-off');
        case VPCD_CONTROL.powerOn:
          return card.control('power-on');
        case VPCD_CONTROL.reset:
          return card.control('reset');
        default:
          return; // unknown control byte: vpcd expects no answer
      }
    }
    let response: Uint8Array;
    try {
      response = await card.transmit(message);
    } catch {
      response = Uint8Array.of(0x6f, 0x00); // the card could not answer: "no precise diagnosis"
    }
    this.#send(socket, response);
  }

  #send(socket: Socket, payload: Uint8Array): void {
    if (socket.destroyed) return;
    const header = Buffer.alloc(2);
    header.writeUInt16BE(payload.length);
    socket.write(Buffer.concat([header, payload]));
    // Sending can leave quick-ACK mode (the kernel piggybacks and may fall back to delayed ACKs): re-arm.
    this.#options.quickAck?.(socket);
  }
}
