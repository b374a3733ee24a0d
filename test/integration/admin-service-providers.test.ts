import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { SAML } from '@node-saml/node-saml';
import type { LocalStack } from '../../local/stack.ts';
import { startStackOn } from '../support/oidc-stack.ts';
import { spCredentials } from '../support/saml-sp.ts';

/**
 * SAML service providers through the tenant admin API: registration from metadata (raw XML or JSON with
 * options), list, show, remove, and the bad inputs, each with its problem response.
 */
describe('SAML service providers in the admin API', () => {
  let stack: LocalStack;
  let basicAuth: string;
  let metadata: string;
  const entityId = 'https://sp.admin.example.test/metadata';

  const call = async (method: string, path: string, body?: string, contentType = 'application/json') => {
    const response = await fetch(`${stack.url}/t/demo/admin/v1${path}`, {
      method,
      headers: { Authorization: basicAuth, ...(body === undefined ? {} : { 'Content-Type': contentType }) },
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as Record<string, any> };
  };

  beforeAll(async () => {
    stack = await startStackOn('embedded');
    basicAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    const credentials = await spCredentials('admin-sp');
    const sp = new SAML({
      entryPoint: `${stack.url}/t/demo/saml/sso`,
      issuer: entityId,
      callbackUrl: 'https://sp.admin.example.test/acs',
      idpCert: credentials.certPem,
      publicCert: credentials.certPem,
      privateKey: credentials.keyPem,
      audience: entityId,
    });
    metadata = sp.generateServiceProviderMetadata(null, credentials.certPem);
  });
  afterAll(async () => stack?.close());

  const id = createHash('sha1').update(entityId).digest('hex');

  it('registers an SP from raw metadata, shows, lists and removes it', async () => {
    const registered = await call('POST', '/service-providers', metadata, 'application/samlmetadata+xml');
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({ id, entityId });
    expect(registered.headers.get('location')).toBe(`${stack.url}/t/demo/admin/v1/service-providers/${id}`);
    expect((await call('GET', `/service-providers/${id}`)).body).toMatchObject({ id, entityId });
    expect(((await call('GET', '/service-providers')).body['serviceProviders'] as Array<{ id: string }>).map((sp) => sp.id)).toContain(id);
    expect((await call('POST', '/service-providers', metadata, 'application/samlmetadata+xml')).status).toBe(409);
    expect((await call('DELETE', `/service-providers/${id}`)).status).toBe(204);
    expect((await call('GET', `/service-providers/${id}`)).status).toBe(404);
    expect((await call('DELETE', `/service-providers/${id}`)).status).toBe(404);
  });

  it('registers with options given as JSON (signing choice, attribute map)', async () => {
    const registered = await call('POST', '/service-providers', JSON.stringify({ metadata, sign: 'assertion', attributes: ['email=email;friendly=mail'] }));
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({ id, signing: 'assertion', attributeMap: [{ name: 'email', field: 'email', friendlyName: 'mail' }] });
    expect((await call('DELETE', `/service-providers/${id}`)).status).toBe(204);
  });

  it('refuses bad registrations with a problem naming the reason', async () => {
    const cases: Array<[string | undefined, string, number, RegExp]> = [
      ['<EntityDescriptor', 'application/samlmetadata+xml', 400, /./],
      ['<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', 'application/samlmetadata+xml', 400, /./],
      ['', 'application/samlmetadata+xml', 400, /empty/],
      // Well-formed, but not what the metadata schema allows: an AssertionConsumerService without its index.
      [metadata.replace(/(<(?:md:)?AssertionConsumerService[^>]*?) index="\d+"/, '$1'), 'application/samlmetadata+xml', 400, /schema check/],
      // Expired metadata (SAML Metadata §2.3.1), on the entity or on its SP role.
      [
        metadata.replace(/<((?:md:)?EntityDescriptor) /, '<$1 validUntil="2020-01-01T00:00:00Z" '),
        'application/samlmetadata+xml',
        400,
        /metadata has expired: the EntityDescriptor is validUntil 2020-01-01T00:00:00Z/,
      ],
      [
        JSON.stringify({ metadata: metadata.replace(/<((?:md:)?SPSSODescriptor) /, '<$1 validUntil="2021-06-01T00:00:00Z" ') }),
        'application/json',
        400,
        /metadata has expired: the SPSSODescriptor is validUntil 2021-06-01T00:00:00Z/,
      ],
      [JSON.stringify({ metadata, sign: 'everything' }), 'application/json', 400, /sign/],
      [JSON.stringify({ metadata, attributes: ['no-equals-sign'] }), 'application/json', 400, /NAME=field/],
      [JSON.stringify({ metadata, extra: true }), 'application/json', 400, /unknown members: extra/],
      [JSON.stringify({}), 'application/json', 400, /metadata/],
      ['metadata', 'text/plain', 415, /samlmetadata/],
    ];
    for (const [body, type, status, detail] of cases) {
      const response = await call('POST', '/service-providers', body, type);
      expect({ type, status: response.status }).toEqual({ type, status });
      expect(String(response.body?.['detail'])).toMatch(detail);
    }
    // Nothing was registered by the refused ones; metadata valid for a while longer still registers.
    expect(((await call('GET', '/service-providers')).body['serviceProviders'] as Array<{ id: string }>).map((sp) => sp.id)).not.toContain(id);
    const later = await call(
      'POST',
      '/service-providers',
      metadata.replace(/<((?:md:)?EntityDescriptor) /, `<$1 validUntil="${new Date(Date.now() + 3_600_000).toISOString()}" `),
      'application/samlmetadata+xml',
    );
    expect(later.status).toBe(201);
    expect((await call('DELETE', `/service-providers/${id}`)).status).toBe(204);
    expect((await call('GET', '/service-providers/not-a-sha1')).status).toBe(404);
    const anonymous = await fetch(`${stack.url}/t/demo/admin/v1/service-providers`);
    expect(anonymous.status).toBe(401);
  });
});
