import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID, X509Certificate } from 'node:crypto';
import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeKeyCommand, ListResourceTagsCommand, type KMSClient } from '@aws-sdk/client-kms';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createHash } from 'node:crypto';
import { createDynamoClient } from '../../lambdas/adapters/dynamodb/client.ts';
import { createKmsClient } from '../../lambdas/adapters/kms/client.ts';
import { certificateOf } from '../../lambdas/core/cards/card-objects.ts';
import { cardKeys, objectsOf, slotsOf, type CardItem } from '../../lambdas/core/cards/card-item.ts';
import type { CardSummary, EnrolResult } from '../../lambdas/core/cards/cards.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { Item } from '../../lambdas/ports.ts';
import type { LocalStack } from '../../local/stack.ts';
import { embeddedStoreClient } from '../../local/embedded-store.ts';
import { BACKENDS, testClock, type BackendName } from '../support/backends.ts';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION } from '../support/emulator.ts';
import { postForm } from '../support/oidc-flows.ts';
import { startStackOn } from '../support/oidc-stack.ts';

type Problem = { type: string; title: string; status: number; detail: string; issues?: string[]; error?: string };

const EKU = {
  clientAuth: '1.3.6.1.5.5.7.3.2',
  smartcardLogon: '1.3.6.1.4.1.311.20.2.2',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  pivCardAuth: '2.16.840.1.101.3.6.8',
};

/** PKCS#8 PrivateKeyInfo openings: version 0 then the RSA or EC algorithm identifier. */
const PKCS8_HEADERS = {
  rsa: Buffer.from('020100300d06092a864886f70d0101010500', 'hex'),
  ec: Buffer.from('020100301306072a8648ce3d0201', 'hex'),
};
/** An EC SubjectPublicKeyInfo opening: what a stored public key looks like (the scan's positive control). */
const EC_SPKI_HEADER = Buffer.from('301306072a8648ce3d0201', 'hex');

/**
 * Card administration over HTTP, on the embedded store with local custody and on the AWS emulator
 * (DynamoDB, KMS key-encryption key, KMS-resident card and CA keys through KmsResidentKeys), and tenant
 * admin authentication by the tenant's own access tokens with the `admin` scope.
 */
