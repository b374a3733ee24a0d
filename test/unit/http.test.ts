import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from '@jest/globals';
import { fromProxyResult, toProxyEvent } from '../../local/gateway.ts';
import { BINARY_MEDIA_TYPES, isBinaryMediaType } from '../../lambdas/http-binary-types.ts';
import { parseBody } from '../../lambdas/http/body.ts';
import { HttpProblem, toProblem } from '../../lambdas/http/problem.ts';
import { Router } from '../../lambdas/http/router.ts';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../../lambdas/core/errors.ts';
import { json } from '../../lambdas/http/types.ts';

const problemOf = (fn: () => unknown): HttpProblem => {
  try {
    fn();
  } catch (error) {
    if (error instanceof HttpProblem) return error;
    throw error;
  }
  throw new Error('expected an HttpProblem');
};

describe('router', () => {
  const ok = async () => json(200, {});
  const router = new Router([
    { method: 'GET', path: '/t/:tenant/admin/v1/users', handle: ok },
    { method: 'POST', path: '/t/:tenant/admin/v1/users', handle: ok },
    { method: 'GET', path: '/t/:tenant/admin/v1/users/:username', handle: ok },
  ]);

  it('matches and decodes parameters', () => {
    expect(router.match('GET', '/t/acme/admin/v1/users/a%40b.c').params).toEqual({ tenant: 'acme', username: 'a@b.c' });
  });

  it('serves HEAD through GET', () => {
    expect(router.match('HEAD', '/t/acme/admin/v1/users').route.method).toBe('GET');
  });

  it('answers 405 with the allowed methods for a known path', () => {
    const problem = problemOf(() => router.match('DELETE', '/t/acme/admin/v1/users'));
    expect(problem.status).toBe(405);
    expect(problem.headers).toEqual({ Allow: 'GET, POST' });
  });

  it('answers 404 for an unknown path, including extra or missing segments', () => {
    for (const path of ['/', '/t/acme/admin/v1', '/t/acme/admin/v1/users/x/y', '/t//admin/v1/users']) {
      expect(problemOf(() => router.match('GET', path)).status).toBe(404);
    }
  });

  it('answers 400 for broken percent-encoding', () => {
    expect(problemOf(() => router.match('GET', '/t/acme/admin/v1/users/%E0%A4%A')).status).toBe(400);
  });
});

describe('body parsing', () => {
  it('parses JSON and +json types', () => {
    expect(parseBody('{"a":1}', false, 'application/json; charset=utf-8', 100).parsed).toEqual({ a: 1 });
    expect(parseBody('{"a":1}', false, 'application/merge-patch+json', 100).parsed).toEqual({ a: 1 });
  });

  it('parses base64 bodies', () => {
    expect(parseBody(Buffer.from('{"a":2}').toString('base64'), true, 'application/json', 100).parsed).toEqual({ a: 2 });
  });

  it('parses forms and refuses repeated parameters', () => {
    expect(parseBody('a=1&b=x+y', false, 'application/x-www-form-urlencoded', 100).parsed).toEqual({ a: '1', b: 'x y' });
    expect(problemOf(() => parseBody('a=1&a=2', false, 'application/x-www-form-urlencoded', 100)).status).toBe(400);
    // Field names that are Object.prototype members are plain fields, not "repeated" ones.
    const form = parseBody('constructor=1&toString=2&__proto__=3&hasOwnProperty=4', false, 'application/x-www-form-urlencoded', 100).parsed as Record<string, string>;
    expect(Object.entries(form)).toEqual([['constructor', '1'], ['toString', '2'], ['__proto__', '3'], ['hasOwnProperty', '4']]);
    expect(problemOf(() => parseBody('toString=1&toString=2', false, 'application/x-www-form-urlencoded', 100)).detail).toMatch(/toString is repeated/);
  });

  it('refuses malformed JSON with 400', () => {
    expect(problemOf(() => parseBody('{"a":', false, 'application/json', 100)).title).toBe('Malformed JSON');
  });

  it('refuses a body over the limit with 413, counting bytes not characters', () => {
    expect(problemOf(() => parseBody('x'.repeat(101), false, 'application/json', 100)).status).toBe(413);
    expect(problemOf(() => parseBody('é'.repeat(51), false, 'application/json', 100)).status).toBe(413);
    expect(problemOf(() => parseBody(Buffer.alloc(200).toString('base64'), true, 'application/json', 100)).status).toBe(413);
  });

  it('keeps other types raw', () => {
    const { raw, parsed } = parseBody('<x/>', false, 'application/xml', 100);
    expect(parsed).toBeUndefined();
    expect(raw?.toString()).toBe('<x/>');
  });

  it('treats an empty body as none', () => {
    expect(parseBody(null, false, 'application/json', 100)).toEqual({ parsed: undefined });
    expect(parseBody('', false, 'application/json', 100)).toEqual({ parsed: undefined });
  });
});

