import { randomUUID, X509Certificate } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { CONTEXTS, CONTEXT_NAMES, type ContextName } from '../lambdas/contexts.ts';
import { isBinaryMediaType } from '../lambdas/http-binary-types.ts';
import type { ProxyHandler } from '../lambdas/http/app.ts';
import type { ApiResponse, ProxyEvent } from '../lambdas/http/types.ts';
import { inputMap } from '../lambdas/http/input-map.ts';

/** API Gateway's own payload limit; the handlers enforce the (smaller) configured limit themselves. */
const GATEWAY_MAX_BODY = 10 * 1024 * 1024;

/** Picks the bounded context for a path with the same table the API Gateway routes are built from. */
export function contextFor(path: string): ContextName {
  for (const name of CONTEXT_NAMES) {
    const { prefixes, exact } = CONTEXTS[name];
    if (exact.includes(path)) return name;
    for (const prefix of prefixes) {
      const pattern = new RegExp(`^${prefix.replace(/\{[^}]+\}/g, '[^/]+').replace(/\./g, '\\.')}/.+`);
      if (pattern.test(path)) return name;
    }
  }
  // The API's catch-all route goes to the admin function, whose router answers 404 problem JSON.
  return 'admin';
}

/** Turns a Node request into the REST API proxy event API Gateway would send. */
export function toProxyEvent(request: IncomingMessage, body: Buffer, url: URL): ProxyEvent {
  const headers = inputMap<string>();
  const multiValueHeaders = inputMap<string[]>();
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i]!;
    const value = request.rawHeaders[i + 1]!;
    (multiValueHeaders[name] ??= []).push(value);
    headers[name] = value; // API Gateway (REST) keeps the last value of a repeated header here
  }
  const query = inputMap<string>();
  const multiQuery = inputMap<string[]>();
  for (const [name, value] of url.searchParams) {
    (multiQuery[name] ??= []).push(value);
    query[name] = value; // API Gateway keeps the last value
  }
  // Bodies of the API's binaryMediaTypes (every type: lambdas/http-binary-types.ts) travel base64, as in AWS.
  const binary = isBinaryMediaType(request.headers['content-type']);
  const requestId = randomUUID();
  return {
    resource: '/{proxy+}',
    path: url.pathname,
    httpMethod: request.method ?? 'GET',
    headers,
    multiValueHeaders,
    queryStringParameters: url.searchParams.size ? query : null,
    multiValueQueryStringParameters: url.searchParams.size ? multiQuery : null,
    pathParameters: { proxy: url.pathname.slice(1) },
    stageVariables: null,
    body: body.length === 0 ? null : binary ? body.toString('base64') : body.toString('utf8'),
    isBase64Encoded: body.length > 0 && binary,
    requestContext: {
      requestId,
      stage: 'local',
      httpMethod: request.method ?? 'GET',
      path: url.pathname,
      resourcePath: '/{proxy+}',
      resourceId: 'local',
      accountId: '000000000000',
      apiId: 'local',
      protocol: `HTTP/${request.httpVersion}`,
      requestTimeEpoch: Date.now(),
      authorizer: null,
      identity: {
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: request.headers['user-agent'] ?? null,
        clientCert: clientCertOf(request),
      } as ProxyEvent['requestContext']['identity'],
    },
  };
}

/**
 * The peer certificate of a mutual-TLS connection in the shape API Gateway (REST) passes it in
 * `requestContext.identity.clientCert`; null on plain HTTP or when the client sent none. The listener
 * does not judge the certificate (`rejectUnauthorized: false`): the function does, as in AWS, where the
 * truststore only filters and the function still checks chain, usage, revocation and the card.
 */
function clientCertOf(request: IncomingMessage): ProxyEvent['requestContext']['identity']['clientCert'] {
  const socket = request.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return null;
  const peer = socket.getPeerCertificate();
  if (!peer || !peer.raw) return null;
  const certificate = new X509Certificate(peer.raw);
  return {
    clientCertPem: certificate.toString(),
    subjectDN: certificate.subject.split('\n').reverse().join(','),
    issuerDN: certificate.issuer.split('\n').reverse().join(','),
    serialNumber: certificate.serialNumber,
    validity: { notBefore: certificate.validFrom, notAfter: certificate.validTo },
  };
}

