import { afterEach, describe, expect, it } from '@jest/globals';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { loadQuickAck, socketFd } from '../../agent/quickack.ts';
import { VpcdLink, type VirtualCard } from '../../agent/vpcd.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A loopback listener; `onSocket` gets each connection. */
async function listen(onSocket: (socket: Socket) => void): Promise<number> {
  const server = createServer(onSocket);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

const card: VirtualCard = { atr: () => Uint8Array.of(0x3b, 0x00), control: () => undefined, transmit: async () => Uint8Array.of(0x90, 0x00) };

describe('the agent’s TCP_QUICKACK on its vpcd socket', () => {
  it('is set through libc on Linux, and reported unavailable elsewhere or without a descriptor', async () => {
    expect(loadQuickAck('darwin')).toBeUndefined();
    expect(loadQuickAck('win32')).toBeUndefined();
    if (process.platform !== 'linux') return;
    const quickAck = loadQuickAck();
    expect(quickAck).toBeDefined();
    const port = await listen(() => undefined);
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    expect(socketFd(socket)).toBeGreaterThan(2);
    expect(quickAck!(socket)).toBe(true);
    socket.destroy();
    // A destroyed socket has no handle left: nothing is called, the link goes on without it.
    expect(socketFd(socket)).toBeUndefined();
    expect(quickAck!(socket)).toBe(false);
  });

  it('keeps a two-write, Nagle vpcd (0.8) from waiting on the delayed ACK: nearly no message takes > 20 ms to arrive', async () => {
    if (process.platform !== 'linux') return;
    const messages = 40;
    let answered = 0;
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const port = await listen((vpcd) => {
      vpcd.setNoDelay(false); // as vpcd 0.8: Nagle on, the length and the payload in two send calls
      const apdu = Buffer.from('00a4040009a00000030800001000', 'hex');
      const sendOne = (): void => {
        const header = Buffer.alloc(2);
        header.writeUInt16BE(apdu.length);
        vpcd.write(header);
        vpcd.write(apdu);
      };
      vpcd.on('data', () => (++answered === messages ? finished() : sendOne()));
      sendOne();
    });
    const link = new VpcdLink({ port, card, quickAck: loadQuickAck()! });
    link.start();
    await done;
    link.stop();
    const stats = link.turnStats;
    expect(stats.turns).toBe(messages);
    expect(stats.slow).toBeLessThanOrEqual(messages / 10);
  });

  it('says so once per connection when quick-ACK cannot be set, and relays as before', async () => {
    let answered!: (response: Buffer) => void;
    const response = new Promise<Buffer>((resolve) => (answered = resolve));
    const port = await listen((vpcd) => {
      vpcd.on('data', (chunk: Buffer) => answered(chunk));
      vpcd.write(Buffer.from([0x00, 0x01, 0x04])); // GET ATR
    });
    let failures = 0;
    const link = new VpcdLink({ port, card, quickAck: () => false, onQuickAckFailed: () => failures++ });
    link.start();
    expect([...(await response)]).toEqual([0x00, 0x02, 0x3b, 0x00]);
    link.stop();
    expect(failures).toBe(1);
  });
});
