import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS } from '../support/backends.ts';
import { startStackOn } from '../support/oidc-stack.ts';
import { cli, seedDataDir } from '../support/processes.ts';

interface AuditEvent {
  at: string;
  actor: { kind: string; id: string };
  via: string;
  action: string;
  target: Record<string, string>;
  outcome: number;
  requestId?: string;
}

/**
 * Issue 15, audit: every change through the admin API (its router guard) and the CLI (its command runner)
 * is one event in the tenant's trail, newest first, refused attempts included; reads are not; no body
 * (passwords, PINs) ever reaches it.
 */
describe.each(BACKENDS)('audit trail through the admin API (%s backend)', (backend) => {
  let stack: LocalStack;
  let adminAuth: string;
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.url}/t/demo/admin/v1${path}`, {
      method,
      headers: { Authorization: adminAuth, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  beforeAll(async () => {
    stack = await startStackOn(backend);
    adminAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
  });
  afterAll(async () => stack?.close());

  it('records who changed what, with the outcome, newest first, and never the body', async () => {
    const secret = 'Correct-Horse-9-battery';
    expect((await admin('POST', '/users', { username: 'audited', email: 'audited@example.com', password: secret })).status).toBe(201);
    expect((await admin('POST', '/users/audited/disable')).status).toBe(200);
    expect((await admin('POST', '/users/nobody/disable')).status).toBe(404);
    expect((await admin('GET', '/users/audited')).status).toBe(200);
    // Not authenticated: not a change anyone made (security events count these).
    expect((await fetch(`${stack.url}/t/demo/admin/v1/users/audited/enable`, { method: 'POST' })).status).toBe(401);

    const listed = await admin('GET', '/audit?limit=3');
    expect(listed.status).toBe(200);
    const page = (await listed.json()) as { events: AuditEvent[]; cursor?: string };
    expect(page.events.map((e) => [e.action, e.target, e.outcome])).toEqual([
      ['POST /users/:username/disable', { tenant: 'demo', username: 'nobody' }, 404],
      ['POST /users/:username/disable', { tenant: 'demo', username: 'audited' }, 200],
      ['POST /users', { tenant: 'demo' }, 201],
    ]);
    for (const event of page.events) {
      expect(event).toMatchObject({ actor: { kind: 'admin-client', id: stack.bootstrap.clientId }, via: 'admin-api', requestId: expect.any(String) });
      expect(Date.parse(event.at)).not.toBeNaN();
    }
    expect(JSON.stringify(page.events)).not.toContain(secret);

    // The next page continues where the first stopped (older events: the seeding of the stack, if any).
    if (page.cursor) {
      const next = (await (await admin('GET', `/audit?cursor=${encodeURIComponent(page.cursor)}`)).json()) as { events: AuditEvent[] };
      expect(next.events.map((e) => e.requestId)).not.toContain(page.events[0]!.requestId);
    }
    const bad = await admin('GET', '/audit?limit=0');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toMatch(/limit/);
  });

  it("keeps each tenant's trail apart", async () => {
    const created = await fetch(`${stack.url}/t/audit-other/admin/v1/tenant`, {
      method: 'POST',
      headers: { Authorization: adminAuth, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(created.status).toBe(201);
    expect((await admin('POST', '/users', { username: 'only-demo', email: 'only-demo@example.com' })).status).toBe(201);
    const other = await fetch(`${stack.url}/t/audit-other/admin/v1/audit`, { headers: { Authorization: adminAuth } });
    expect(other.status).toBe(200);
    expect(((await other.json()) as { events: AuditEvent[] }).events.map((e) => [e.action, e.target])).toEqual([['POST /tenant', { tenant: 'audit-other' }]]);
    const demo = (await (await admin('GET', '/audit?limit=1')).json()) as { events: AuditEvent[] };
    expect(demo.events[0]).toMatchObject({ action: 'POST /users', outcome: 201 });
  });
});

describe('audit trail through the operator CLI', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-audit-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };

  beforeAll(async () => {
    await seedDataDir(env);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('records changes with the operator and exit code, not reads, and lists them', async () => {
    expect((await cli(['user', 'add', 'demo', 'bob', '--email', 'bob@example.com'], env)).code).toBe(0);
    expect((await cli(['user', 'list', 'demo'], env)).code).toBe(0);
    const missing = await cli(['user', 'disable', 'demo', 'nobody'], env);
    expect(missing.code).toBe(3);
    expect((await cli(['admin', 'bootstrap', '--json'], env)).code).toBe(0);

    const events = (await cli(['audit', 'list', 'demo', '--json'], env)).json() as AuditEvent[];
    expect(events.slice(0, 2).map((e) => [e.action, e.target, e.outcome])).toEqual([
      ['cloudcard user disable', { tenant: 'demo', username: 'nobody' }, 3],
      ['cloudcard user add', { tenant: 'demo', username: 'bob' }, 0],
    ]);
    expect(events[0]).toMatchObject({ via: 'cli', actor: { kind: 'operator', id: expect.stringMatching(/@.+ \(local\)$/) } });
    expect(events.map((e) => e.action)).not.toContain('cloudcard user list');

    const platform = (await cli(['audit', 'list', '_platform', '--json'], env)).json() as AuditEvent[];
    expect(platform[0]).toMatchObject({ action: 'cloudcard admin bootstrap', outcome: 0, target: {} });

    const table = await cli(['audit', 'list', 'demo', '--limit', '1'], env);
    expect(table.stdout).toMatch(/^AT\s+ACTOR\s+VIA\s+ACTION\s+TARGET\s+OUTCOME\n.*cloudcard user disable\s+tenant=demo username=nobody\s+3\s*$/m);
  });
});
