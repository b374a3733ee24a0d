import { describe, expect, it } from '@jest/globals';
import { parseSessionToken, sessionToken } from '../../lambdas/core/cards/sessions.ts';

describe('card session tokens', () => {
  const secret = 'a'.repeat(43);

  it('carry the card and the user beside the secret, and give them back', () => {
    const token = sessionToken(secret, 'card_0123456789', 'alice@example.test');
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(parseSessionToken(token)).toEqual({ secret, card: 'card_0123456789', username: 'alice@example.test' });
    expect(parseSessionToken(sessionToken(secret, 'c1', 'zoë'))?.username).toBe('zoë');
  });

  it.each([
    ['a bare secret (a token from before hints)', secret],
    ['no hint', `.${secret}`],
    ['a short secret', `${Buffer.from('["c","u"]').toString('base64url')}.${'a'.repeat(42)}`],
    ['a hint that is not JSON', `bm90IGpzb24.${secret}`],
    ['a hint of one part', `${Buffer.from('["c"]').toString('base64url')}.${secret}`],
    ['a hint with an empty part', `${Buffer.from('["c",""]').toString('base64url')}.${secret}`],
    ['a hint with a non-string part', `${Buffer.from('["c",1]').toString('base64url')}.${secret}`],
  ])('are refused when malformed: %s', (_name, token) => {
    expect(parseSessionToken(token)).toBeUndefined();
  });
});
