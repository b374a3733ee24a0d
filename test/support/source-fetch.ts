import { request as httpRequest } from 'node:http';

/** Where a test client's requests come from: a loopback source address and extra headers (user agent, CDN location). */
export interface Origin {
  /** A 127.x.y.z address to bind the client socket to (Linux routes all of 127/8 to loopback). */
  readonly address?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * A fetch over node:http that binds the client side of the connection to `origin().address` and adds its
 * headers, so the local gateway sees another source address (its socket's remoteAddress), user agent or
 * location. Never follows redirects (callers that need to, do it themselves). Read lazily: a test moves
 * one client between "places" by changing what `origin` returns.
 */
export function fetchFrom(origin: () => Origin): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const { address, headers: extra = {} } = origin();
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => (headers[name] = value));
    Object.assign(headers, Object.fromEntries(Object.entries(extra).map(([name, value]) => [name.toLowerCase(), value])));
    const body =
      init.body === undefined || init.body === null
        ? undefined
        : typeof init.body === 'string'
          ? init.body
          : init.body instanceof URLSearchParams
            ? init.body.toString()
            : Buffer.from(init.body as Uint8Array);
    if (init.body instanceof URLSearchParams && !headers['content-type']) headers['content-type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
    return new Promise<Response>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname,
          port: url.port,
          path: `${url.pathname}${url.search}`,
          method: init.method ?? 'GET',
          headers,
          ...(address ? { localAddress: address } : {}),
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const out = new Headers();
            for (let i = 0; i < res.rawHeaders.length; i += 2) out.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
            const status = res.statusCode ?? 500;
            resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: out }));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }) as typeof fetch;
}
