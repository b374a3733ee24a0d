import { describe, expect, it } from '@jest/globals';
import { EXPORT_EXCLUDES, parseTenantExport } from '../../lambdas/core/directory/tenant-transfer.ts';

/** The export document's rules where they live: format, version, users checked as at creation. */
describe('tenant export documents', () => {
  const document = {
    format: 'cloudcard-tenant-export',
    version: 1,
    exportedAt: '2026-12-04T00:00:00.000Z',
    tenant: { displayName: 'Org' },
    users: [{ username: 'ann', email: 'ann@example.com', displayName: 'Ann', status: 'active' }],
    clients: [],
    serviceProviders: [],
    excluded: EXPORT_EXCLUDES,
  };

  it('takes a document of this format and version', () => {
    expect(parseTenantExport(document)).toMatchObject({ users: [{ username: 'ann' }] });
  });

  it('refuses another version or format, unknown members (a password hash smuggled in) and invalid users, naming them', () => {
    expect(() => parseTenantExport({ ...document, version: 2 })).toThrow(/invalid tenant export/);
    expect(() => parseTenantExport({ ...document, format: 'keycloak' })).toThrow(/invalid tenant export/);
    expect(() => parseTenantExport({ ...document, users: [{ ...document.users[0], passwordHash: 'scrypt$…' }] })).toThrow(/invalid tenant export/);
    expect(() => parseTenantExport({ ...document, users: [{ username: 'Bad Name', status: 'active' }] })).toThrow(/invalid user Bad Name/);
  });
});