describe('problem mapping', () => {
  it.each([
    [new ValidationError('bad', ['x: wrong']), 400],
    [new NotFoundError('gone'), 404],
    [new ConflictError('lost'), 409],
    [new UnavailableError('kms', 'down'), 503],
    [new Error('secret internal detail'), 500],
    ['a thrown string', 500],
  ])('maps %p to %i', (error, status) => {
    expect(toProblem(error).status).toBe(status);
  });

  it('never leaks an unexpected error message', () => {
    expect(toProblem(new Error('password=hunter2')).detail).not.toContain('hunter2');
  });

  it('does not name the internals of an outage, only the dependency', () => {
    const problem = toProblem(new UnavailableError('state', 'ECONNREFUSED 10.0.0.1:443'));
    expect(problem.detail).toContain('state');
    expect(problem.detail).not.toContain('ECONNREFUSED');
  });
});

describe('local gateway encoding (as API Gateway REST with the shared binary media types)', () => {
  const request = (rawHeaders: string[], method = 'POST') => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < rawHeaders.length; i += 2) headers[rawHeaders[i]!.toLowerCase()] = rawHeaders[i + 1]!;
    return { rawHeaders, headers, method, httpVersion: '1.1', socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage;
  };
  const url = new URL('http://localhost/t/acme/card/v1/apdu?x=1&x=2');
  const bytes = Buffer.from([0x00, 0xa4, 0x04, 0x00, 0xff, 0xfe]);

  it('keeps query parameters and headers named like Object.prototype members as plain entries', () => {
    const names = new URL('http://localhost/health?__proto__=a&constructor=b&constructor=c&toString=d');
    const event = toProxyEvent(request(['__proto__', 'h1', 'constructor', 'h2', 'constructor', 'h3'], 'GET'), Buffer.alloc(0), names);
    expect(Object.entries(event.queryStringParameters!)).toEqual([['__proto__', 'a'], ['constructor', 'c'], ['toString', 'd']]);
    expect(Object.entries(event.multiValueQueryStringParameters!)).toEqual([['__proto__', ['a']], ['constructor', ['b', 'c']], ['toString', ['d']]]);
    expect(Object.entries(event.headers)).toEqual([['__proto__', 'h1'], ['constructor', 'h3']]);
    expect(Object.entries(event.multiValueHeaders)).toEqual([['__proto__', ['h1']], ['constructor', ['h2', 'h3']]]);
  });

  it.each(['application/octet-stream', 'application/cbor', 'Application/CBOR; foo=bar'])('sends a %s body base64-encoded', (type) => {
    const event = toProxyEvent(request(['Content-Type', type]), bytes, url);
    expect(event).toMatchObject({ isBase64Encoded: true, body: bytes.toString('base64') });
  });

  it.each(['application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/samlmetadata+xml', 'image/png', ''])(
    'sends a %p body as UTF-8 text, as API Gateway does for types it does not treat as binary',
    (type) => {
      const body = Buffer.from('{"a":"é"}');
      const event = toProxyEvent(request(type ? ['Content-Type', type] : []), body, url);
      expect(event).toMatchObject({ isBase64Encoded: false, body: '{"a":"é"}' });
    },
  );

  it('sends no body as null, not base64', () => {
    expect(toProxyEvent(request(['Content-Type', 'application/octet-stream']), Buffer.alloc(0), url)).toMatchObject({ body: null, isBase64Encoded: false });
  });

  it('keeps the last value of a repeated header in headers and every value in multiValueHeaders', () => {
    const event = toProxyEvent(request(['X-Thing', 'one', 'Accept', 'a/b', 'X-Thing', 'two']), Buffer.alloc(0), url);
    expect(event.headers['X-Thing']).toBe('two');
    expect(event.multiValueHeaders['X-Thing']).toEqual(['one', 'two']);
    expect(event.queryStringParameters).toEqual({ x: '2' });
    expect(event.multiValueQueryStringParameters).toEqual({ x: ['1', '2'] });
  });

  it('decodes a base64 result only when the first Accept type is a binary media type', () => {
    const result = { statusCode: 200, headers: { 'Content-Type': 'application/cbor' }, body: bytes.toString('base64'), isBase64Encoded: true };
    expect(fromProxyResult(result, 'application/cbor, */*').body).toEqual(bytes);
    expect(fromProxyResult(result, 'application/octet-stream').body).toEqual(bytes);
    // Like API Gateway: without a matching Accept the client gets the base64 text.
    expect(fromProxyResult(result, 'application/json, application/cbor').body).toBe(bytes.toString('base64'));
    expect(fromProxyResult(result, undefined).body).toBe(bytes.toString('base64'));
    expect(fromProxyResult({ statusCode: 200, body: '{"a":1}' }, 'application/cbor').body).toBe('{"a":1}');
  });

  it('shares one list of binary media types with the API (lib/api.ts)', () => {
    expect(BINARY_MEDIA_TYPES).toEqual(['application/octet-stream', 'application/cbor', 'application/pkix-cert', 'application/pkix-crl', 'application/ocsp-request', 'application/ocsp-response']);
    expect(isBinaryMediaType('application/ocsp-request')).toBe(true);
    expect(isBinaryMediaType('application/octet-stream; q=1')).toBe(true);
    expect(isBinaryMediaType('application/json')).toBe(false);
    expect(isBinaryMediaType(undefined)).toBe(false);
  });
});
