import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:net';
import { CloudCard } from '../../agent/cloud-card.ts';
import { CardApiClient, generateDeviceKey, type PublicCard } from '../../agent/sdk.ts';
import { VpcdLink, type VirtualCard } from '../../agent/vpcd.ts';
import type { EnrolResult } from '../../lambdas/core/cards/cards.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { testClock } from '../support/backends.ts';
import { cardAccessToken, generalAuthenticate, pkcs1Block, select, sw, verifyPin } from '../support/card-flows.ts';
import { startStackOn } from '../support/oidc-stack.ts';

/**
 * The agent's card when the server ends a session whose PIN was verified: it opens a new session and asks
 * the reader for a removal and re-insertion (instead of silently continuing on an unverified session), and
 * the next signature needs the PIN again. The reader side: VpcdLink.reinsert drops the vpcd connection and
 * connects again (what pcscd sees as a card removal and insertion), here against a loopback listener.
 */
describe('the agent when the server ends a verified card session', () => {
  const clock = testClock();
  let stack: LocalStack;
  let enrolled: EnrolResult;
  let client: CardApiClient;
  let token: string;

  beforeAll(async () => {
    stack = await startStackOn('embedded', { clock });
    const services = directoryServices(stack.runtime);
    await services.tenants.update('demo', { sessionLifetimes: { cardSessionSeconds: 60, cardPinIdleSeconds: 120, cardPinMaxSeconds: 300 } });
    enrolled = await services.cards!.enrol('demo', { username: 'alice', slots: ['9a'], pin: '24681357', puk: '86427531' });
    token = await cardAccessToken(stack);
    client = new CardApiClient({ tenantUrl: `${stack.url}/t/demo`, accessToken: () => token });
  });
  afterAll(async () => stack?.close());

  it('re-inserts the card and asks for the PIN again after the session expired', async () => {
    const card = (await client.cards()).cards.find((c) => c.id === enrolled.card.id) as PublicCard;
    const reinsertions: string[] = [];
    const cloud = new CloudCard(client, await generateDeviceKey(), card, { removed: () => undefined, reinserted: (reason) => reinsertions.push(reason) });
    await cloud.insert();
    const sign = async (): Promise<number> => sw(await cloud.transmit(generalAuthenticate(0x07, 0x9a, pkcs1Block(Buffer.from('agent'), 256))));
    expect(sw(await cloud.transmit(select()))).toBe(0x9000);
    expect(sw(await cloud.transmit(verifyPin('24681357')))).toBe(0x9000);
    expect(await sign()).toBe(0x9000);

    clock.advance(61); // the server's session is over
    token = await cardAccessToken(stack);
    expect(await sign()).toBe(0x6f00); // the command fails once, with the reader told to re-insert
    expect(reinsertions).toHaveLength(1);
    expect(await sign()).toBe(0x6982); // a new session: the PIN must be verified again
    expect(sw(await cloud.transmit(verifyPin('24681357')))).toBe(0x9000);
    expect(await sign()).toBe(0x9000);
    await cloud.eject();
  });

  it('an unverified session that expired is re-opened silently (nothing to lose)', async () => {
    const card = (await client.cards()).cards.find((c) => c.id === enrolled.card.id) as PublicCard;
    const reinsertions: string[] = [];
    const cloud = new CloudCard(client, await generateDeviceKey(), card, { removed: () => undefined, reinserted: (reason) => reinsertions.push(reason) });
    await cloud.insert();
    clock.advance(61);
    token = await cardAccessToken(stack);
    expect(sw(await cloud.transmit(verifyPin('24681357')))).toBe(0x9000);
    expect(reinsertions).toHaveLength(0);
    await cloud.eject();
  });
});

describe('VpcdLink.reinsert', () => {
  let server: Server | undefined;
  afterAll(async () => new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined))));

  it('closes the reader connection and connects again (a removal, then an insertion)', async () => {
    const events: string[] = [];
    let second: (() => void) | undefined;
    const reconnected = new Promise<void>((resolve) => (second = resolve));
    let connections = 0;
    server = createServer((socket) => {
      connections++;
      events.push(`connect ${connections}`);
      socket.on('close', () => events.push('close'));
      if (connections === 2) second!();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const card: VirtualCard = { atr: () => Uint8Array.of(0x3b, 0x00), control: () => undefined, transmit: async () => Uint8Array.of(0x90, 0x00) };
    let connected: (() => void) | undefined;
    const first = new Promise<void>((resolve) => (connected = resolve));
    const link = new VpcdLink({ port: (server.address() as { port: number }).port, card, onState: (state) => state === 'connected' && connected?.() });
    link.start();
    await first;
    link.reinsert(50);
    await reconnected;
    link.stop();
    expect(events.slice(0, 3)).toEqual(['connect 1', 'close', 'connect 2']);
  });
});
