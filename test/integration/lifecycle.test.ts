import { Consents } from '../../lambdas/core/oidc/consents.ts';
import { Federations } from '../../lambdas/core/saml/federations.ts';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cardKeys, slotsOf, type CardItem } from '../../lambdas/core/cards/card-item.ts';
import type { EnrolResult } from '../../lambdas/core/cards/cards.ts';
import { certificateKeys, type CertificateRecord } from '../../lambdas/core/pki/registry.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS, testClock, type BackendName } from '../support/backends.ts';
import { postForm } from '../support/oidc-flows.ts';
import { startStackOn } from '../support/oidc-stack.ts';
import { cli, seedDataDir } from '../support/processes.ts';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION } from '../support/emulator.ts';
import { createKmsClient } from '../../lambdas/adapters/kms/client.ts';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { spCredentials } from '../support/saml-sp.ts';
import { SAML } from '@node-saml/node-saml';
import { createHash } from 'node:crypto';

/** Issue 15, lifecycle: the admin API's user show and delete, client update and secret rotation, SP update. */
describe.each(BACKENDS)('lifecycle through the admin API (%s backend)', (backend: BackendName) => {
  const clock = testClock();
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
    stack = await startStackOn(backend, { clock });
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

  describe('card delete', () => {
    it('destroys the keys before the card item goes, so a delete cut short is finished by running it again', async () => {
      expect((await call('POST', '/t/cardgone/admin/v1/tenant', { custody: 'kms-resident' })).status).toBe(201);
      expect((await call('POST', '/t/cardgone/admin/v1/users', { username: 'holder', email: 'holder@example.com' })).status).toBe(201);
      const enrolled = (await call('POST', '/t/cardgone/admin/v1/cards', { username: 'holder', slots: ['9a'], algorithm: 'p256' })).body as EnrolResult;
      const serial = enrolled.card.slots[0]!.certificate!.serialNumber;
      const keyId = (slotsOf((await stack.runtime.directory.get<CardItem>(cardKeys.card('cardgone', enrolled.card.id)))!)[0]![1].key as { keyId: string })
        .keyId;

      // A run cut short where it destroys the keys (KMS unreachable, the function timed out...).
      const real = stack.runtime.residentKeys!;
      const interrupted = new Proxy(real, {
        get: (target, name) =>
          name === 'destroy'
            ? async () => {
                throw new Error('interrupted');
              }
            : (Reflect.get(target, name) as unknown) instanceof Function
              ? (Reflect.get(target, name) as (...args: unknown[]) => unknown).bind(target)
              : Reflect.get(target, name),
      });
      await expect(directoryServices({ ...stack.runtime, residentKeys: interrupted }).cards!.delete('cardgone', enrolled.card.id)).rejects.toThrow(
        'interrupted',
      );
      // The card is still there for the re-run to find; its certificate already no longer stands.
      expect((await call('GET', `/t/cardgone/admin/v1/cards/${enrolled.card.id}`)).status).toBe(200);
      expect(await stack.runtime.directory.get<CertificateRecord>(certificateKeys.record('cardgone', serial))).toMatchObject({ status: 'revoked' });

      expect((await call('DELETE', `/t/cardgone/admin/v1/cards/${enrolled.card.id}`)).status).toBe(204);
      expect(await stack.runtime.directory.get(cardKeys.card('cardgone', enrolled.card.id))).toBeUndefined();
      if (backend === 'embedded') expect(await stack.runtime.directory.get({ PK: `RESIDENTKEY#${keyId}`, SK: 'RESIDENTKEY' })).toBeUndefined();
      else {
        const kms = createKmsClient({
          endpoint: process.env['CLOUDCARD_TEST_EMULATOR']!,
          region: process.env['AWS_REGION'] ?? EMULATOR_REGION,
          credentials: EMULATOR_CREDENTIALS,
        });
        try {
          expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState).toBe('PendingDeletion');
        } finally {
          kms.destroy();
        }
      }
      expect((await call('DELETE', `/t/cardgone/admin/v1/cards/${enrolled.card.id}`)).status).toBe(404);
    });
  });

  describe('bulk user import (CSV)', () => {
    const post = async (csv: string, type = 'text/csv') => {
      const response = await fetch(`${stack.url}/t/life/admin/v1/users/import`, {
        method: 'POST',
        headers: { Authorization: basicAuth, 'Content-Type': type },
        body: csv,
      });
      return { status: response.status, body: (await response.json()) as any };
    };

    it('creates the rows; a bad row refuses the file with every error and its line, nothing written; existing users are reported per line', async () => {
      const bad = await post('username,email,displayName\nimp-a,imp-a@example.com,A\nBad Name,,\nimp-c,not-an-address,C\nimp-a,,again\n');
      expect(bad.status).toBe(400);
      expect(bad.body.issues).toEqual([
        expect.stringMatching(/^line 3: username: must be/),
        expect.stringMatching(/^line 4: email: /),
        'line 5: username imp-a is on line 2 already',
      ]);
      expect((await call('GET', '/t/life/admin/v1/users/imp-a')).status).toBe(404);

      expect((await call('POST', '/t/life/admin/v1/users', { username: 'imp-b' })).status).toBe(201);
      const good = await post('displayName,username,email\n"Doe, Jane",imp-a,imp-a@example.com\nB,imp-b,\n"C ""the third""",imp-c,\n');
      expect(good.status).toBe(200);
      expect(good.body).toEqual({ created: 2, errors: [{ line: 3, message: 'user imp-b already exists in tenant life' }] });
      expect((await call('GET', '/t/life/admin/v1/users/imp-a')).body).toMatchObject({ displayName: 'Doe, Jane', email: 'imp-a@example.com' });
      expect((await call('GET', '/t/life/admin/v1/users/imp-c')).body).toMatchObject({ displayName: 'C "the third"' });
      expect((await post('username\nx', 'text/plain')).status).toBe(415);
      expect((await post('user,mail\nx,y')).body.issues).toEqual([expect.stringMatching(/^line 1: unknown column\(s\) user, mail/)]);
    });
  });

  describe('clients', () => {
    const token = (id: string, secret: string) =>
      postForm(
        `${stack.url}/t/life/oidc/token`,
        { grant_type: 'client_credentials', scope: 'profile' },
        { Authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
      );
    const make = async (metadata: Record<string, unknown>, origin: 'admin' | 'registration' = 'admin') =>
      directoryServices(stack.runtime).clients.create('life', metadata, origin);
    const webApp = {
      client_name: 'Web app',
      redirect_uris: ['https://rp.example.test/cb'],
      grant_types: ['authorization_code', 'client_credentials'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid profile',
    };

    it('updates metadata with PATCH (members given replace, null removes), validated like a new client; nothing written on a refusal', async () => {
      const { client } = await make(webApp);
      const path = `/t/life/admin/v1/clients/${client.client_id}`;
      const updated = await call('PATCH', path, {
        client_name: 'Renamed',
        redirect_uris: ['https://rp.example.test/cb2'],
        logo_uri: 'https://rp.example.test/logo.png',
      });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({
        client_id: client.client_id,
        client_name: 'Renamed',
        redirect_uris: ['https://rp.example.test/cb2'],
        logo_uri: 'https://rp.example.test/logo.png',
        scope: 'openid profile',
        version: 2,
      });
      expect((await call('PATCH', path, { logo_uri: null })).body.logo_uri).toBeUndefined();

      for (const [patch, pattern] of [
        [{ redirect_uris: null }, /redirect_uris/],
        [{ token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] }, /cannot switch between secret and no secret/],
        [{ client_id: 'other-id-123' }, /client_id: set by the server/],
        [{ colour: 'blue' }, /colour|unrecognized/i],
        [{ scope: 'openid admin' }, /admin scope is for client_credentials-only/],
      ] as const) {
        const refused = await call('PATCH', path, patch);
        expect(refused.status).toBe(400);
        expect(refused.body.error).toMatch(/^invalid_/);
        expect(`${refused.body.detail}`).toMatch(pattern);
      }
      expect((await call('GET', path)).body).toMatchObject({ client_name: 'Renamed', version: 3 });
      expect((await call('PATCH', '/t/life/admin/v1/clients/nosuchclient', { client_name: 'x' })).status).toBe(404);
    });

    it('keeps a registered client within what registration allows', async () => {
      const { client } = await make(
        { client_name: 'Registered', redirect_uris: ['https://rp.example.test/cb'], token_endpoint_auth_method: 'client_secret_basic' },
        'registration',
      );
      const refused = await call('PATCH', `/t/life/admin/v1/clients/${client.client_id}`, { grant_types: ['authorization_code', 'password'] });
      expect(refused.status).toBe(400);
      expect(refused.body.detail).toMatch(/only for clients the tenant's operator creates/);
    });

    it('rotates a secret: printed once, the old one valid for the grace period only; no grace ends it at once', async () => {
      const made = await make({ ...webApp, client_name: 'Rotating' });
      const id = made.client.client_id;
      const first = made.clientSecret!;
      expect((await token(id, first)).status).toBe(200);

      const rotated = await call('POST', `/t/life/admin/v1/clients/${id}/secret`, { graceSeconds: 600 });
      expect(rotated.status).toBe(200);
      expect(rotated.headers.get('cache-control')).toBe('no-store');
      const second = rotated.body.client_secret as string;
      expect(second).not.toBe(first);
      expect(Date.parse(rotated.body.previous_secret_expires_at)).toBeGreaterThan(clock.now());
      expect((await token(id, second)).status).toBe(200);
      expect((await token(id, first)).status).toBe(200);
      clock.advance(601);
      expect((await token(id, first)).status).toBe(401);
      expect((await token(id, second)).status).toBe(200);

      const third = (await call('POST', `/t/life/admin/v1/clients/${id}/secret`)).body.client_secret as string;
      expect((await token(id, second)).status).toBe(401);
      expect((await token(id, third)).status).toBe(200);
      // Nothing secret in storage: only hashes.
      expect(JSON.stringify(await stack.runtime.directory.get({ PK: 'T#life', SK: `CLIENT#${id}` }))).not.toContain(third);

      const tooLong = await call('POST', `/t/life/admin/v1/clients/${id}/secret`, { graceSeconds: 8 * 86_400 });
      expect(tooLong.status).toBe(400);
      const publicClient = await make({ client_name: 'SPA', redirect_uris: ['https://rp.example.test/cb'], token_endpoint_auth_method: 'none' });
      const none = await call('POST', `/t/life/admin/v1/clients/${publicClient.client.client_id}/secret`, {});
      expect(none.status).toBe(400);
      expect(none.body.detail).toMatch(/has no secret to rotate/);
    });
  });

  describe('service providers', () => {
    const entityId = 'https://sp.life.example.test/metadata';
    const id = createHash('sha1').update(entityId).digest('hex');
    const metadataFor = async (entity: string, acs: string) => {
      const credentials = await spCredentials(`life-${acs.length}`);
      return new SAML({
        entryPoint: `${stack.url}/t/life/saml/sso`,
        issuer: entity,
        callbackUrl: acs,
        idpCert: credentials.certPem,
        publicCert: credentials.certPem,
        privateKey: credentials.keyPem,
        audience: entity,
      }).generateServiceProviderMetadata(null, credentials.certPem);
    };
    const put = (path: string, xml: string) =>
      fetch(`${stack.url}${path}`, { method: 'PUT', headers: { Authorization: basicAuth, 'Content-Type': 'application/samlmetadata+xml' }, body: xml });

    it('deletes a user’s consents and SAML name-ID federations with the user: a new user of the same name inherits neither', async () => {
      const linkedSp = 'https://sp.links.example.test/metadata';
      expect(
        (await call('POST', '/t/life/admin/v1/service-providers', { metadata: await metadataFor(linkedSp, 'https://sp.links.example.test/acs') })).status,
      ).toBe(201);
      expect((await call('POST', '/t/life/admin/v1/users', { username: 'linked' })).status).toBe(201);
      const consents = new Consents(stack.runtime.directory);
      const federations = new Federations(stack.runtime.directory, stack.runtime.random);
      await consents.grant('life', 'linked', 'some-client', 'openid profile');
      const alias = await federations.aliasFor('life', linkedSp, 'linked', clock.now());
      expect(await consents.covers('life', 'linked', 'some-client', 'openid')).toBe(true);

      expect((await call('DELETE', '/t/life/admin/v1/users/linked')).status).toBe(204);
      expect(await consents.covers('life', 'linked', 'some-client', 'openid')).toBe(false);
      expect(await federations.find('life', linkedSp, 'linked')).toBeUndefined();
      expect(await federations.findByAlias('life', linkedSp, alias)).toBeUndefined();
      expect((await call('POST', '/t/life/admin/v1/users', { username: 'linked' })).status).toBe(201);
      expect(await federations.aliasFor('life', linkedSp, 'linked', clock.now())).not.toBe(alias);
    });

    it('replaces an SP’s metadata (PUT, checked as a registration), keeping its options; another entityID or bad metadata is refused, nothing written', async () => {
      const registered = await call('POST', '/t/life/admin/v1/service-providers', {
        metadata: await metadataFor(entityId, 'https://sp.life.example.test/acs'),
        sign: 'assertion',
      });
      expect(registered.status).toBe(201);
      const replaced = await put(`/t/life/admin/v1/service-providers/${id}`, await metadataFor(entityId, 'https://sp.life.example.test/acs-new'));
      expect(replaced.status).toBe(200);
      const body = (await replaced.json()) as { acs: { location: string }[]; signing: string; createdAt: string; updatedAt: string };
      expect(body.acs.map((a) => a.location)).toEqual(['https://sp.life.example.test/acs-new']);
      expect(body).toMatchObject({ signing: 'assertion', createdAt: registered.body.createdAt, updatedAt: expect.any(String) });

      const other = await put(`/t/life/admin/v1/service-providers/${id}`, await metadataFor('https://other.example.test/sp', 'https://other.example.test/acs'));
      expect(other.status).toBe(400);
      expect(((await other.json()) as { detail: string }).detail).toMatch(/is for https:\/\/other.example.test\/sp, not/);
      const broken = await put(`/t/life/admin/v1/service-providers/${id}`, '<EntityDescriptor/>');
      expect(broken.status).toBe(400);
      expect((await call('GET', `/t/life/admin/v1/service-providers/${id}`)).body.acs.map((a: { location: string }) => a.location)).toEqual([
        'https://sp.life.example.test/acs-new',
      ]);
      expect((await put(`/t/life/admin/v1/service-providers/${'0'.repeat(40)}`, await metadataFor(entityId, 'https://x.example.test/acs'))).status).toBe(404);
    });
  });

  describe('tenant export and import', () => {
    it('exports settings, users, clients and SPs without any secret; imports into a new tenant with the same client ids and new secrets; all or nothing', async () => {
      const password = 'Export-me-never-123';
      expect(
        (
          await call('POST', '/t/src/admin/v1/tenant', {
            displayName: 'Source Org',
            pinPolicy: { minLength: 6, maxLength: 8, retries: 5, pukRetries: 3, changeOnFirstUse: false },
          })
        ).status,
      ).toBe(201);
      expect((await call('POST', '/t/src/admin/v1/users', { username: 'eve', email: 'eve@example.com', password })).status).toBe(201);
      expect((await call('POST', '/t/src/admin/v1/users', { username: 'gone', displayName: 'Gone' })).status).toBe(201);
      expect((await call('POST', '/t/src/admin/v1/users/gone/disable')).status).toBe(200);
      const confidential = await directoryServices(stack.runtime).clients.create(
        'src',
        {
          client_name: 'Backend',
          redirect_uris: ['https://rp.example.test/cb'],
          grant_types: ['authorization_code', 'client_credentials'],
          scope: 'openid profile',
        },
        'admin',
      );
      const credentials = await spCredentials('export-sp');
      const entity = 'https://sp.export.example.test/metadata';
      const metadata = new SAML({
        entryPoint: `${stack.url}/t/src/saml/sso`,
        issuer: entity,
        callbackUrl: 'https://sp.export.example.test/acs',
        idpCert: credentials.certPem,
        publicCert: credentials.certPem,
        privateKey: credentials.keyPem,
        audience: entity,
      }).generateServiceProviderMetadata(null, credentials.certPem);
      expect((await call('POST', '/t/src/admin/v1/service-providers', { metadata, sign: 'assertion' })).status).toBe(201);

      const exported = await call('GET', '/t/src/admin/v1/tenant/export');
      expect(exported.status).toBe(200);
      const document = exported.body;
      expect(document).toMatchObject({ format: 'cloudcard-tenant-export', version: 1, tenant: { displayName: 'Source Org', pinPolicy: { retries: 5 } } });
      expect(document.users).toEqual([
        { username: 'eve', email: 'eve@example.com', displayName: 'eve', status: 'active' },
        { username: 'gone', displayName: 'Gone', status: 'disabled' },
      ]);
      const text = JSON.stringify(document);
      for (const secret of [password, confidential.clientSecret!, 'scrypt$', 'secretHash', 'passwordHash']) expect(text).not.toContain(secret);
      expect(document.excluded).toEqual(expect.arrayContaining([expect.stringMatching(/client secrets/)]));

      const imported = await call('POST', '/t/copy/admin/v1/tenant/import', document);
      expect(imported.status).toBe(201);
      expect(imported.headers.get('cache-control')).toBe('no-store');
      expect(imported.body).toMatchObject({
        tenant: 'copy',
        users: 2,
        serviceProviders: 1,
        clients: [{ client_id: confidential.client.client_id, client_secret: expect.stringMatching(/^cs_/) }],
      });
      expect((await call('GET', '/t/copy/admin/v1/tenant')).body).toMatchObject({ displayName: 'Source Org', pinPolicy: { retries: 5 } });
      expect((await call('GET', '/t/copy/admin/v1/users/gone')).body).toMatchObject({ status: 'disabled' });
      expect((await call('GET', `/t/copy/admin/v1/service-providers/${createHash('sha1').update(entity).digest('hex')}`)).body).toMatchObject({
        entityId: entity,
        signing: 'assertion',
      });
      const newSecret = imported.body.clients[0].client_secret as string;
      const basic = (secret: string) => ({ Authorization: `Basic ${Buffer.from(`${confidential.client.client_id}:${secret}`).toString('base64')}` });
      expect((await postForm(`${stack.url}/t/copy/oidc/token`, { grant_type: 'client_credentials', scope: 'profile' }, basic(newSecret))).status).toBe(200);
      expect(
        (await postForm(`${stack.url}/t/copy/oidc/token`, { grant_type: 'client_credentials', scope: 'profile' }, basic(confidential.clientSecret!))).status,
      ).toBe(401);

      // Never a merge; a bad document writes nothing; a part refused late removes the tenant made so far.
      expect((await call('POST', '/t/copy/admin/v1/tenant/import', document)).status).toBe(409);
      expect((await call('POST', '/t/copy2/admin/v1/tenant/import', { ...document, version: 2 })).status).toBe(400);
      expect((await call('POST', '/t/copy2/admin/v1/tenant/import', { ...document, users: [{ username: 'Bad Name', status: 'active' }] })).status).toBe(400);
      const late = await call('POST', '/t/copy2/admin/v1/tenant/import', { ...document, serviceProviders: [{ metadataXml: '<EntityDescriptor/>' }] });
      expect(late.status).toBe(400);
      expect((await call('GET', '/t/copy2/admin/v1/tenant')).status).toBe(404);
      expect((await stack.runtime.directory.query({ partition: 'T#copy2' })).items).toEqual([]);
    });
  });

  describe('tenant delete', () => {
    it('lists what would go with dryRun, then deletes everything (keys destroyed), finishing a partly done delete; the audit trail stays', async () => {
      expect((await call('POST', '/t/doomed/admin/v1/tenant', { custody: 'kms-resident' })).status).toBe(201);
      for (const username of ['ann', 'ben'])
        expect((await call('POST', '/t/doomed/admin/v1/users', { username, email: `${username}@example.com` })).status).toBe(201);
      const first = (await call('POST', '/t/doomed/admin/v1/cards', { username: 'ann', slots: ['9a', '9c'], algorithm: 'p256' })).body as EnrolResult;
      const second = (await call('POST', '/t/doomed/admin/v1/cards', { username: 'ben', slots: ['9a'], algorithm: 'p256' })).body as EnrolResult;
      await directoryServices(stack.runtime).clients.create('doomed', { client_name: 'Doomed app', redirect_uris: ['https://rp.example.test/cb'] }, 'admin');

      const dry = await call('DELETE', '/t/doomed/admin/v1/tenant?dryRun=true');
      expect(dry.status).toBe(200);
      expect(dry.body).toMatchObject({
        dryRun: true,
        tenant: 'doomed',
        users: 2,
        cards: 2,
        cardKeys: { kmsResident: 3, wrapped: 0 },
        authorityKeys: 2,
        clients: 1,
        serviceProviders: 0,
        kept: [expect.stringMatching(/audit trail/)],
      });
      expect(dry.body.items.directory).toBeGreaterThan(8);
      expect((await call('GET', '/t/doomed/admin/v1/tenant')).body).toMatchObject({ status: 'active' });
      expect((await call('DELETE', '/t/doomed/admin/v1/tenant?dryRun=maybe')).status).toBe(400);

      // A delete cut short after its first steps (tenant disabled, one card gone): the run finishes it.
      expect((await call('PATCH', '/t/doomed/admin/v1/tenant', { status: 'disabled' })).status).toBe(200);
      expect((await call('DELETE', `/t/doomed/admin/v1/cards/${first.card.id}`)).status).toBe(204);
      const caKey = (await stack.runtime.directory.get({ PK: 'CARDS#doomed', SK: 'CARDCA' }))!['keyId'] as string;
      const cardKey = (slotsOf((await stack.runtime.directory.get<CardItem>(cardKeys.card('doomed', second.card.id)))!)[0]![1].key as { keyId: string }).keyId;

      const deleted = await call('DELETE', '/t/doomed/admin/v1/tenant');
      expect(deleted.status).toBe(200);
      expect(deleted.body).toMatchObject({ dryRun: false, users: 2, cards: 1, clients: 1 });
      expect((await call('GET', '/t/doomed/admin/v1/tenant')).status).toBe(404);
      for (const partition of ['T#doomed', 'CARDS#doomed', 'CRL#doomed']) expect((await stack.runtime.directory.query({ partition })).items).toEqual([]);
      for (const keyId of [caKey, cardKey]) {
        // Local resident keys are directory items; KMS ones answer "pending deletion" to a second destroy, which is idempotent.
        if (backend === 'embedded') expect(await stack.runtime.directory.get({ PK: `RESIDENTKEY#${keyId}`, SK: 'RESIDENTKEY' })).toBeUndefined();
        else {
          const kms = createKmsClient({
            endpoint: process.env['CLOUDCARD_TEST_EMULATOR']!,
            region: process.env['AWS_REGION'] ?? EMULATOR_REGION,
            credentials: EMULATOR_CREDENTIALS,
          });
          try {
            expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState).toBe('PendingDeletion');
          } finally {
            kms.destroy();
          }
          await stack.runtime.residentKeys!.destroy(keyId);
        }
      }
      expect((await call('DELETE', '/t/doomed/admin/v1/tenant')).status).toBe(404);
      // The e-mail index of the tenant is empty; the tenant's trail records the deletion.
      expect(await directoryServices(stack.runtime).users.withEmail('doomed', 'ann@example.com')).toEqual([]);
      const trail = await directoryServices(stack.runtime).audit!.list('doomed', { limit: 2 });
      expect(trail.events.map((e) => [e.action, e.outcome])).toEqual([
        ['DELETE /tenant', 404],
        ['DELETE /tenant', 200],
      ]);
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

  it('client update (validated like a new client) and client rotate-secret (printed once, with a grace period)', async () => {
    const added = (
      await cli(['client', 'add', 'demo', '--name', 'CLI app', '--redirect-uri', 'https://rp.example.test/cb', '--grant', 'authorization_code', '--json'], env)
    ).json() as { client_id: string; client_secret: string };
    const updated = await cli(
      ['client', 'update', 'demo', added.client_id, '--name', 'Renamed app', '--redirect-uri', 'https://rp.example.test/cb2', '--json'],
      env,
    );
    expect(updated.json()).toMatchObject({
      client_id: added.client_id,
      client_name: 'Renamed app',
      redirect_uris: ['https://rp.example.test/cb2'],
      version: 2,
    });
    const refused = await cli(['client', 'update', 'demo', added.client_id, '--redirect-uri', 'not a uri'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^cloudcard: .*redirect_uris/);
    expect((await cli(['client', 'update', 'demo', added.client_id], env)).stderr).toMatch(/nothing to change/);
    expect((await cli(['client', 'update', 'demo', 'nosuchclient1', '--name', 'x'], env)).code).toBe(3);

    const rotated = await cli(['client', 'rotate-secret', 'demo', added.client_id, '--grace', '1h', '--json'], env);
    const answer = rotated.json() as { client_secret: string; previous_secret_expires_at: string };
    expect(answer.client_secret).toMatch(/^cs_/);
    expect(answer.client_secret).not.toBe(added.client_secret);
    expect(Date.parse(answer.previous_secret_expires_at) - Date.now()).toBeGreaterThan(3_000_000);
    const table = await cli(['client', 'rotate-secret', 'demo', added.client_id], env);
    expect(table.stdout).toMatch(/^new client secret \(shown once, stored only as a hash\): cs_\S+\nthe old secret no longer works\n$/);
    expect((await cli(['client', 'rotate-secret', 'demo', added.client_id, '--grace', '8d'], env)).code).toBe(2);
  });

  it('sp update replaces the metadata of a registered SP', async () => {
    const entityId = 'https://sp.cli-life.example.test/metadata';
    const credentials = await spCredentials('cli-life');
    const metadata = (acs: string) =>
      new SAML({
        entryPoint: 'https://idp.example.test/sso',
        issuer: entityId,
        callbackUrl: acs,
        idpCert: credentials.certPem,
        publicCert: credentials.certPem,
        privateKey: credentials.keyPem,
        audience: entityId,
      }).generateServiceProviderMetadata(null, credentials.certPem);
    const first = join(dataDir, 'sp-1.xml');
    const second = join(dataDir, 'sp-2.xml');
    writeFileSync(first, metadata('https://sp.cli-life.example.test/acs'));
    writeFileSync(second, metadata('https://sp.cli-life.example.test/acs2'));
    expect((await cli(['sp', 'add', 'demo', '--metadata', first], env)).code).toBe(0);
    const updated = await cli(['sp', 'update', 'demo', entityId, '--metadata', second, '--json'], env);
    expect(updated.json()).toMatchObject({ entityId, acs: [{ location: 'https://sp.cli-life.example.test/acs2' }] });
    expect((await cli(['sp', 'update', 'demo', 'https://unknown.example.test/sp', '--metadata', second], env)).code).toBe(3);
  });

  it('user import from a CSV file: per-row errors with line numbers, exit 2 and nothing written for a bad file; exit 4 when some users existed', async () => {
    const bad = join(dataDir, 'bad.csv');
    writeFileSync(bad, 'username,email\ncsv-a,csv-a@example.com\ncsv-b,nope\n');
    const refused = await cli(['user', 'import', 'demo', bad], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^cloudcard: 1 invalid row\(s\): nothing was imported\n {2}line 3: email: .+\n$/);
    expect((await cli(['user', 'show', 'demo', 'csv-a'], env)).code).toBe(3);

    const good = join(dataDir, 'good.csv');
    writeFileSync(good, 'username,email\ncsv-a,csv-a@example.com\nalice,\n');
    const partly = await cli(['user', 'import', 'demo', good], env);
    expect(partly.code).toBe(4);
    expect(partly.stdout).toBe('created 1 user(s) in tenant demo\nline 3: user alice already exists in tenant demo\n');
    expect((await cli(['user', 'show', 'demo', 'csv-a', '--json'], env)).json()).toMatchObject({ email: 'csv-a@example.com' });
    const events = (await cli(['audit', 'list', 'demo', '--limit', '1', '--json'], env)).json() as { action: string; outcome: number }[];
    expect(events[0]).toMatchObject({ action: 'cloudcard user import', outcome: 4 });
  });

  it('tenant export and tenant import through files', async () => {
    const exported = await cli(['tenant', 'export', 'demo'], env);
    expect(exported.code).toBe(0);
    expect(exported.json()).toMatchObject({ format: 'cloudcard-tenant-export', version: 1 });
    const file = join(dataDir, 'demo-export.json');
    writeFileSync(file, exported.stdout);
    const imported = await cli(['tenant', 'import', 'demo-copy', file], env);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/^imported tenant demo-copy: \d+ user\(s\), \d+ client\(s\), \d+ service provider\(s\)\n/);
    expect((await cli(['user', 'show', 'demo-copy', 'alice', '--json'], env)).json()).toMatchObject({ username: 'alice' });
    expect((await cli(['tenant', 'import', 'demo-copy', file], env)).code).toBe(4);
    writeFileSync(file, 'not json');
    expect((await cli(['tenant', 'import', 'demo-copy2', file], env)).code).toBe(2);
  });
});
