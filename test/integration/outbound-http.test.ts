import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { PolicedHttp, type OutboundLog, type Resolver } from '../../lambdas/adapters/outbound-http.ts';
import { OutboundCallError, OutboundUrlError, PUBLIC_ONLY } from '../../lambdas/core/outbound/url-policy.ts';
import type { OutboundRequest } from '../../lambdas/ports.ts';
import { closedPort, loopbackServer, type LoopbackServer } from '../support/loopback-server.ts';

const GET: OutboundRequest = { method: 'GET', timeoutMs: 3000, maxResponseBytes: 64 * 1024 };

/** A resolver from a table (no real DNS): each name's answers in turn, the last one repeating. */
function resolverOf(table: Record<string, string[][]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (hostname: string) => {
    asked.push(hostname);
    const answers = table[hostname];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return answers.length > 1 ? answers.shift()! : answers[0]!;
  };
  return Object.assign(resolve, { asked });
}

async function callError(promise: Promise<unknown>): Promise<OutboundCallError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(OutboundCallError);
  return error as OutboundCallError;
}

/** The outbound HTTP adapter (PolicedHttp) against listeners on loopback, with an injected resolver. */
describe('outbound HTTP through the outbound URL policy', () => {
  let server: LoopbackServer;
  let elsewhere: LoopbackServer;
  const logged: { level: string; message: string; entry: Record<string, unknown> }[] = [];
  const log: OutboundLog = (level, message, entry) => void logged.push({ level, message, entry: { ...entry } });

  beforeAll(async () => {
    elsewhere = await loopbackServer((_request, response) => response.writeHead(200).end('elsewhere'));
    server = await loopbackServer((request, response) => {
      if (request.url === '/ok') return void response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"keys":[]}');
      if (request.url === '/echo') {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        return void request.on('end', () =>
          response.writeHead(200, { 'Content-Type': 'text/plain' }).end(`${request.headers['content-type']}|${Buffer.concat(chunks).toString()}`),
        );
      }
      if (request.url === '/redirect') return void response.writeHead(302, { Location: `${elsewhere.url}/target` }).end();
      if (request.url === '/teapot') return void response.writeHead(418).end('short and stout');
      if (request.url === '/declared-large') return void response.writeHead(200, { 'Content-Length': String(10 * 1024 * 1024) }).end();
      if (request.url === '/streamed-large') {
        response.writeHead(200, { 'Content-Type': 'text/plain' });
        for (let i = 0; i < 40; i++) response.write('x'.repeat(4096));
        return void response.end();
      }
      if (request.url === '/silent') return; // never answers
      if (request.url === '/drip') {
        response.writeHead(200, { 'Content-Type': 'text/plain' });
        return void response.write('the first byte, and then nothing');
      }
      response.writeHead(404).end();
    });
  });
  afterAll(async () => {
    await server?.close();
    await elsewhere?.close();
  });
  afterEach(() => {
    server.seen.length = 0;
    elsewhere.seen.length = 0;
    logged.length = 0;
  });

  describe('with the loopback exception (local stack)', () => {
    const http = new PolicedHttp({ policy: { allowLoopback: true }, log });

    it('calls a loopback listener and returns its answer', async () => {
      expect(await http.request(`${server.url}/ok`, GET)).toEqual({
        status: 200,
        contentType: 'application/json',
        body: '{"keys":[]}',
        bytes: new Uint8Array(Buffer.from('{"keys":[]}')),
      });
      const posted = await http.request(`${server.url}/echo`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/xml' },
        body: '<x/>',
        timeoutMs: 3000,
        maxResponseBytes: 1024,
      });
      expect(posted.body).toBe('text/xml|<x/>');
      expect(logged.map((entry) => entry.entry['status'])).toEqual([200, 200]);
    });

    it('does not follow a redirect: the 3xx is the answer', async () => {
      const answer = await http.request(`${server.url}/redirect`, GET);
      expect(answer.status).toBe(302);
      expect(elsewhere.seen).toEqual([]);
    });

    it('cuts an answer over the cap, declared or streamed', async () => {
      const declared = await callError(http.request(`${server.url}/declared-large`, GET));
      expect(declared.reason).toMatch(/declares 10485760 bytes, over the 65536-byte cap/);
      const streamed = await callError(http.request(`${server.url}/streamed-large`, GET));
      expect(streamed.reason).toMatch(/exceeds the 65536-byte cap/);
      expect(streamed.message).toBe('the remote endpoint could not be reached');
    });

    it('gives up on a listener that never answers, or stops half-way', async () => {
      const silent = await callError(http.request(`${server.url}/silent`, { ...GET, timeoutMs: 300 }));
      expect(silent.reason).toMatch(/no complete answer within 300 ms/);
      const drip = await callError(http.request(`${server.url}/drip`, { ...GET, timeoutMs: 300 }));
      expect(drip.reason).toMatch(/no complete answer within 300 ms/);
    });

    it('gives up when the name never resolves within the connect limit', async () => {
      const hanging = new PolicedHttp({ policy: { allowLoopback: true }, resolve: () => new Promise(() => undefined), connectTimeoutMs: 200, log });
      const error = await callError(hanging.request('http://hangs.localhost/', GET));
      expect(error.reason).toMatch(/no connection within 200 ms/);
    });

    it('gives every failure the same message; only the log tells refused, status or policy apart', async () => {
      const refused = await callError(http.request(`http://127.0.0.1:${await closedPort()}/`, GET));
      const policy = await callError(http.request('https://10.0.0.1/', GET));
      expect(refused.message).toBe(policy.message);
      expect(refused.reason).toMatch(/ECONNREFUSED/);
      expect(policy.reason).toMatch(/refused by the outbound URL policy: must not point at 10\.0\.0\.1, a private address/);
      expect(logged.map((entry) => [entry.level, entry.message])).toEqual([
        ['warn', 'outbound call failed'],
        ['warn', 'outbound call failed'],
      ]);
    });

    it('connects to the address its own lookup checked, for a name', async () => {
      const resolve = resolverOf({ 'sp.localhost': [['127.0.0.1']] });
      const named = new PolicedHttp({ policy: { allowLoopback: true }, resolve, log });
      expect((await named.request(`http://sp.localhost:${server.port}/ok`, GET)).status).toBe(200);
      expect(resolve.asked).toEqual(['sp.localhost']);
    });
  });

  describe('without the loopback exception (every deployment)', () => {
    const http = new PolicedHttp({ policy: PUBLIC_ONLY, log });

    it('refuses a loopback listener at registration and at call time, before connecting', async () => {
      await expect(http.check(`${server.url}/ok`)).rejects.toThrow(OutboundUrlError);
      await expect(http.check(`https://127.0.0.1:${server.port}/ok`)).rejects.toThrow(/loopback address/);
      const error = await callError(http.request(`${server.url}/ok`, GET));
      expect(error.reason).toMatch(/must be https/);
      await callError(http.request(`https://[::ffff:127.0.0.1]:${server.port}/ok`, GET));
      expect(server.seen).toEqual([]);
    });

    it('at registration resolves the name and refuses private answers; an unresolvable name waits for call time', async () => {
      const resolve = resolverOf({
        'intranet.example.com': [['10.20.30.40']],
        'metadata.example.com': [['93.184.216.34', 'fd00:ec2::254']],
        'public.example.com': [['93.184.216.34']],
      });
      const checking = new PolicedHttp({ policy: PUBLIC_ONLY, resolve, log });
      await expect(checking.check('https://intranet.example.com/ars')).rejects.toThrow(
        /intranet\.example\.com: it resolves to 10\.20\.30\.40, a private address/,
      );
      await expect(checking.check('https://metadata.example.com/ars')).rejects.toThrow(/link-local/);
      await expect(checking.check('https://public.example.com/ars')).resolves.toBeUndefined();
      await expect(checking.check('https://not-yet.example.com/ars')).resolves.toBeUndefined();
      const error = await callError(checking.request('https://not-yet.example.com/ars', GET));
      expect(error.reason).toMatch(/ENOTFOUND/);
    });

    it('refuses a rebinding name at call time: public when registered, loopback when called', async () => {
      const resolve = resolverOf({ 'rebind.example.com': [['93.184.216.34'], ['127.0.0.1']] });
      const rebinding = new PolicedHttp({ policy: PUBLIC_ONLY, resolve, log });
      await expect(rebinding.check(`https://rebind.example.com:${server.port}/ok`)).resolves.toBeUndefined();
      const error = await callError(rebinding.request(`https://rebind.example.com:${server.port}/ok`, GET));
      expect(error.reason).toMatch(/rebind\.example\.com: it resolves to 127\.0\.0\.1, a loopback address/);
      expect(resolve.asked).toEqual(['rebind.example.com', 'rebind.example.com']);
      expect(server.seen).toEqual([]);
    });

    it('refuses a name one of whose addresses is private, though another is public', async () => {
      const resolve = resolverOf({ 'mixed.example.com': [['93.184.216.34', '127.0.0.1']] });
      const mixed = new PolicedHttp({ policy: PUBLIC_ONLY, resolve, log });
      const error = await callError(mixed.request(`https://mixed.example.com:${server.port}/ok`, GET));
      expect(error.reason).toMatch(/127\.0\.0\.1, a loopback address/);
      expect(server.seen).toEqual([]);
    });
  });
});
