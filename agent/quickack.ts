import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/** Linux <netinet/in.h> and <netinet/tcp.h>. */
const IPPROTO_TCP = 6;
const TCP_QUICKACK = 12;

/** Sets TCP_QUICKACK on a socket; returns false when it could not (no fd, or the call failed). */
export type QuickAck = (socket: Socket) => boolean;

/**
 * Why the agent re-arms TCP_QUICKACK: vpcd before 0.9 (Debian 12 ships 0.8) writes each message in two
 * `send` calls on a Nagle socket, so the payload waits for the agent's delayed ACK, ~40 ms per APDU. Linux
 * clears quick-ACK mode by itself after a few segments, so it is set again after every read and write.
 * Node has no API for it: `setsockopt` is called from libc through koffi (an FFI with prebuilt binaries
 * inside its npm packages: installs with no compiler and no install script, unlike an addon, which would
 * need one prebuild per Node ABI and platform of ours to ship and maintain).
 *
 * The descriptor comes from `socket._handle.fd`, an undocumented libuv handle field that Node has kept on
 * Linux TCP sockets for years; when it is missing (or koffi does not load, or this is not Linux) the
 * result is undefined and the agent works as before, with the route hint (latency-hint.ts).
 */
export function loadQuickAck(platform: NodeJS.Platform = process.platform): QuickAck | undefined {
  if (platform !== 'linux') return undefined;
  let setsockopt: (fd: number, level: number, name: number, value: Buffer, length: number) => number;
  try {
    // koffi is loaded only here, on demand: nothing else in the agent depends on it loading.
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const libc = koffi.load('libc.so.6');
    setsockopt = libc.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t length)') as typeof setsockopt;
  } catch {
    return undefined;
  }
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  return (socket) => {
    const fd = socketFd(socket);
    return fd !== undefined && setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, one, 4) === 0;
  };
}

/** The socket's file descriptor on Linux (libuv's TCP handle), if Node exposes it. */
export function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
