import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { LocalStack } from '../../local/stack.ts';
import { startStackOn } from '../support/oidc-stack.ts';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/**
 * Issue 15: every browser-facing error is a page with the request id, by one rule in the HTTP frame
 * (lambdas/http/negotiation.ts); every other client keeps the RFC 7807 problem JSON.
 */
describe('HTML error pages for browsers, problem JSON for everyone else', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startStackOn('embedded');
  });
  afterAll(async () => stack?.close());

  it.each(['/', '/t/demo/', '/t/nope/oidc/logout', '/favicon.ico'])('%s: a page with the request id for a browser, JSON for an API client', async (path) => {
    const page = await fetch(`${stack.url}${path}`, { headers: { Accept: BROWSER_ACCEPT } });
    expect(page.status).toBe(404);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const body = await page.text();
    const requestId = page.headers.get('x-request-id')!;
    expect(body).toMatch(/^<!doctype html><html lang="en">/);
    expect(body).toContain('<h1>Not found</h1>');
    expect(body).toContain(`<code>${requestId}</code>`);
    expect(body).not.toMatch(/<script/);

    for (const accept of [undefined, '*/*', 'application/json']) {
      const problem = await fetch(`${stack.url}${path}`, { headers: accept ? { Accept: accept } : {} });
      expect(problem.status).toBe(404);
      expect(problem.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await problem.json()).toMatchObject({ status: 404, title: 'Not found', requestId: problem.headers.get('x-request-id') });
    }
  });

  it('keeps the problem headers (405 Allow) and hides server details', async () => {
    const page = await fetch(`${stack.url}/t/demo/oidc/token`, { method: 'GET', headers: { Accept: BROWSER_ACCEPT } });
    expect(page.status).toBe(405);
    expect(page.headers.get('allow')).toBe('POST');
    expect(await page.text()).toContain('This address cannot be used this way.');
  });
});