function lambdaContext(name: string, requestId: string): Context {
  const deadline = Date.now() + 10_000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `cloudcard-${name}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:cloudcard-${name}`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/local/cloudcard-${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > GATEWAY_MAX_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function serve(handlers: ContextHandlers, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const body = await readBody(request);
  if (!body) {
    response.writeHead(413, { 'Content-Type': 'application/json' }).end(JSON.stringify({ message: 'Request Too Long' }));
    return;
  }
  const event = toProxyEvent(request, body, url);
  const name = contextFor(url.pathname);
  const result = await handlers[name](event, lambdaContext(name, event.requestContext.requestId));
  const { statusCode, headers, body: out } = fromProxyResult(result, request.headers['accept']);
  response.writeHead(statusCode, headers);
  response.end(out);
}

/**
 * Turns a proxy result into the HTTP response API Gateway would send. As in AWS, a base64 body is decoded
 * to bytes only when the client's first Accept media type (none counts as any) matches the API's binary
 * media types, which with `*\/*` is always; a text result passes through unchanged.
 */
export function fromProxyResult(
  result: ApiResponse,
  accept: string | undefined,
): { statusCode: number; headers: Record<string, string | string[]>; body: string | Buffer } {
  const headers = inputMap<string | string[]>();
  for (const [key, value] of Object.entries(result.headers ?? {})) headers[key] = String(value);
  for (const [key, values] of Object.entries(result.multiValueHeaders ?? {})) headers[key] = values.map(String);
  const firstAccept = (accept ?? '').split(',')[0];
  const binary = result.isBase64Encoded === true && isBinaryMediaType(firstAccept);
  return { statusCode: result.statusCode, headers, body: binary ? Buffer.from(result.body, 'base64') : result.body };
}

export interface Gateway {
  readonly url: string;
  /** The mutual-TLS listener's base URL, when one was asked for. */
  readonly certUrl?: string;
  readonly server: Server;
  close(): Promise<void>;
}

export type ContextHandlers = Readonly<Record<ContextName, ProxyHandler>>;

/**
 * Serves every route on one loopback port through the bounded-context handlers. The handlers are built
 * once the port is bound, because they need the public base URL.
 */
/** The second, mutual-TLS listener (certificate login): its port and server certificate. */
export interface CertListenerOptions {
  readonly port: number;
  readonly certPem: string;
  readonly keyPem: string;
}

export async function startGateway(
  build: (url: string, certUrl?: string) => Promise<ContextHandlers>,
  port: number,
  host = '127.0.0.1',
  certListener?: CertListenerOptions,
): Promise<Gateway> {
  let handlers: ContextHandlers | undefined;
  const listener = (request: IncomingMessage, response: ServerResponse): void => {
    if (!handlers) {
      response
        .writeHead(503, { 'Content-Type': 'application/problem+json', 'Retry-After': '1' })
        .end(JSON.stringify({ type: 'about:blank', title: 'Starting', status: 503 }));
      return;
    }
    serve(handlers, request, response).catch(() => {
      // The handlers turn every error into a response; this only catches a broken connection.
      if (!response.headersSent) response.writeHead(500, { 'Content-Type': 'application/problem+json' });
      response.end(JSON.stringify({ type: 'about:blank', title: 'Internal error', status: 500 }));
    });
  };
  const server = createServer(listener);
  // The same routes over HTTPS, asking every client for a certificate and accepting any (or none):
  // what it proves is decided by the function, like API Gateway's mutual-TLS domain passes it on.
  const tlsServer = certListener
    ? createTlsServer({ cert: certListener.certPem, key: certListener.keyPem, requestCert: true, rejectUnauthorized: false }, listener)
    : undefined;
  const servers = [server, ...(tlsServer ? [tlsServer] : [])];
  const hostName = host === '127.0.0.1' || host === '0.0.0.0' ? 'localhost' : host;
  const closeAll = () =>
    Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections();
            s.close(() => resolve());
          }),
      ),
    ).then(() => undefined);
  let url: string;
  let certUrl: string | undefined;
  try {
    server.keepAliveTimeout = 5_000;
    url = `http://${hostName}:${await listen(server, port, host)}`;
    if (tlsServer) {
      tlsServer.keepAliveTimeout = 5_000;
      certUrl = `https://${hostName}:${await listen(tlsServer, certListener!.port, host)}`;
    }
    handlers = await build(url, certUrl);
  } catch (error) {
    await closeAll();
    throw error;
  }
  return { url, ...(certUrl ? { certUrl } : {}), server, close: closeAll };
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
