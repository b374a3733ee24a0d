import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A plain HTTP listener on 127.0.0.1 that records what reached it; stopped by the test that started it. */
export interface LoopbackServer {
  readonly url: string;
  readonly port: number;
  /** The request lines that reached it (method and path). */
  readonly seen: string[];
  close(): Promise<void>;
}

export async function loopbackServer(handle: (request: IncomingMessage, response: ServerResponse) => void): Promise<LoopbackServer> {
  const seen: string[] = [];
  const server: Server = createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    handle(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on (a listener's, closed again): connections to it are refused. */
export async function closedPort(): Promise<number> {
  const server = await loopbackServer(() => undefined);
  await server.close();
  return server.port;
}
