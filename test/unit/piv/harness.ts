/**
 * A host for the PIV application in tests: it keeps the session state between APDUs the way the card
 * service does (JSON round trip each time, as the state table would), and offers the two transports hosts
 * use: raw APDUs, and a "logical command" helper that chains and fetches GET RESPONSE like OpenSC and
 * yubico-piv-tool do.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import type { Random } from '../../../lambdas/ports.ts';
import { handleApdu, newSessionState, type PivCard, type PivSessionState } from '../../../lambdas/core/piv/index.ts';
import { MemoryPivCard } from '../../support/piv-memory-card.ts';

export const realRandom: Random = {
  bytes: (length) => new Uint8Array(randomBytes(length)),
  id: () => randomBytes(16).toString('base64url'),
};

export function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

export interface Reply {
  readonly data: Uint8Array;
  readonly sw: number;
}

export class Host {
  state: PivSessionState = newSessionState();
  readonly log: string[] = [];
  readonly card: PivCard;
  constructor(card: PivCard = new MemoryPivCard()) {
    this.card = card;
  }

  /** One APDU, exactly as given. */
  async send(apdu: Uint8Array | string): Promise<Reply> {
    const bytes = typeof apdu === 'string' ? hex(apdu) : apdu;
    const result = await handleApdu(bytes, this.state, { card: this.card, random: realRandom });
    // The service stores the state as JSON between requests (possibly on another Lambda instance).
    const stored = JSON.stringify(result.state);
    expect(stored.length).toBeLessThan(20_000);
    this.state = JSON.parse(stored) as PivSessionState;
    const response = result.response;
    expect(response.length).toBeGreaterThanOrEqual(2);
    const sw = (response[response.length - 2]! << 8) | response[response.length - 1]!;
    expect(result.trace.sw).toBe(sw);
    this.log.push(`${toHex(bytes.subarray(0, 4))} -> ${sw.toString(16).toUpperCase()}`);
    return { data: response.subarray(0, response.length - 2), sw };
  }

  /**
   * A logical command over short APDUs: data in 255-byte fragments with CLA 10 (Le 00 on each, as
   * yubico-piv-tool sends on T=1), then GET RESPONSE while the card answers 61xx.
   */
  async command(cla: number, ins: number, p1: number, p2: number, data: Uint8Array = new Uint8Array(0), withLe = true): Promise<Reply> {
    let offset = 0;
    let reply: Reply;
    do {
      const chunk = data.subarray(offset, offset + 255);
      offset += chunk.length;
      const last = offset >= data.length;
      const header = [last ? cla : cla | 0x10, ins, p1, p2];
      const apdu = chunk.length > 0 ? [...header, chunk.length, ...chunk, ...(withLe ? [0] : [])] : [...header, ...(withLe ? [0] : [])];
      reply = await this.send(Uint8Array.from(apdu));
      if (!last && reply.sw !== 0x9000) return reply;
    } while (offset < data.length);
    const parts = [reply.data];
    while ((reply.sw & 0xff00) === 0x6100) {
      reply = await this.send(Uint8Array.of(0x00, 0xc0, 0x00, 0x00, reply.sw & 0xff));
      parts.push(reply.data);
    }
    return { data: Buffer.concat(parts), sw: reply.sw };
  }

  /** A logical command in one extended APDU (how the agent relays one command per request). */
  async extended(ins: number, p1: number, p2: number, data: Uint8Array): Promise<Reply> {
    const apdu = [0x00, ins, p1, p2, 0x00, data.length >> 8, data.length & 0xff, ...data, 0x00, 0x00];
    return this.send(Uint8Array.from(apdu));
  }
}

/** PIN block: value padded to 8 bytes with FF. */
export function pinBlock(value: string): Uint8Array {
  const out = new Uint8Array(8).fill(0xff);
  out.set(Buffer.from(value, 'latin1'));
  return out;
}

const CIPHERS = { '3des': 'des-ede3', aes128: 'aes-128-ecb', aes192: 'aes-192-ecb', aes256: 'aes-256-ecb' } as const;

export function ecb(algorithm: keyof typeof CIPHERS, key: Uint8Array, block: Uint8Array, decrypt = false): Uint8Array {
  const cipher = decrypt ? createDecipheriv(CIPHERS[algorithm], key, null) : createCipheriv(CIPHERS[algorithm], key, null);
  cipher.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([cipher.update(block), cipher.final()]));
}
