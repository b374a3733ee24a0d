import { describe, expect, it } from '@jest/globals';
import { prefersHtml } from '../../lambdas/http/negotiation.ts';

describe('prefersHtml: who gets an HTML error page', () => {
  it.each([
    ['Chromium navigating', 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8', true],
    ['Firefox navigating', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', true],
    ['XHTML only', 'application/xhtml+xml', true],
    ['HTML ranked above JSON', 'application/json;q=0.5, text/html', true],
  ])('%s: yes', (_who, accept, expected) => {
    expect(prefersHtml(accept)).toBe(expected);
  });

  it.each([
    ['no Accept (openssl, many SDKs)', undefined],
    ['curl and fetch', '*/*'],
    ['an API client', 'application/json'],
    ['a problem-aware client', 'application/problem+json, text/html;q=0.1'],
    ['JSON ranked above HTML', 'text/html;q=0.4, application/json'],
    ['HTML refused', 'text/html;q=0, */*'],
    ['a malformed quality', 'text/html;q=abc'],
    ['wildcard text', 'text/*'],
  ])('%s: no', (_who, accept) => {
    expect(prefersHtml(accept)).toBe(false);
  });
});
