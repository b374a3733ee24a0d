import { describe, expect, it } from '@jest/globals';
import { AGENT_CLIENT_METADATA, clientMetadataSchema, entitledClient, operatorOnlyRequests, type OidcClient } from '../../lambdas/core/oidc/client.ts';
import { OAuthError } from '../../lambdas/core/oidc/errors.ts';
import { targetResource } from '../../lambdas/core/oidc/resources.ts';
import { ssoTransferKey } from '../../lambdas/core/oidc/sso-transfers.ts';
import { tenantTarget } from '../../lambdas/http/routes/oidc/sso-transfer.ts';
import { CONTEXT_NAMES } from '../../lambdas/contexts.ts';
import { GRANTS } from '../../lib/grants.ts';
import { globMatches } from '../support/iam-policy.ts';

/** Issue 13's PRT rules where they live: the client model, the RFC 8707 target rule, the SSO-transfer target rule. */
const PAYROLL = 'https://payroll.example.test/api';

const refusal = (run: () => unknown): string | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    return error instanceof OAuthError ? error.error : String(error);
  }
};

describe('the agent client', () => {
  it('always uses DPoP and takes Bearer access tokens: its refresh token alone is bound (RFC 9449 §5)', () => {
    expect(clientMetadataSchema.parse(AGENT_CLIENT_METADATA)).toMatchObject({
      token_endpoint_auth_method: 'none',
      dpop_bound_access_tokens: true,
      bearer_access_tokens: true,
      resources: [],
    });
  });

  it('refuses bearer_access_tokens without dpop_bound_access_tokens or on a confidential client', () => {
    const base = { redirect_uris: ['https://rp.example/cb'] };
    expect(clientMetadataSchema.safeParse({ ...base, token_endpoint_auth_method: 'none', bearer_access_tokens: true }).success).toBe(false);
    expect(clientMetadataSchema.safeParse({ ...base, dpop_bound_access_tokens: true, bearer_access_tokens: true }).success).toBe(false);
    expect(
      clientMetadataSchema.safeParse({ ...base, token_endpoint_auth_method: 'none', dpop_bound_access_tokens: true, bearer_access_tokens: true }).success,
    ).toBe(true);
  });
});

describe('RFC 8707 resources', () => {
  it('are absolute URIs without fragment (https, http only on loopback) in the client metadata', () => {
    const parse = (resources: string[]) => clientMetadataSchema.safeParse({ redirect_uris: ['https://rp.example/cb'], resources }).success;
    expect(parse([PAYROLL, 'http://127.0.0.1:8080/api'])).toBe(true);
    for (const bad of ['payroll/api', `${PAYROLL}#x`, 'http://payroll.example.test/api', 'ftp://payroll.example.test/']) expect(parse([bad])).toBe(false);
  });

  it('are the operator’s to set: a registration asking for them is refused, a registered client holds none', () => {
    expect(operatorOnlyRequests({ scope: 'openid', grant_types: ['authorization_code'], resources: [PAYROLL] }, 'registration')).toEqual(['resources']);
    expect(operatorOnlyRequests({ scope: 'openid', grant_types: ['authorization_code'], resources: [PAYROLL] }, 'admin')).toEqual([]);
    const forged = {
      ...clientMetadataSchema.parse({ redirect_uris: ['https://rp.example/cb'], resources: [PAYROLL] }),
      client_id: 'c1',
      tenant: 'demo',
      first_party: false,
      registered_by: 'registration',
      client_id_issued_at: 1,
      version: 1,
    } satisfies OidcClient;
    expect(entitledClient(forged).resources).toEqual([]);
  });

  it('a requested resource: none is the issuer; otherwise an allowed absolute URI, else invalid_target', () => {
    const client = { resources: [PAYROLL] };
    expect(targetResource(undefined, client)).toBeUndefined();
    expect(targetResource(PAYROLL, client)).toBe(PAYROLL);
    for (const bad of ['', 'payroll', `${PAYROLL}#frag`, 'https://other.example.test/api', `${PAYROLL}/more`])
      expect(refusal(() => targetResource(bad, client))).toBe('invalid_target');
    expect(refusal(() => targetResource(PAYROLL, {} as { resources: string[] }))).toBe('invalid_target');
  });
});

describe('the browser-SSO target', () => {
  const tenant = { issuer: 'https://id.example.test/t/acme' };
  it('stays within the tenant’s own URLs: no open redirect', () => {
    expect(tenantTarget(tenant, 'https://id.example.test/t/acme/oidc/authorize?client_id=x')).toBe('https://id.example.test/t/acme/oidc/authorize?client_id=x');
    for (const bad of [
      undefined,
      '',
      '/t/acme/portal/',
      'https://evil.example.test/t/acme/',
      'https://id.example.test/t/acmeother/',
      'https://id.example.test/t/other/portal/',
      'https://user:pw@id.example.test/t/acme/',
      'http://id.example.test/t/acme/',
      'https://id.example.test/t/acme/../other/',
      'javascript:alert(1)',
    ]) {
      expect(tenantTarget(tenant, bad)).toBeUndefined();
    }
  });
});

describe('the browser-SSO transfer items', () => {
  it('are written by the oidc function (issue) and the portal (redeem) only', () => {
    const partition = ssoTransferKey('sx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').PK;
    for (const context of CONTEXT_NAMES) {
      const writes = GRANTS[context].state.write.some((pattern) => globMatches(pattern, partition));
      expect({ context, writes }).toEqual({ context, writes: context === 'oidc' || context === 'portal' });
    }
  });
});
