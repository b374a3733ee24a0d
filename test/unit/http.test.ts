import { describe, expect, it } from '@jest/globals';
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
