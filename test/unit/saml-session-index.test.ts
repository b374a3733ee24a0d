import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { sessionIndexFor } from '../../lambdas/core/saml/session-index.ts';

const secret = () => randomBytes(32).toString('base64url');

describe('per-SP SessionIndex (SAML Core §2.7.2)', () => {
  it('differs between SPs of one session and between sessions, and is stable for one (session, SP)', () => {
    const session = secret();
    const a = sessionIndexFor(session, 'https://a.example.test/sp');
    const b = sessionIndexFor(session, 'https://b.example.test/sp');
    expect(a).not.toBe(b);
    expect(sessionIndexFor(session, 'https://a.example.test/sp')).toBe(a);
    expect(sessionIndexFor(secret(), 'https://a.example.test/sp')).not.toBe(a);
  });

  it('reveals neither the session secret nor the entityID, and is a plain token any SP stores', () => {
    const session = secret();
    const value = sessionIndexFor(session, 'https://a.example.test/sp');
    expect(value).toMatch(/^_[A-Za-z0-9_-]{43}$/);
    expect(value).not.toContain(session);
    expect(value).not.toContain('example');
  });
});