describe.each(BACKENDS)('card administration on the %s backend', (backend: BackendName) => {
  const clock = testClock();
  let stack: LocalStack;
  let basicAuth: string;
  let dynamo: DynamoDBClient;
  let kms: KMSClient | undefined;
  const oneTime: string[] = [];

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${stack.url}${path}`, {
      method,
      headers: { Authorization: basicAuth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as any };
  };
  const enrol = async (tenant: string, body: Record<string, unknown>): Promise<EnrolResult> => {
    const response = await call('POST', `/t/${tenant}/admin/v1/cards`, body);
    if (response.status !== 201) throw new Error(`enrol: ${response.status} ${JSON.stringify(response.body)}`);
    const result = response.body as EnrolResult;
    oneTime.push(result.pin, result.puk, result.managementKey.hex);
    return result;
  };
  const rawCard = (tenant: string, id: string) => stack.runtime.directory.get<CardItem>(cardKeys.card(tenant, id));
  const caCertificate = async (tenant: string): Promise<X509Certificate> => {
    const item = await stack.runtime.directory.get<Item & { certificatePem: string }>({ PK: `CARDS#${tenant}`, SK: 'CARDCA' });
    return new X509Certificate(item!.certificatePem);
  };

  /** Audit lines the admin context wrote (kept off the test output). */
  const auditLines: Record<string, unknown>[] = [];
  const stdoutWrite = process.stdout.write.bind(process.stdout);

  beforeAll(async () => {
    // The audit logger takes its level from the environment (the tests' default is SILENT): let it speak,
    // while the request loggers stay silent (startStackOn sets their level explicitly).
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = String(chunk);
      if (!text.includes('"cloudcard-admin-audit"')) return (stdoutWrite as (...args: unknown[]) => boolean)(chunk, ...rest);
      for (const line of text.split('\n').filter(Boolean)) auditLines.push(JSON.parse(line) as Record<string, unknown>);
      return true;
    }) as typeof process.stdout.write;
    const level = process.env['POWERTOOLS_LOG_LEVEL'];
    process.env['POWERTOOLS_LOG_LEVEL'] = 'INFO';
    try {
      stack = await startStackOn(backend, { clock });
    } finally {
      process.env['POWERTOOLS_LOG_LEVEL'] = level;
    }
    basicAuth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
    const endpoint = process.env['CLOUDCARD_TEST_EMULATOR']!;
    const region = process.env['AWS_REGION'] ?? EMULATOR_REGION;
    dynamo = backend === 'embedded' ? embeddedStoreClient(stack.storeSocket) : createDynamoClient({ endpoint, region, credentials: EMULATOR_CREDENTIALS });
    if (backend === 'emulator') kms = createKmsClient({ endpoint, region, credentials: EMULATOR_CREDENTIALS });
    for (const [id, body] of [
      // Registration open on `wrap`: the admin-scope case below registers clients there.
      ['wrap', { custody: 'wrapped', cards: { allowedAlgorithms: ['rsa2048', 'p256'], defaultAlgorithm: 'p256' }, oidc: { registration: 'open' } }],
      ['resident', { custody: 'kms-resident' }],
      ['other', {}],
    ] as const) {
      expect((await call('POST', `/t/${id}/admin/v1/tenant`, body)).status).toBe(201);
      expect((await call('POST', `/t/${id}/admin/v1/users`, { username: 'alice', email: 'alice@example.com', displayName: 'Alice Example' })).status).toBe(201);
    }
    expect((await call('POST', '/t/wrap/admin/v1/users', { username: 'bob', displayName: 'Bob' })).status).toBe(201);
  });
  afterAll(async () => {
    process.stdout.write = stdoutWrite;
    dynamo?.destroy();
    kms?.destroy();
    await stack?.close();
  });

  describe('enrolment', () => {
    let wrapped: EnrolResult;
    let resident: EnrolResult;

    beforeAll(async () => {
      wrapped = await enrol('wrap', { username: 'alice', slotAlgorithms: { '9a': 'rsa2048' }, label: 'Alice laptop' });
      resident = await enrol('resident', { username: 'alice', slots: ['9a', '9c', '9d', '9e'], algorithm: 'p256', pin: '13572468', puk: '97531864' });
    });

    it('under KMS-resident custody: an RSA tenant default becomes P-256, an explicit RSA slot needs residentRsa "pkcs1-only" and comes with a warning', async () => {
      // The resident tenant has the default card settings: rsa2048 default, every algorithm allowed.
      const defaulted = await enrol('resident', { username: 'alice', slots: ['9a', '9e'] });
      expect(defaulted.card.slots.map((s) => `${s.slot}:${s.algorithm}`)).toEqual(['9a:p256', '9e:p256']);
      expect(defaulted.warnings).toBeUndefined();
      const refused = await call('POST', '/t/resident/admin/v1/cards', { username: 'alice', slots: ['9a'], algorithm: 'rsa2048' });
      expect(refused.status).toBe(400);
      expect(JSON.stringify(refused.body)).toMatch(/slot 9a: KMS-resident RSA keys sign PKCS#1 v1.5 blocks only: RSA-PSS \(TLS 1.3/);
      expect(JSON.stringify(refused.body)).toContain('residentRsa');
      const accepted = await enrol('resident', { username: 'alice', slots: ['9a'], algorithm: 'rsa2048', residentRsa: 'pkcs1-only' });
      expect(accepted.card.slots.map((s) => `${s.slot}:${s.algorithm}`)).toEqual(['9a:rsa2048']);
      expect(accepted.warnings).toEqual([expect.stringContaining('RSA-PSS')]);
      // Wrapped custody serves PSS: no acknowledgement, no warning.
      const wrappedRsa = await enrol('wrap', { username: 'bob', slots: ['9a'], algorithm: 'rsa2048' });
      expect(wrappedRsa.warnings).toBeUndefined();
      for (const [tenant, id] of [
        ['resident', defaulted.card.id],
        ['resident', accepted.card.id],
        ['wrap', wrappedRsa.card.id],
      ])
        expect((await call('DELETE', `/t/${tenant}/admin/v1/cards/${id}`)).status).toBe(204);
    });

    it('answers 201 with the card, its location and the one-time PIN, PUK and management key, never cached', async () => {
      const response = await call('POST', '/t/wrap/admin/v1/cards', { username: 'bob', slots: ['9a'], pin: '11223344', puk: 'p-u-k-1' });
      expect(response.status).toBe(201);
      oneTime.push(response.body.pin, response.body.puk, response.body.managementKey.hex);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('location')).toBe(`${stack.url}/t/wrap/admin/v1/cards/${response.body.card.id}`);
      expect(response.body).toMatchObject({
        pin: '11223344',
        puk: 'p-u-k-1',
        managementKey: { algorithm: 'aes192', hex: expect.stringMatching(/^[0-9a-f]{48}$/) },
        card: { tenant: 'wrap', username: 'bob', custody: 'wrapped', connected: false, pin: { remaining: 3, maxTries: 3, blocked: false, mustChange: false } },
      });
      expect(response.body.card.slots).toEqual([
        { slot: '9a', algorithm: 'p256', origin: 'generated', certificate: expect.objectContaining({ subject: expect.stringContaining('CN=Bob') }) },
      ]);
    });

    it('makes a wrapped card with the tenant defaults and generated secrets (PIN change required)', () => {
      expect(wrapped.card).toMatchObject({ tenant: 'wrap', username: 'alice', label: 'Alice laptop', custody: 'wrapped', pin: { mustChange: true } });
      expect(wrapped.pin).toMatch(/^\d{6}$/);
      expect(wrapped.puk).toMatch(/^\d{8}$/);
      expect(wrapped.card.slots.map((s) => `${s.slot}:${s.algorithm}`)).toEqual(['9a:rsa2048', '9c:p256', '9d:p256', '9e:p256']);
      // Named after the card (the token label OpenSC shows), the holder by UID.
      for (const slot of wrapped.card.slots) expect(slot.certificate!.subject).toBe(`CN=Alice laptop (${wrapped.card.id.slice(0, 6)}), UID=alice, O=wrap`);
    });

    it('makes a KMS-resident card whose keys live in the resident custody', async () => {
      expect(resident.card).toMatchObject({ custody: 'kms-resident', pin: { mustChange: false } });
      const item = (await rawCard('resident', resident.card.id))!;
      for (const [, stored] of slotsOf(item)) {
        expect(stored.key.custody).toBe('kms-resident');
        const keyId = (stored.key as { keyId: string }).keyId;
        if (kms) {
          // A real KMS key (on the emulator), tagged for the stack, enabled.
          const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
          expect(described.KeyMetadata).toMatchObject({ KeyState: 'Enabled', KeySpec: 'ECC_NIST_P256' });
        } else {
          expect(keyId).toMatch(/^local-resident-/);
        }
      }
      const usages = kms
        ? await Promise.all(
            slotsOf(item).map(
              async ([slot, s]) => `${slot}:${(await kms!.send(new DescribeKeyCommand({ KeyId: (s.key as { keyId: string }).keyId }))).KeyMetadata!.KeyUsage}`,
            ),
          )
        : [];
      if (kms) {
        expect(usages).toEqual(['9a:SIGN_VERIFY', '9c:SIGN_VERIFY', '9d:KEY_AGREEMENT', '9e:SIGN_VERIFY']);
        // Exactly the tags the stack's IAM conditions name (lib/keys.ts grantResidentKeys).
        const [, first] = slotsOf(item)[0]!;
        const tags = await kms.send(new ListResourceTagsCommand({ KeyId: (first.key as { keyId: string }).keyId }));
        expect(Object.fromEntries((tags.Tags ?? []).map((t) => [t.TagKey, t.TagValue]))).toEqual({
          'cloudcard:stack': `cloudcard-${stack.config.stage}`,
          'cloudcard:tenant': 'resident',
          'cloudcard:purpose': 'card-key', // what the IAM purpose conditions match (card: sign; admin: never)
        });
      }
    });

    it.each([
      ['wrap', () => wrapped],
      ['resident', () => resident],
    ])('issues %s certificates that chain to the tenant CA, with the slot EKU and the holder SANs', async (tenant, result) => {
      const enrolled = result();
      const ca = await caCertificate(tenant);
      expect(ca.ca).toBe(true);
      expect(ca.subject).toContain(`CN=${tenant} card CA`);
      const item = (await rawCard(tenant, enrolled.card.id))!;
      const objects = objectsOf(item);
      const certificates = Object.fromEntries(slotsOf(item).map(([slot]) => [slot, new X509Certificate(Buffer.from(certificateOf(objects, slot)!))]));
      for (const [slot, certificate] of Object.entries(certificates)) {
        expect({ slot, verifies: certificate.verify(ca.publicKey), issued: certificate.checkIssued(ca) }).toEqual({ slot, verifies: true, issued: true });
        expect(certificate.ca).toBe(false);
        // The certificate certifies the slot's stored public key.
        const stored = slotsOf(item).find(([s]) => s === slot)![1];
        expect(certificate.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')).toBe(stored.publicKey);
        expect(certificate.subjectAltName).toContain('email:alice@example.com');
        expect(certificate.subjectAltName).toContain(`alice@${tenant}`); // the UPN other-name
        expect(certificate.serialNumber).toBe(enrolled.card.slots.find((s) => s.slot === slot)!.certificate!.serialNumber);
      }
      expect(certificates['9a']!.keyUsage).toEqual(expect.arrayContaining([EKU.clientAuth, EKU.smartcardLogon]));
      expect(certificates['9c']!.keyUsage).toContain(EKU.emailProtection);
      // clientAuth too, so that NSS browsers offer it for TLS client authentication (see cert-login-chromium-pcsc).
      expect(certificates['9e']!.keyUsage).toEqual([EKU.pivCardAuth, EKU.clientAuth]);
      expect(certificates['9a']!.keyUsage).not.toContain(EKU.pivCardAuth);
    });

    it('lists the tenant’s cards, one user’s cards, and shows one card', async () => {
      const all = await call('GET', '/t/wrap/admin/v1/cards');
      expect(all.status).toBe(200);
      const ids = (all.body.cards as CardSummary[]).map((c) => c.id);
      expect(ids).toContain(wrapped.card.id);
      expect(ids.length).toBeGreaterThanOrEqual(2);
      const alices = await call('GET', '/t/wrap/admin/v1/cards?username=alice');
      expect((alices.body.cards as CardSummary[]).map((c) => c.id)).toEqual([wrapped.card.id]);
      expect((await call('GET', '/t/wrap/admin/v1/cards?username=nobody')).body).toEqual({ cards: [] });
      // Pages of `limit` cards, followed by `cursor`, cover the same cards once; a bad limit is a 400 problem.
      const first = await call('GET', '/t/wrap/admin/v1/cards?limit=1');
      expect(first.body.cards as CardSummary[]).toHaveLength(1);
      const paged = [...(first.body.cards as CardSummary[])];
      for (let cursor = first.body.cursor as string | undefined; cursor;) {
        const next = await call('GET', `/t/wrap/admin/v1/cards?limit=1&cursor=${encodeURIComponent(cursor)}`);
        paged.push(...(next.body.cards as CardSummary[]));
        cursor = next.body.cursor as string | undefined;
      }
      expect(paged.map((c) => c.id)).toEqual(ids);
      for (const limit of ['0', '1001', 'ten', '1e2'])
        expect(await call('GET', `/t/wrap/admin/v1/cards?limit=${limit}`)).toMatchObject({
          status: 400,
          body: { detail: 'limit must be an integer from 1 to 1000' },
        });
      const shown = await call('GET', `/t/wrap/admin/v1/cards/${wrapped.card.id}`);
      expect(shown.status).toBe(200);
      expect(shown.body).toEqual(wrapped.card);
      // Reading never shows a secret, hash or key record.
      expect(JSON.stringify(shown.body)).not.toMatch(/pinHash|pukHash|managementKey|"key"|"blob"|publicKey/);
    });

    it('disconnects a card: its active session ends', async () => {
      await stack.runtime.directory.update(cardKeys.card('wrap', wrapped.card.id), { activeSession: 'session-1' });
      expect((await call('GET', `/t/wrap/admin/v1/cards/${wrapped.card.id}`)).body.connected).toBe(true);
      const response = await call('POST', `/t/wrap/admin/v1/cards/${wrapped.card.id}/disconnect`);
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ id: wrapped.card.id, connected: false });
      expect((await rawCard('wrap', wrapped.card.id))!.activeSession ?? null).toBeNull();
    });

    it('unblocks a blocked card with a given PIN or a generated one, shown once', async () => {
      await stack.runtime.directory.update(cardKeys.card('wrap', wrapped.card.id), { pinRemaining: 0 });
      expect((await call('GET', `/t/wrap/admin/v1/cards/${wrapped.card.id}`)).body.pin).toMatchObject({ remaining: 0, blocked: true });
      const given = await call('POST', `/t/wrap/admin/v1/cards/${wrapped.card.id}/unblock`, { pin: '86420135' });
      expect(given.status).toBe(200);
      expect(given.headers.get('cache-control')).toBe('no-store');
      expect(given.body).toMatchObject({ pin: '86420135', card: { pin: { remaining: 3, blocked: false, mustChange: true } } });
      const generated = await call('POST', `/t/wrap/admin/v1/cards/${wrapped.card.id}/unblock`);
      expect(generated.status).toBe(200);
      expect(generated.body.pin).toMatch(/^\d{6}$/);
      oneTime.push('86420135', generated.body.pin);
    });

    it('writes an audit line per card change naming the card and action, never a secret', async () => {
      const from = auditLines.length;
      const enrolled = await enrol('wrap', { username: 'bob', slots: ['9e'] });
      const unblockedPin = (await call('POST', `/t/wrap/admin/v1/cards/${enrolled.card.id}/unblock`)).body.pin as string;
      oneTime.push(unblockedPin);
      expect((await call('DELETE', `/t/wrap/admin/v1/cards/${enrolled.card.id}`)).status).toBe(204);
      const audit = auditLines.slice(from);
      const cardLines = audit.filter((line) => line['event'] === 'card');
      expect(cardLines.map((line) => `${line['action']} ${line['card']}`)).toEqual(
        ['enrolled', 'unblocked', 'deleted'].map((action) => `${action} ${enrolled.card.id}`),
      );
      expect(cardLines[0]).toMatchObject({ tenant: 'wrap', username: 'bob', serial: enrolled.card.serial, custody: 'wrapped' });
      // The generic line: who made which change.
      expect(
        audit.filter((line) => line['method'] !== undefined).map((line) => `${line['method']} ${line['status']} ${line['via']} ${line['adminClientId']}`),
      ).toEqual(['POST 201', 'POST 200', 'DELETE 204'].map((change) => `${change} admin-client ${stack.bootstrap.clientId}`));
      const text = JSON.stringify(auditLines);
      for (const secret of new Set(oneTime)) expect({ secret, logged: text.includes(secret) }).toEqual({ secret, logged: false });
    });

    it('stores no private key, PIN, PUK or management key in clear (raw scan of both tables)', async () => {
      const directory = await scanValues(dynamo, stack.config.directoryTable);
      const state = await scanValues(dynamo, stack.config.stateTable);
      const texts = [...directory.texts, ...state.texts];
      const bytes = [...directory.bytes, ...state.bytes];
      // Positive controls: the scan reaches the users and the card items (e-mail and public keys are in clear).
      expect(texts.some((t) => inText(t, 'alice@example.com'))).toBe(true);
      expect(bytes.some((b) => b.includes(EC_SPKI_HEADER))).toBe(true);
      expect(oneTime.length).toBeGreaterThanOrEqual(9);
      for (const secret of new Set(oneTime)) {
        const raw = [Buffer.from(secret), ...(/^[0-9a-f]{32,}$/.test(secret) ? [Buffer.from(secret, 'hex')] : [])];
        const found = texts.some((t) => inText(t, secret)) || bytes.some((b) => raw.some((r) => b.includes(r)));
        expect({ secret, found }).toEqual({ secret, found: false });
      }
      for (const [kind, header] of Object.entries(PKCS8_HEADERS)) {
        expect({ kind, found: bytes.some((b) => b.includes(header)) }).toEqual({ kind, found: false });
      }
      expect(texts.some((t) => t.includes('PRIVATE KEY'))).toBe(false);
    });

    it('deletes a card and destroys its key material', async () => {
      const item = (await rawCard('resident', resident.card.id))!;
      const keyIds = slotsOf(item).map(([, s]) => (s.key as { keyId: string }).keyId);
      const response = await call('DELETE', `/t/resident/admin/v1/cards/${resident.card.id}`);
      expect(response.status).toBe(204);
      expect(await rawCard('resident', resident.card.id)).toBeUndefined();
      expect((await call('GET', `/t/resident/admin/v1/cards/${resident.card.id}`)).status).toBe(404);
      for (const keyId of keyIds) {
        if (kms) {
          const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
          expect(described.KeyMetadata!.KeyState).toBe('PendingDeletion');
          expect(described.KeyMetadata!.DeletionDate).toBeInstanceOf(Date);
        } else {
          expect(await stack.runtime.directory.get({ PK: `RESIDENTKEY#${keyId}`, SK: 'RESIDENTKEY' })).toBeUndefined();
        }
      }
      expect((await call('DELETE', `/t/resident/admin/v1/cards/${resident.card.id}`)).status).toBe(404);
    });

    it('answers a wrong tenant, an unknown card or user, a bad algorithm or PIN with an exact problem, writing nothing', async () => {
      const before = (await call('GET', '/t/wrap/admin/v1/cards')).body.cards.length;
      const cases: [string, string, unknown, number, Partial<Problem>][] = [
        ['GET', `/t/other/admin/v1/cards/${wrapped.card.id}`, undefined, 404, { detail: `card ${wrapped.card.id} does not exist in tenant other` }],
        ['POST', `/t/other/admin/v1/cards/${wrapped.card.id}/unblock`, {}, 404, { detail: `card ${wrapped.card.id} does not exist in tenant other` }],
        ['DELETE', `/t/other/admin/v1/cards/${wrapped.card.id}`, undefined, 404, { detail: `card ${wrapped.card.id} does not exist in tenant other` }],
        ['GET', '/t/wrap/admin/v1/cards/no-such-card-0', undefined, 404, { detail: 'card no-such-card-0 does not exist in tenant wrap' }],
        ['POST', '/t/wrap/admin/v1/cards/no-such-card-0/disconnect', undefined, 404, { detail: 'card no-such-card-0 does not exist in tenant wrap' }],
        ['POST', '/t/wrap/admin/v1/cards', { username: 'carol' }, 404, { detail: 'user carol does not exist in tenant wrap' }],
        ['POST', '/t/nowhere/admin/v1/cards', { username: 'alice' }, 404, { detail: 'tenant nowhere does not exist' }],
        ['POST', '/t/wrap/admin/v1/cards', { username: 'alice', algorithm: 'p384' }, 400, { detail: 'algorithm p384 is not allowed in tenant wrap' }],
        [
          'POST',
          '/t/wrap/admin/v1/cards',
          { username: 'alice', slotAlgorithms: { '9d': 'rsa4096' } },
          400,
          { detail: 'algorithm rsa4096 is not allowed in tenant wrap' },
        ],
        ['POST', '/t/wrap/admin/v1/cards', { username: 'alice', pin: '12a456' }, 400, { detail: 'invalid pin', issues: ['pin: a PIN is digits only'] }],
        ['POST', '/t/wrap/admin/v1/cards', { username: 'alice', pin: '123' }, 400, { detail: 'invalid pin', issues: ['pin: a PIN is 6-8 digits'] }],
        ['POST', '/t/wrap/admin/v1/cards', { username: 'alice', puk: '1' }, 400, { detail: 'invalid puk', issues: ['puk: a PUK is 6-8 printable characters'] }],
        ['POST', `/t/wrap/admin/v1/cards/${wrapped.card.id}/unblock`, { pin: '1' }, 400, { detail: 'invalid pin', issues: ['pin: a PIN is 6-8 digits'] }],
      ];
      for (const [method, path, body, status, problem] of cases) {
        const response = await call(method, path, body);
        expect({ method, path, status: response.status, type: response.headers.get('content-type') }).toEqual({
          method,
          path,
          status,
          type: 'application/problem+json',
        });
        expect(response.body).toMatchObject({ status, ...problem });
      }
      // Schema refusals name the field.
      for (const [body, field] of [
        [{ username: 'alice', algorithm: 'rsa1024' }, /^algorithm: /],
        [{ username: 'alice', slots: ['9b'] }, /^slots\.0: /],
        [{ username: 'alice', serial: 5 }, /serial/],
        [{}, /^username: /],
      ] as const) {
        const response = await call('POST', '/t/wrap/admin/v1/cards', body);
        expect(response.status).toBe(400);
        expect((response.body as Problem).issues!.join('\n')).toMatch(field);
      }
      const notJson = await call('POST', '/t/wrap/admin/v1/cards', 'username=alice', { 'Content-Type': 'application/x-www-form-urlencoded' });
      expect(notJson.status).toBe(415);
      expect((await call('GET', '/t/wrap/admin/v1/cards')).body.cards.length).toBe(before);
      expect((await call('GET', '/t/wrap/admin/v1/cards', undefined, { Authorization: 'Basic Zm9vOmJhcg==' })).status).toBe(401);
    });
  });

  it('takes card, PIN, trust and card-session settings through the tenant update', async () => {
    const issuer = { issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', audience: 'cloudcard', userClaim: 'preferred_username' };
    const patched = await call('PATCH', '/t/other/admin/v1/tenant', {
      custody: 'kms-resident',
      cards: { allowedAlgorithms: ['p256', 'p384'], defaultAlgorithm: 'p384', defaultSlots: ['9a', '9e'], managementAlgorithm: 'aes256' },
      pinPolicy: { minLength: 8, retries: 5 },
      sessionLifetimes: { cardSessionSeconds: 900 },
      trustedIssuers: [issuer],
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      custody: 'kms-resident',
      cards: { allowedAlgorithms: ['p256', 'p384'], defaultAlgorithm: 'p384', defaultSlots: ['9a', '9e'], managementAlgorithm: 'aes256' },
      pinPolicy: { minLength: 8, maxLength: 8, retries: 5 },
      sessionLifetimes: { cardSessionSeconds: 900 },
      trustedIssuers: [issuer],
    });
    const enrolled = await enrol('other', { username: 'alice' });
    expect(enrolled.card).toMatchObject({ custody: 'kms-resident', pin: { maxTries: 5 } });
    expect(enrolled.card.slots.map((s) => `${s.slot}:${s.algorithm}`)).toEqual(['9a:p384', '9e:p384']);
    expect(enrolled.pin).toMatch(/^\d{8}$/);
    expect(enrolled.managementKey).toMatchObject({ algorithm: 'aes256', hex: expect.stringMatching(/^[0-9a-f]{64}$/) });
    for (const [body, issue] of [
      [{ cards: { defaultAlgorithm: 'rsa2048' } }, /cards\.defaultAlgorithm: defaultAlgorithm must be allowed/],
      [{ trustedIssuers: [{ ...issuer, jwksUri: 'http://idp.example.com/jwks' }] }, /trustedIssuers\.0\.jwksUri: must be https/],
      [{ sessionLifetimes: { cardSessionSeconds: 5 } }, /sessionLifetimes\.cardSessionSeconds/],
    ] as const) {
      const response = await call('PATCH', '/t/other/admin/v1/tenant', body);
      expect(response.status).toBe(400);
      expect((response.body as Problem).issues!.join('\n')).toMatch(issue);
    }
    expect((await call('GET', '/t/other/admin/v1/tenant')).body.version).toBe(patched.body.version);
  });

  describe('tenant admin access tokens', () => {
    const services = () => directoryServices(stack.runtime);
    const clientAuth = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    const tokenFor = async (tenant: string, id: string, secret: string, scope = 'admin', headers: Record<string, string> = {}) => {
      const response = await postForm(
        `${stack.url}/t/${tenant}/oidc/token`,
        { grant_type: 'client_credentials', scope },
        { Authorization: clientAuth(id, secret), ...headers },
      );
      return response;
    };
    const adminClient = async (tenant: string, metadata: Record<string, unknown> = {}) => {
      const issued = await services().clients.create(tenant, { client_name: 'ops', grant_types: ['client_credentials'], scope: 'admin', ...metadata }, 'admin');
      return { id: issued.client.client_id, secret: issued.clientSecret! };
    };
    let wrapAdmin: { id: string; secret: string };
    let token: string;

    beforeAll(async () => {
      wrapAdmin = await adminClient('wrap');
      const response = await tokenFor('wrap', wrapAdmin.id, wrapAdmin.secret);
      expect(response.status).toBe(200);
      expect(response.body['scope']).toBe('admin');
      token = response.body['access_token'] as string;
    });

    it('lets a bearer token with the admin scope from the tenant’s own issuer administer that tenant', async () => {
      const listed = await call('GET', '/t/wrap/admin/v1/cards', undefined, { Authorization: `Bearer ${token}` });
      expect(listed.status).toBe(200);
      const from = auditLines.length;
      const enrolled = await call('POST', '/t/wrap/admin/v1/cards', { username: 'bob', slots: ['9e'] }, { Authorization: `Bearer ${token}` });
      expect(enrolled.status).toBe(201);
      // The audit trail names the tenant's client as the one who made the change.
      expect(auditLines.slice(from).find((line) => line['method'] === 'POST')).toMatchObject({ via: 'tenant-token', adminClientId: wrapAdmin.id, status: 201 });
      oneTime.push(enrolled.body.pin, enrolled.body.puk);
      expect((await call('GET', '/t/wrap/admin/v1/tenant', undefined, { Authorization: `Bearer ${token}` })).body.id).toBe('wrap');
    });

    it('never opens another tenant with it', async () => {
      for (const path of ['/t/other/admin/v1/cards', '/t/other/admin/v1/tenant', '/t/nowhere/admin/v1/users']) {
        const response = await call('GET', path, undefined, { Authorization: `Bearer ${token}` });
        expect({ path, status: response.status }).toEqual({ path, status: 401 });
        expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm="cloudcard-admin".*, Bearer error="invalid_token"/);
      }
      // Verifying only reads published keys: a tenant that never signed gets no keys made by the admin API.
      expect(await stack.runtime.directory.get({ PK: 'T#other', SK: 'SIGNKEYS' })).toBeUndefined();
    });

    it('refuses a token without the admin scope (403), a forged, expired or revoked one (401)', async () => {
      const plain = await services().clients.create('wrap', { client_name: 'svc', grant_types: ['client_credentials'], scope: 'profile card' }, 'admin');
      const cardToken = (await tokenFor('wrap', plain.client.client_id, plain.clientSecret!, 'card')).body['access_token'] as string;
      const insufficient = await call('GET', '/t/wrap/admin/v1/cards', undefined, { Authorization: `Bearer ${cardToken}` });
      expect(insufficient.status).toBe(403);
      expect(insufficient.body).toMatchObject({ error: 'insufficient_scope', detail: 'the access token lacks the admin scope' });
      expect(insufficient.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="admin"');

      const [header, payload] = token.split('.');
      const tampered = `${header}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), scope: 'admin card' })).toString('base64url')}.${token.split('.')[2]}`;
      for (const bad of [tampered, 'not-a-jwt', `${token}x`]) {
        expect((await call('GET', '/t/wrap/admin/v1/cards', undefined, { Authorization: `Bearer ${bad}` })).status).toBe(401);
      }
      // A token the tenant's OpenID Provider never issued: signed by another key with the right claims.
      const { privateKey } = await generateKeyPair('ES256');
      const forged = await new SignJWT({ scope: 'admin', client_id: wrapAdmin.id, gid: 'g', jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
        .setIssuer(`${stack.url}/t/wrap`)
        .setAudience(`${stack.url}/t/wrap`)
        .setSubject(wrapAdmin.id)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      expect((await call('GET', '/t/wrap/admin/v1/cards', undefined, { Authorization: `Bearer ${forged}` })).body).toMatchObject({
        status: 401,
        error: 'invalid_token',
      });

      const other = await tokenFor('wrap', wrapAdmin.id, wrapAdmin.secret);
      const revoked = other.body['access_token'] as string;
      expect(
        (await postForm(`${stack.url}/t/wrap/oidc/revoke`, { token: revoked }, { Authorization: clientAuth(wrapAdmin.id, wrapAdmin.secret) })).status,
      ).toBe(200);
      const afterRevoke = await call('GET', '/t/wrap/admin/v1/cards', undefined, { Authorization: `Bearer ${revoked}` });
      expect(afterRevoke.status).toBe(401);
      expect(afterRevoke.body.detail).toBe('the access token was revoked');

      const expiring = (await tokenFor('wrap', wrapAdmin.id, wrapAdmin.secret)).body['access_token'] as string;
      clock.advance(3_600);
      try {
        expect((await call('GET', '/t/wrap/admin/v1/cards', undefined, { Authorization: `Bearer ${expiring}` })).status).toBe(401);
      } finally {
        clock.advance(-3_600);
      }
    });

    it('stops accepting tokens of a client that was removed', async () => {
      const temporary = await adminClient('wrap');
      const temporaryToken = (await tokenFor('wrap', temporary.id, temporary.secret)).body['access_token'] as string;
      expect((await call('GET', '/t/wrap/admin/v1/cards', undefined, { Authorization: `Bearer ${temporaryToken}` })).status).toBe(200);
      await services().clients.remove('wrap', temporary.id);
      const refused = await call('GET', '/t/wrap/admin/v1/cards', undefined, { Authorization: `Bearer ${temporaryToken}` });
      expect(refused.status).toBe(401);
      expect(refused.body.detail).toBe('the client behind this access token may not administer the tenant');
    });

    it('wants a DPoP proof with a DPoP-bound admin token', async () => {
      const bound = await adminClient('wrap', { dpop_bound_access_tokens: true });
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = await exportJWK(publicKey);
      const tokenUrl = `${stack.url}/t/wrap/oidc/token`;
      let nonce: string | undefined;
      let issued = await tokenFor('wrap', bound.id, bound.secret, 'admin', { DPoP: await proof(privateKey, jwk, 'POST', tokenUrl) });
      if (issued.status === 400 && issued.body['error'] === 'use_dpop_nonce') {
        nonce = issued.headers.get('dpop-nonce')!;
        issued = await tokenFor('wrap', bound.id, bound.secret, 'admin', { DPoP: await proof(privateKey, jwk, 'POST', tokenUrl, nonce) });
      }
      expect(issued.status).toBe(200);
      expect(issued.body['token_type']).toBe('DPoP');
      const dpopToken = issued.body['access_token'] as string;
      const url = `${stack.url}/t/wrap/admin/v1/cards`;
      // Without a proof, or as a plain bearer token: refused.
      expect((await call('GET', '/t/wrap/admin/v1/cards', undefined, { Authorization: `Bearer ${dpopToken}` })).status).toBe(401);
      expect((await call('GET', '/t/wrap/admin/v1/cards', undefined, { Authorization: `DPoP ${dpopToken}` })).status).toBe(401);
      // A proof by another key: refused.
      const stranger = await generateKeyPair('ES256');
      const wrongKey = await call('GET', '/t/wrap/admin/v1/cards', undefined, {
        Authorization: `DPoP ${dpopToken}`,
        DPoP: await proof(stranger.privateKey, await exportJWK(stranger.publicKey), 'GET', url, nonce, dpopToken),
      });
      expect(wrongKey.status).toBe(401);
      const ok = await call('GET', '/t/wrap/admin/v1/cards', undefined, {
        Authorization: `DPoP ${dpopToken}`,
        DPoP: await proof(privateKey, jwk, 'GET', url, nonce, dpopToken),
      });
      expect(ok.status).toBe(200);
      expect(await calculateJwkThumbprint(jwk)).toBe(
        (JSON.parse(Buffer.from(dpopToken.split('.')[1]!, 'base64url').toString()) as { cnf: { jkt: string } }).cnf.jkt,
      );
    });

    it('grants the admin scope only to operator-made client_credentials clients: registration is refused', async () => {
      const registered = await fetch(`${stack.url}/t/wrap/oidc/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'admin' }),
      });
      expect(registered.status).toBe(400);
      expect(await registered.json()).toEqual({
        error: 'invalid_client_metadata',
        error_description: "scope admin: only for clients the tenant's operator creates, not for registered ones",
      });
      // A registered client cannot add it later through RFC 7592 either.
      const ok = await fetch(`${stack.url}/t/wrap/oidc/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'profile' }),
      });
      expect(ok.status).toBe(201);
      const client = (await ok.json()) as { client_id: string; client_secret: string; registration_access_token: string; registration_client_uri: string };
      const update = await fetch(client.registration_client_uri, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${client.registration_access_token}` },
        body: JSON.stringify({
          client_id: client.client_id,
          grant_types: ['client_credentials'],
          token_endpoint_auth_method: 'client_secret_basic',
          scope: 'admin',
        }),
      });
      expect(update.status).toBe(400);
      expect(((await update.json()) as { error: string }).error).toBe('invalid_client_metadata');
      // And the registered client cannot ask for it at the token endpoint.
      expect((await tokenFor('wrap', client.client_id, client.client_secret, 'admin')).body['error']).toBe('invalid_scope');
      // An operator cannot put it on a client that acts for users.
      await expect(
        services().clients.create(
          'wrap',
          {
            client_name: 'web',
            redirect_uris: ['https://rp.example.com/cb'],
            grant_types: ['authorization_code', 'client_credentials'],
            scope: 'openid admin',
          },
          'admin',
        ),
      ).rejects.toMatchObject({
        error: 'invalid_client_metadata',
        message: 'scope: the admin scope is for client_credentials-only clients',
      });
    });
  });
});

/** A DPoP proof (RFC 9449) for one request. */
async function proof(privateKey: CryptoKey, jwk: JWK, htm: string, htu: string, nonce?: string, accessToken?: string): Promise<string> {
  return new SignJWT({
    htm,
    htu,
    jti: randomUUID(),
    ...(nonce ? { nonce } : {}),
    ...(accessToken ? { ath: createHash('sha256').update(accessToken).digest('base64url') } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
    .setIssuedAt()
    .sign(privateKey);
}

/**
 * Every attribute value of every item of a table: strings as text, and as bytes the binaries and every
 * string that decodes as base64 (wrapped blobs, public keys, certificates).
 */
async function scanValues(dynamo: DynamoDBClient, table: string): Promise<{ texts: string[]; bytes: Buffer[] }> {
  const texts: string[] = [];
  const bytes: Buffer[] = [];
  const visit = (value: AttributeValue): void => {
    if (value.S !== undefined) {
      texts.push(value.S);
      if (/^[A-Za-z0-9+/_-]{16,}=*$/.test(value.S)) bytes.push(Buffer.from(value.S, /[-_]/.test(value.S) ? 'base64url' : 'base64'));
    } else if (value.N !== undefined) texts.push(value.N);
    else if (value.B !== undefined) bytes.push(Buffer.from(value.B));
    else if (value.M) Object.values(value.M).forEach(visit);
    else if (value.L) value.L.forEach(visit);
    else if (value.SS) value.SS.forEach((s) => visit({ S: s }));
    else if (value.BS) value.BS.forEach((b) => bytes.push(Buffer.from(b)));
  };
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamo.send(new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start } : {}) }));
    for (const item of page.Items ?? []) Object.values(item).forEach(visit);
    start = page.LastEvaluatedKey;
  } while (start);
  return { texts, bytes };
}

/**
 * Whether a text holds the value as a token of its own: a PIN of digits inside a long base64 text is a
 * coincidence (and base64 texts are searched decoded, as bytes), not the PIN stored in clear.
 */
function inText(text: string, value: string): boolean {
  const escaped = value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9+/])${escaped}($|[^A-Za-z0-9+/=])`).test(text);
}
