import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cardKeys } from '../../lambdas/core/cards/card-item.ts';
import type { EnrolResult } from '../../lambdas/core/cards/cards.ts';
import { certificateKeys, type CertificateRecord } from '../../lambdas/core/pki/registry.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS, type BackendName } from '../support/backends.ts';
import { startStackOn } from '../support/oidc-stack.ts';
import { cli, seedDataDir } from '../support/processes.ts';

/** Issue 15, lifecycle: the admin API's user show and delete, client update and secret rotation, SP update. */
describe.each(BACKENDS)('lifecycle through the admin API (%s backend)', (backend: BackendName) => {
  let stack: LocalStack;
  let basicAuth: string;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${stack.url}${path}`, {
      method,
      headers: { Authorization: basicAuth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as any };
  };

  beforeAll(async () => {
    stack = await startStackOn(backend);
    basicAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    expect((await call('POST', '/t/life/admin/v1/tenant', { custody: 'wrapped' })).status).toBe(201);
  });
  afterAll(async () => stack?.close());

  describe('users', () => {
    it('shows a user with their cards and devices', async () => {
      expect((await call('POST', '/t/life/admin/v1/users', { username: 'shown', email: 'shown@example.com' })).status).toBe(201);
      const enrolled = (await call('POST', '/t/life/admin/v1/cards', { username: 'shown', slots: ['9a'], algorithm: 'p256' })).body as EnrolResult;
      const shown = await call('GET', '/t/life/admin/v1/users/shown');
      expect(shown.status).toBe(200);
      expect(shown.body).toMatchObject({ username: 'shown', email: 'shown@example.com', status: 'active', devices: [] });
      expect(shown.body.cards.map((c: { id: string }) => c.id)).toEqual([enrolled.card.id]);
    });

    it('deletes a user: cards deleted with their certificates revoked, username and e-mail freed; a missing user is a 404', async () => {
      expect((await call('POST', '/t/life/admin/v1/users', { username: 'leaver', email: 'leaver@example.com' })).status).toBe(201);
      const enrolled = (await call('POST', '/t/life/admin/v1/cards', { username: 'leaver', slots: ['9a'], algorithm: 'p256' })).body as EnrolResult;
      const serial = enrolled.card.slots[0]!.certificate!.serialNumber;

      const deleted = await call('DELETE', '/t/life/admin/v1/users/leaver');
      expect(deleted.status).toBe(204);
      expect((await call('GET', '/t/life/admin/v1/users/leaver')).status).toBe(404);
      expect(await stack.runtime.directory.get(cardKeys.card('life', enrolled.card.id))).toBeUndefined();
      const record = await stack.runtime.directory.get<CertificateRecord>(certificateKeys.record('life', serial));
      expect(record).toMatchObject({ status: 'revoked', reason: 'cessationOfOperation' });

      // The username and the e-mail address are free again; the new user inherits nothing.
      expect((await call('POST', '/t/life/admin/v1/users', { username: 'leaver', email: 'leaver@example.com' })).status).toBe(201);
      expect((await call('GET', '/t/life/admin/v1/users/leaver')).body).toMatchObject({ status: 'active', cards: [], devices: [] });
      expect((await directoryServices(stack.runtime).users.withEmail('life', 'leaver@example.com')).map((u) => u.username)).toEqual(['leaver']);

      const missing = await call('DELETE', '/t/life/admin/v1/users/nobody');
      expect(missing.status).toBe(404);
      expect(missing.body.detail).toBe('user nobody does not exist in tenant life');
      const audit = (await call('GET', '/t/life/admin/v1/audit?limit=1')).body as { events: { action: string; outcome: number }[] };
      expect(audit.events[0]).toMatchObject({ action: 'DELETE /users/:username', outcome: 404 });
    });
  });
});

describe('lifecycle through the operator CLI', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-life-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };

  beforeAll(async () => {
    await seedDataDir(env);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('user show and user delete; deleting a missing user exits 3 with a JSON error under --json', async () => {
    expect((await cli(['user', 'add', 'demo', 'gone', '--email', 'gone@example.com'], env)).code).toBe(0);
    const shown = await cli(['user', 'show', 'demo', 'gone', '--json'], env);
    expect(shown.code).toBe(0);
    expect(shown.json()).toMatchObject({ username: 'gone', email: 'gone@example.com', cards: [], devices: [] });
    const table = await cli(['user', 'show', 'demo', 'gone'], env);
    expect(table.stdout).toMatch(/^USERNAME\s+EMAIL/m);
    expect(table.stdout).toContain('cards (0):');

    const deleted = await cli(['user', 'delete', 'demo', 'gone', '--json'], env);
    expect(deleted.code).toBe(0);
    expect(deleted.json()).toEqual({ tenant: 'demo', username: 'gone', deleted: true, cards: 0, devices: 0 });
    const again = await cli(['user', 'delete', 'demo', 'gone', '--json'], env);
    expect(again.code).toBe(3);
    expect(JSON.parse(again.stderr)).toMatchObject({ error: { code: 'notFound', exitCode: 3, message: 'user gone does not exist in tenant demo' } });
    expect((await cli(['user', 'show', 'demo', 'gone'], env)).code).toBe(3);

    const events = (await cli(['audit', 'list', 'demo', '--json'], env)).json() as { action: string; outcome: number }[];
    expect(events.slice(0, 2).map((e) => [e.action, e.outcome])).toEqual([
      ['cloudcard user delete', 3],
      ['cloudcard user delete', 0],
    ]);
  });
});
