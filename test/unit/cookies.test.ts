import { describe, expect, it } from '@jest/globals';
import { clearSsoSessionCookies, isTopLevelNavigation, setCookie, ssoSecretOf, ssoSessionCookies } from '../../lambdas/http/cookies.ts';

describe('the cookie policy', () => {
  it('makes every cookie Secure and HttpOnly, SameSite=Lax unless told otherwise', () => {
    expect(setCookie('cc_int', 'x', { path: '/t/acme/' })).toBe('cc_int=x; Path=/t/acme/; Secure; HttpOnly; SameSite=Lax');
    expect(setCookie('cc_logout', 'x', { path: '/t/acme/oidc/logout', sameSite: 'Strict', maxAgeSeconds: 600 })).toBe(
      'cc_logout=x; Path=/t/acme/oidc/logout; Secure; HttpOnly; SameSite=Strict; Max-Age=600',
    );
  });

  it('sets the SSO session twice: Lax for same-site use, None for cross-site top-level POSTs; clears both', () => {
    expect(ssoSessionCookies('acme', 'secret', 3600)).toEqual([
      'cc_sso=secret; Path=/t/acme/; Secure; HttpOnly; SameSite=Lax; Max-Age=3600',
      'cc_sso_xs=secret; Path=/t/acme/; Secure; HttpOnly; SameSite=None; Max-Age=3600',
    ]);
    expect(clearSsoSessionCookies('acme')).toEqual([
      'cc_sso=; Path=/t/acme/; Secure; HttpOnly; SameSite=Lax; Max-Age=0',
      'cc_sso_xs=; Path=/t/acme/; Secure; HttpOnly; SameSite=None; Max-Age=0',
    ]);
  });
});

describe('ssoSecretOf', () => {
  const navigation = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'sec-fetch-site': 'cross-site' };

  it('prefers the Lax cookie whatever the request is', () => {
    expect(ssoSecretOf({ cookie: 'cc_sso=a; cc_sso_xs=b', 'sec-fetch-mode': 'cors' })).toBe('a');
  });

  it('takes the cross-site copy on a top-level navigation only', () => {
    expect(ssoSecretOf({ cookie: 'cc_sso_xs=b', ...navigation })).toBe('b');
    // Browsers without Fetch Metadata: SameSite alone guards them, as before.
    expect(ssoSecretOf({ cookie: 'cc_sso_xs=b' })).toBe('b');
    for (const fetchMeta of [
      { 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' },
      { 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' },
      { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'iframe' },
    ]) {
      expect(ssoSecretOf({ cookie: 'cc_sso_xs=b', ...fetchMeta })).toBeUndefined();
    }
  });

  it('treats an empty cookie as none', () => {
    expect(ssoSecretOf({ cookie: 'cc_sso=; cc_sso_xs=', ...navigation })).toBeUndefined();
    expect(ssoSecretOf({})).toBeUndefined();
  });

  it('knows a top-level navigation by its Fetch Metadata', () => {
    expect(isTopLevelNavigation(navigation)).toBe(true);
    expect(isTopLevelNavigation({ 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'frame' })).toBe(false);
  });
});
