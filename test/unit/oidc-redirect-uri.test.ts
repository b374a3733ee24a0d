import { describe, expect, it } from '@jest/globals';
import { redirectUriAllowed } from '../../lambdas/core/oidc/client.ts';

describe('redirect URI matching', () => {
  const registered = ['https://rp.example.test/cb', 'http://127.0.0.1/callback', 'http://[::1]/callback'];

  it('matches registered URIs exactly', () => {
    expect(redirectUriAllowed(registered, 'https://rp.example.test/cb')).toBe(true);
    expect(redirectUriAllowed(registered, 'https://rp.example.test/cb?x=1')).toBe(false);
    expect(redirectUriAllowed(registered, 'https://rp.example.test:8443/cb')).toBe(false);
  });

  it('lets native apps on a loopback IP literal use any port (RFC 8252 §7.3), nothing else', () => {
    expect(redirectUriAllowed(registered, 'http://127.0.0.1:49152/callback')).toBe(true);
    expect(redirectUriAllowed(registered, 'http://[::1]:50000/callback')).toBe(true);
    expect(redirectUriAllowed(registered, 'http://127.0.0.1:49152/other')).toBe(false);
    expect(redirectUriAllowed(registered, 'http://127.0.0.1:49152/callback?next=x')).toBe(false);
    expect(redirectUriAllowed(registered, 'http://localhost:49152/callback')).toBe(false);
    expect(redirectUriAllowed(registered, 'http://127.0.0.2:49152/callback')).toBe(false);
    expect(redirectUriAllowed(registered, 'not a url')).toBe(false);
  });
});
