import { describe, expect, it } from '@jest/globals';
import { oidcSettingsOf, oidcSettingsSchema, tenantUpdateSchema, type Tenant } from '../../lambdas/core/directory/tenant.ts';
import {
  AGENT_CLIENT_METADATA,
  clientMetadataSchema,
  entitledClient,
  operatorOnlyRequests,
  patchedMetadata,
  scopeStillAllowed,
  type OidcClient,
} from '../../lambdas/core/oidc/client.ts';

/** The rules of who may hold what, where they live: the client model and the tenant settings. */
const client = (overrides: Partial<OidcClient>): OidcClient => ({
  ...clientMetadataSchema.parse({ redirect_uris: ['https://rp.example/cb'] }),
  client_id: 'client-one',
  tenant: 'demo',
  first_party: false,
  registered_by: 'registration',
  client_id_issued_at: 1,
  version: 1,
  ...overrides,
});

describe('operator-only scopes and grants', () => {
  it('names every operator-only request of a registration, none of an operator-made client', () => {
    const asked = { scope: 'openid card admin profile', grant_types: ['authorization_code', 'password'] as OidcClient['grant_types'] };
    expect(operatorOnlyRequests(asked, 'registration')).toEqual(['scope card', 'scope admin', 'grant_type password']);
    expect(operatorOnlyRequests(asked, 'admin')).toEqual([]);
    expect(operatorOnlyRequests({ scope: 'openid profile', grant_types: ['authorization_code'] }, 'registration')).toEqual([]);
  });

  it('reads a registered client without card, admin and password, and never as first-party', () => {
    const forged = client({ scope: 'openid card admin offline_access', grant_types: ['authorization_code', 'password', 'refresh_token'], first_party: true });
    expect(entitledClient(forged)).toMatchObject({ scope: 'openid offline_access', grant_types: ['authorization_code', 'refresh_token'], first_party: false });
  });

  it('leaves an operator-made client as stored', () => {
    const made = client({ registered_by: 'admin', first_party: true, scope: 'openid card', grant_types: ['authorization_code', 'password'] });
    expect(entitledClient(made)).toBe(made);
  });

  it('keeps of an earlier grant only what the client may still hold', () => {
    expect(scopeStillAllowed(client({ scope: 'openid card offline_access' }), 'openid card offline_access')).toBe('openid offline_access');
    expect(scopeStillAllowed(client({ registered_by: 'admin', scope: 'openid card offline_access' }), 'openid card offline_access')).toBe(
      'openid card offline_access',
    );
    expect(scopeStillAllowed(client({ registered_by: 'admin', scope: 'openid' }), 'openid card')).toBe('openid');
  });

  it('describes the agent client as a valid public native client with the card scope', () => {
    const parsed = clientMetadataSchema.parse(AGENT_CLIENT_METADATA);
    expect(parsed).toMatchObject({ token_endpoint_auth_method: 'none', application_type: 'native', scope: 'openid card offline_access' });
    expect(parsed.redirect_uris.every((u) => u.startsWith('http://127.0.0.1/') || u.startsWith('http://[::1]/'))).toBe(true);
  });

  it('takes policy_uri and tos_uri only as https', () => {
    expect(
      clientMetadataSchema.safeParse({ redirect_uris: ['https://rp.example/cb'], policy_uri: 'https://rp.example/p', tos_uri: 'https://rp.example/t' }).success,
    ).toBe(true);
    for (const bad of ['http://rp.example/p', 'javascript:alert(1)', 'not a url'])
      expect(clientMetadataSchema.safeParse({ redirect_uris: ['https://rp.example/cb'], policy_uri: bad }).success).toBe(false);
  });

  it('takes the descriptive links only as https to a public host (the static outbound URL policy, no exception)', () => {
    for (const field of ['policy_uri', 'tos_uri', 'client_uri', 'logo_uri']) {
      expect(clientMetadataSchema.safeParse({ redirect_uris: ['https://rp.example/cb'], [field]: 'https://rp.example/x' }).success).toBe(true);
      for (const bad of [
        'https://127.0.0.1/x',
        'https://localhost/x',
        'https://192.168.1.1/x',
        'https://[fd00:ec2::254]/x',
        'https://u:p@rp.example/x',
        'ftp://rp.example/x',
      ]) {
        expect(clientMetadataSchema.safeParse({ redirect_uris: ['https://rp.example/cb'], [field]: bad }).success).toBe(false);
      }
    }
  });

  it('refuses unknown fields from an operator (a typo) but keys-related rules hold for every origin', () => {
    expect(clientMetadataSchema.safeParse({ redirect_uris: ['https://rp.example/cb'], redirect_uri: 'https://rp.example/cb' }).success).toBe(false);
    const keys = { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] };
    expect(clientMetadataSchema.safeParse({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt' }).success).toBe(false);
    expect(
      clientMetadataSchema.safeParse({
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: 'https://rp.example/jwks',
      }).success,
    ).toBe(true);
    expect(
      clientMetadataSchema.safeParse({
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: keys,
        jwks_uri: 'https://rp.example/jwks',
      }).success,
    ).toBe(false);
    expect(clientMetadataSchema.safeParse({ redirect_uris: ['https://rp.example/cb'], request_object_signing_alg: 'ES256' }).success).toBe(false);
    expect(clientMetadataSchema.safeParse({ redirect_uris: ['https://rp.example/cb'], request_object_signing_alg: 'none', jwks: keys }).success).toBe(false);
    expect(clientMetadataSchema.parse({ redirect_uris: ['https://rp.example/cb'] }).require_pushed_authorization_requests).toBe(false);
  });
});

describe('tenant registration setting', () => {
  const tenant = (oidc: Record<string, unknown> | undefined) => ({ oidc }) as unknown as Tenant;

  it('is closed by default', () => {
    expect(oidcSettingsSchema.parse({}).registration).toBe('closed');
    expect(oidcSettingsOf(tenant(undefined)).registration).toBe('closed');
  });

  it('drops the legacy openRegistration on read, whatever it says', () => {
    for (const openRegistration of [true, false]) {
      const settings = oidcSettingsOf(tenant({ openRegistration, accessTokenSeconds: 900 }));
      expect(settings).toMatchObject({ registration: 'closed', accessTokenSeconds: 900 });
      expect(settings).not.toHaveProperty('openRegistration');
    }
    expect(oidcSettingsOf(tenant({ openRegistration: true, registration: 'open' })).registration).toBe('open');
  });

  it('refuses the legacy field on write, naming its successor, and accepts the three modes', () => {
    const refused = tenantUpdateSchema.safeParse({ oidc: { openRegistration: true } });
    expect(refused.error?.issues[0]).toMatchObject({
      path: ['oidc', 'openRegistration'],
      message: 'replaced by registration: closed | open | initial-access-token',
    });
    for (const registration of ['closed', 'open', 'initial-access-token']) expect(tenantUpdateSchema.safeParse({ oidc: { registration } }).success).toBe(true);
    expect(tenantUpdateSchema.safeParse({ oidc: { registration: 'anyone' } }).success).toBe(false);
  });
});

describe('client metadata changes (admin PATCH, client update)', () => {
  it('replaces the members given, removes those set to null, keeps the rest and never the server-set members', () => {
    const stored = client({ client_name: 'Old', logo_uri: 'https://rp.example/logo.png' });
    const patched = patchedMetadata(stored, { client_name: 'New', logo_uri: null });
    expect(patched).toMatchObject({ client_name: 'New', redirect_uris: ['https://rp.example/cb'] });
    expect(patched).not.toHaveProperty('logo_uri');
    for (const member of ['client_id', 'tenant', 'first_party', 'registered_by', 'client_id_issued_at', 'version']) expect(patched).not.toHaveProperty(member);
    expect(() => patchedMetadata(stored, { first_party: true })).toThrow(/first_party: set by the server/);
    expect(() => patchedMetadata(stored, ['client_name'])).toThrow(/JSON object/);
  });
});
