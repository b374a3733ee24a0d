import { execFile } from 'node:child_process';

/**
 * vpcd sends each message to the agent in two writes on a Nagle socket, so every APDU waits for our
 * delayed ACK (~40 ms on Linux) unless the loopback route is in quick-ACK mode. Node cannot set
 * TCP_QUICKACK on a socket, so the agent says once how to fix it, when it applies. Never fails.
 */
export function quickAckHint(vpcdHost: string): Promise<string | undefined> {
  if (process.platform !== 'linux' || !['127.0.0.1', 'localhost'].includes(vpcdHost)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile('ip', ['route', 'show', 'table', 'local', '127.0.0.1'], { timeout: 2_000 }, (error, stdout) => resolve(error ? undefined : hintFor(stdout)));
  });
}

/** The hint for the loopback route as `ip route show table local 127.0.0.1` prints it, if it lacks quick-ACK. */
export function hintFor(route: string): string | undefined {
  const line = route.trim().split('\n')[0]?.trim().replace(/\s+/g, ' ');
  if (!line || /\bquickack 1\b/.test(line)) return undefined;
  return `each APDU waits ~40 ms for a delayed ACK on the vpcd link; to remove it (as root): ip route change ${line} table local quickack 1`;
}
