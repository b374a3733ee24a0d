import { describe, expect, it } from '@jest/globals';
import { oidcSettingsOf, type Tenant } from '../../lambdas/core/directory/tenant.ts';
import { CLIENT_ASSERTION_ALGORITHMS } from '../../lambdas/core/oidc/client-auth.ts';
import { GRANT_TYPES, tenantGrantTypes } from '../../lambdas/core/oidc/client.ts';
import { errorDescription, OAuthError } from '../../lambdas/core/oidc/errors.ts';
import type { AuthorizationRequest } from '../../lambdas/core/oidc/interactions.ts';
import { revocationOutcome } from '../../lambdas/core/oidc/revocation-rule.ts';
import { sessionSatisfies } from '../../lambdas/http/routes/oidc/authorize.ts';

const ALLOWED = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;

/** The protocol rules issue 11 asked for, where each lives. */
describe('OAuth error_description (RFC 6749 §4.1.2.1)', () => {
  it('keeps allowed text as it is', () => {
    expect(errorDescription("scope not allowed for this client: admin (see 'docs')")).toBe("scope not allowed for this client: admin (see 'docs')");
  });

  it('spells out the section sign our texts cite specifications with', () => {
    expect(errorDescription('see RFC 9126 §2.1')).toBe('see RFC 9126 section 2.1');
  });

  it.each([['"'], ['\\'], ['\u00e9'], ['\u2603'], ['\u{1F600}'], ['\n'], ['\t'], ['\u0000'], ['\u007F']])('replaces %j by one "?"', (bad) => {
    expect(errorDescription(`a${bad}b`)).toBe('a?b');
  });

  it('caps long text', () => {
    const long = errorDescription('x'.repeat(5000));
    expect(long.length).toBe(300);
    expect(long.endsWith('...')).toBe(true);
  });

  it('is applied to every OAuthError, so every rendering (redirect, JSON, WWW-Authenticate) gets it', () => {
    const error = new OAuthError('invalid_scope', 'scope not allowed: "\u00e9\\');
    expect(error.message).toMatch(ALLOWED);
    expect(error.message).toBe('scope not allowed: ???');
  });
});

describe('when an SSO session answers an authorization request (OIDC Core §3.1.2.1)', () => {
  const session = { sub: 'alice', authTime: 1000, acr: 'urn:cloudcard:acr:password' };
  const request = (changes: Partial<AuthorizationRequest> = {}): AuthorizationRequest => ({
    clientId: 'c',
    redirectUri: 'https://rp/cb',
    scope: 'openid',
    responseMode: 'query',
    prompt: [],
    acrValues: [],
    ...changes,
  });

  it('max_age=0 is never satisfied, even in the second of the sign-in', () => {
    expect(sessionSatisfies(session, request({ maxAge: 0 }), 1000)).toBe(false);
  });

  it('max_age=N is satisfied up to N seconds after the sign-in', () => {
    expect(sessionSatisfies(session, request({ maxAge: 60 }), 1060)).toBe(true);
    expect(sessionSatisfies(session, request({ maxAge: 60 }), 1061)).toBe(false);
  });

  it('prompt=login is never satisfied', () => {
    expect(sessionSatisfies(session, request({ prompt: ['login'] }), 1000)).toBe(false);
  });

  it("an id_token_hint is satisfied only by its subject's session", () => {
    expect(sessionSatisfies(session, request({ idTokenHintSub: 'alice' }), 1000)).toBe(true);
    expect(sessionSatisfies(session, request({ idTokenHintSub: 'bob' }), 1000)).toBe(false);
  });
});

describe('revocation of a token by a client (RFC 7009 §2.1)', () => {
  it('revokes for its own client, refuses another authenticated client, and tells a public client nothing', () => {
    expect(revocationOutcome('a', { clientId: 'a', method: 'client_secret_basic' })).toBe('revoke');
    expect(revocationOutcome('a', { clientId: 'a', method: 'none' })).toBe('revoke');
    for (const method of ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const) {
      expect(revocationOutcome('a', { clientId: 'b', method })).toBe('refuse');
    }
    expect(revocationOutcome('a', { clientId: 'b', method: 'none' })).toBe('ignore');
  });
});

describe('grants a tenant accepts and advertises', () => {
  const settings = (oidc: Record<string, unknown>) => oidcSettingsOf({ oidc } as unknown as Tenant);

  it('leaves the password grant out unless the tenant turns it on (RFC 9700 §2.4)', () => {
    expect(settings({}).passwordGrant).toBe(false);
    expect(tenantGrantTypes(settings({}))).not.toContain('password');
    expect(tenantGrantTypes(settings({ passwordGrant: true }))).toEqual([...GRANT_TYPES]);
  });

  it('authenticates clients only with asymmetric assertion algs (no client_secret_jwt)', () => {
    expect(([...CLIENT_ASSERTION_ALGORITHMS] as string[]).filter((alg) => alg.startsWith('HS') || alg === 'none')).toEqual([]);
  });
});
