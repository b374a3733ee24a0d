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
    const form = parseBody('constructor=1&toString=2&__proto__=3&hasOwnProperty=4', false, 'application/x-www-form-urlencoded', 100).parsed as Record<
      string,
      string
    >;
    expect(Object.entries(form)).toEqual([
      ['constructor', '1'],
      ['toString', '2'],
      ['__proto__', '3'],
      ['hasOwnProperty', '4'],
    ]);
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
    expect(Object.entries(event.queryStringParameters!)).toEqual([
      ['__proto__', 'a'],
      ['constructor', 'c'],
      ['toString', 'd'],
    ]);
    expect(Object.entries(event.multiValueQueryStringParameters!)).toEqual([
      ['__proto__', ['a']],
      ['constructor', ['b', 'c']],
      ['toString', ['d']],
    ]);
    expect(Object.entries(event.headers)).toEqual([
      ['__proto__', 'h1'],
      ['constructor', 'h3'],
    ]);
    expect(Object.entries(event.multiValueHeaders)).toEqual([
      ['__proto__', ['h1']],
      ['constructor', ['h2', 'h3']],
    ]);
  });

  it.each([
    'application/octet-stream',
    'application/cbor',
    'Application/CBOR; foo=bar',
    'application/ocsp-request',
    'application/json',
    'application/x-www-form-urlencoded',
    'text/xml',
    '',
  ])('sends a %p body base64-encoded, as API Gateway does with */* among its binary media types', (type) => {
    const event = toProxyEvent(request(type ? ['Content-Type', type] : []), bytes, url);
    expect(event).toMatchObject({ isBase64Encoded: true, body: bytes.toString('base64') });
  });

  it('lets the body parser see a base64 JSON or form body exactly as the text it encodes', () => {
    const json = Buffer.from('{"a":"é"}');
    const jsonEvent = toProxyEvent(request(['Content-Type', 'application/json']), json, url);
    expect(parseBody(jsonEvent.body, jsonEvent.isBase64Encoded, 'application/json', 1024).parsed).toEqual({ a: 'é' });
    const form = Buffer.from('grant_type=authorization_code&code=a%2Bb');
    const formEvent = toProxyEvent(request(['Content-Type', 'application/x-www-form-urlencoded']), form, url);
    expect(parseBody(formEvent.body, formEvent.isBase64Encoded, 'application/x-www-form-urlencoded', 1024).parsed).toEqual({
      grant_type: 'authorization_code',
      code: 'a+b',
    });
  });

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

  it('decodes a base64 result for any Accept, none included, and passes a text result through', () => {
    const result = { statusCode: 200, headers: { 'Content-Type': 'application/ocsp-response' }, body: bytes.toString('base64'), isBase64Encoded: true };
    // openssl ocsp -url and Windows' CRL fetcher send no Accept; curl sends */*; browsers put text/html first.
    expect(fromProxyResult(result, undefined).body).toEqual(bytes);
    expect(fromProxyResult(result, '*/*').body).toEqual(bytes);
    expect(fromProxyResult(result, 'text/html,application/xhtml+xml,*/*;q=0.8').body).toEqual(bytes);
    expect(fromProxyResult(result, 'application/ocsp-response').body).toEqual(bytes);
    expect(fromProxyResult({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' }, undefined).body).toBe('{"a":1}');
    expect(fromProxyResult({ statusCode: 200, body: '<html>é</html>', isBase64Encoded: false }, 'text/html').body).toBe('<html>é</html>');
  });

  it('shares one list of binary media types with the API (lib/api.ts): every type', () => {
    expect(BINARY_MEDIA_TYPES).toEqual(['*/*']);
    for (const type of ['application/ocsp-request', 'application/octet-stream; q=1', 'application/json', 'text/html', '', undefined]) {
      expect(isBinaryMediaType(type)).toBe(true);
    }
  });
});
