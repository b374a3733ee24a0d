import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { compactVerify, exportJWK, generateKeyPair, importX509, SignJWT } from 'jose';
import { CardApiClient, CardApiError, generateDeviceKey, type DeviceKey } from '../../agent/sdk.ts';
import { parseCertificateObject } from '../../lambdas/core/piv/builders.ts';
import { parseSessionToken, sessionToken } from '../../lambdas/core/cards/sessions.ts';
import type { EnrolResult } from '../../lambdas/core/cards/cards.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import { opaqueHash } from '../../lambdas/core/oidc/hashing.ts';
import type { Item } from '../../lambdas/ports.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS, testClock } from '../support/backends.ts';
import { cardAccessToken, dataOf, generalAuthenticate, hex, getData, pkcs1Block, select, signatureOf, sw, verifyPin } from '../support/card-flows.ts';
import { startStackOn } from '../support/oidc-stack.ts';
import { buildCommand } from '../../lambdas/core/piv/apdu.ts';
import { ecb } from '../unit/piv/harness.ts';

/**
 * The card API end to end over HTTP on both backends (embedded store + local custody; DynamoDB + KMS on
 * the AWS emulator): a user token from a real sign-in, the signed card list, session opening by device-key
 * challenge, APDUs through the PIV application against the stored card, takeover, and bad inputs.
 */
describe.each(BACKENDS)('card API on the %s backend', (backend) => {
  const clock = testClock();
  let stack: LocalStack;
  let issuer: string;
  let token: string;
  let enrolled: EnrolResult;
  let device: DeviceKey;
  let client: CardApiClient;

  beforeAll(async () => {
    stack = await startStackOn(backend, { clock });
    issuer = `${stack.url}/t/demo`;
    const cards = directoryServices(stack.runtime).cards!;
    enrolled = await cards.enrol('demo', {
      username: 'alice',
      slots: ['9a', '9c', '9d'],
      slotAlgorithms: { '9c': 'p256', '9d': 'p256' },
      pin: '24681357',
      puk: '86427531',
    });
    token = await cardAccessToken(stack);
    device = await generateDeviceKey();
    client = new CardApiClient({ tenantUrl: issuer, accessToken: () => token });
  });
  afterAll(async () => stack?.close());

  const certificateOf = async (tagHex: string): Promise<X509Certificate> => {
    const list = await client.cards();
    const card = list.cards.find((c) => c.id === enrolled.card.id)!;
    return new X509Certificate(Buffer.from(parseCertificateObject(Buffer.from(card.objects[tagHex]!, 'base64'))!));
  };

  it('lists the user’s cards with public objects, signed by the tenant card-list key that the card CA certified', async () => {
    const list = await client.cards();
    expect(list.user).toBe('alice');
    const card = list.cards.find((c) => c.id === enrolled.card.id)!;
    expect(card.slots).toEqual([
      { slot: '9a', algorithm: 'rsa2048' },
      { slot: '9c', algorithm: 'p256' },
      { slot: '9d', algorithm: 'p256' },
    ]);
    // 5FC106: the Security Object, public like the objects it hashes.
    expect(Object.keys(card.objects).sort()).toEqual(
      ['5fc101', '5fc102', '5fc105', '5fc106', '5fc107', '5fc10a', '5fc10b', '5fc10c', '7e'].filter((t) => t !== '5fc101').sort(),
    );
    const header = JSON.parse(Buffer.from(list.signed!.split('.')[0]!, 'base64url').toString()) as { x5c: string[] };
    expect(header.x5c).toHaveLength(2);
    const [signerPem, caPem] = header.x5c.map((der) => `-----BEGIN CERTIFICATE-----\n${der}\n-----END CERTIFICATE-----`) as [string, string];
    const { payload } = await compactVerify(list.signed!, await importX509(signerPem, 'ES256'));
    // The list key is not the CA key: its own certificate (no CA, digital signature), issued by the CA.
    const signerCertificate = new X509Certificate(signerPem);
    expect(signerCertificate.ca).toBe(false);
    expect(signerCertificate.checkIssued(new X509Certificate(caPem))).toBe(true);
    expect(signerCertificate.verify(new X509Certificate(caPem).publicKey)).toBe(true);
    expect(signerCertificate.publicKey.equals(new X509Certificate(caPem).publicKey)).toBe(false);
    const signed = JSON.parse(Buffer.from(payload).toString()) as { sub: string; cards: Array<{ id: string; objects: Record<string, string> }> };
    expect(signed.sub).toBe('alice');
    const manifest = signed.cards.find((c) => c.id === card.id)!;
    for (const [tag, content] of Object.entries(card.objects)) {
      expect(manifest.objects[tag]).toBe(createHash('sha256').update(Buffer.from(content, 'base64')).digest('base64url'));
    }
    // The slot certificate chains to that CA.
    const ca = new X509Certificate(caPem);
    expect((await certificateOf('5fc105')).verify(ca.publicKey)).toBe(true);
  });

  it('signs with the 9A RSA key and the 9C P-256 key after VERIFY; signatures verify with the slot certificates', async () => {
    const opened = await client.openSession(enrolled.card.id, device);
    expect(sw(await client.transmit(opened.session, select()))).toBe(0x9000);
    const unverified = await client.transmit(opened.session, generalAuthenticate(0x07, 0x9a, pkcs1Block(Buffer.from('x'), 256)));
    expect(sw(unverified)).toBe(0x6982);
    expect(sw(await client.transmit(opened.session, verifyPin('24681357')))).toBe(0x9000);

    const message = Buffer.from('cloud card signature');
    const rsa = await client.transmit(opened.session, generalAuthenticate(0x07, 0x9a, pkcs1Block(message, 256)));
    expect(sw(rsa)).toBe(0x9000);
    const cert9a = await certificateOf('5fc105');
    expect(verify('sha256', message, cert9a.publicKey as KeyObject, signatureOf(rsa))).toBe(true);

    // 9C is PIN-always: a VERIFY right before each signature.
    expect(sw(await client.transmit(opened.session, verifyPin('24681357')))).toBe(0x9000);
    const digest = createHash('sha256').update(message).digest();
    const ecdsa = await client.transmit(opened.session, generalAuthenticate(0x11, 0x9c, digest));
    expect(sw(ecdsa)).toBe(0x9000);
    expect(verify('sha256', message, (await certificateOf('5fc10a')).publicKey as KeyObject, signatureOf(ecdsa))).toBe(true);
    expect(sw(await client.transmit(opened.session, generalAuthenticate(0x11, 0x9c, digest)))).toBe(0x6982);

    // Reset (power cycle from the reader) forgets the PIN.
    await client.reset(opened.session);
    expect(sw(await client.transmit(opened.session, select()))).toBe(0x9000);
    expect(sw(await client.transmit(opened.session, generalAuthenticate(0x07, 0x9a, pkcs1Block(message, 256))))).toBe(0x6982);
    await client.close(opened.session);
  });

  it('does not trust a "PIN verified" state written into the state table without the card function’s seal: GENERAL AUTHENTICATE answers 6982', async () => {
    const opened = await client.openSession(enrolled.card.id, device);
    expect(sw(await client.transmit(opened.session, select()))).toBe(0x9000);
    // What another function with write access to the state table could do: set pinVerified directly.
    const key = { PK: `CARDSESS#${opaqueHash(parseSessionToken(opened.session)!.secret)}`, SK: 'CARDSESS' };
    const stored = (await stack.runtime.state.get<Item & { piv: Record<string, unknown> }>(key))!;
    expect(stored.piv['pinVerified']).toBe(false);
    await stack.runtime.state.update(key, { piv: { ...stored.piv, pinVerified: true, pinJustVerified: true } });
    expect(sw(await client.transmit(opened.session, generalAuthenticate(0x07, 0x9a, pkcs1Block(Buffer.from('forged'), 256))))).toBe(0x6982);
    // The session goes on from a fresh, sealed state: the real PIN still works.
    expect(sw(await client.transmit(opened.session, select()))).toBe(0x9000);
    expect(sw(await client.transmit(opened.session, verifyPin('24681357')))).toBe(0x9000);
    expect(sw(await client.transmit(opened.session, generalAuthenticate(0x07, 0x9a, pkcs1Block(Buffer.from('real'), 256))))).toBe(0x9000);
  });

  it('reads the CHUID over extended length, identical to the listed object', async () => {
    const opened = await client.openSession(enrolled.card.id, device);
    await client.transmit(opened.session, select());
    const chuid = await client.transmit(opened.session, getData(0x5fc102));
    expect(sw(chuid)).toBe(0x9000);
    const listed = (await client.cards()).cards.find((c) => c.id === enrolled.card.id)!.objects['5fc102']!;
    expect(Buffer.from(dataOf(chuid)).toString('hex')).toContain(Buffer.from(listed, 'base64').toString('hex'));
  });

  it('gives the card to the last opener: the first session is told to remove the card', async () => {
    const first = await client.openSession(enrolled.card.id, device);
    expect(sw(await client.transmit(first.session, select()))).toBe(0x9000);
    const second = await client.openSession(enrolled.card.id, await generateDeviceKey());
    const refused = await client.transmit(first.session, select()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CardApiError);
    expect((refused as CardApiError).status).toBe(409);
    expect((refused as CardApiError).mustRemoveCard).toBe(true);
    expect((refused as CardApiError).type).toBe('https://cloudcard.dev/problems/card-session-superseded');
    expect(sw(await client.transmit(second.session, select()))).toBe(0x9000);
    // Re-inserting on the first client takes the card back.
    const again = await client.openSession(enrolled.card.id, device);
    expect(sw(await client.transmit(again.session, select()))).toBe(0x9000);
    expect(((await client.transmit(second.session, select()).catch((e: unknown) => e)) as CardApiError).mustRemoveCard).toBe(true);
  });

  it('two clients opening at once end with exactly one active session', async () => {
    const [a, b] = await Promise.all([client.openSession(enrolled.card.id, device), client.openSession(enrolled.card.id, await generateDeviceKey())]);
    const outcomes = await Promise.all(
      [a, b].map((s) =>
        client.transmit(s.session, select()).then(
          () => 'ok',
          (e: unknown) => (e as CardApiError).status,
        ),
      ),
    );
    expect(outcomes.sort()).toEqual([409, 'ok'].sort());
  });

  it('refuses a replayed challenge answer, a proof by another key, and a proof for another card', async () => {
    const base = `${issuer}/card/v1/cards/${enrolled.card.id}`;
    const post = (path: string, body: unknown) =>
      fetch(`${base}/${path}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    const { nonce } = (await (await post('challenge', { deviceKey: device.publicJwk })).json()) as { nonce: string };
    const { CompactSign } = await import('jose');
    const sign = (key: DeviceKey, payload: object) =>
      new CompactSign(Buffer.from(JSON.stringify(payload)))
        .setProtectedHeader({ alg: 'ES256', typ: 'cloudcard-session+jwt', jwk: key.publicJwk })
        .sign(key.privateKey);
    const other = await generateDeviceKey();
    expect((await post('sessions', { proof: await sign(other, { nonce, card: enrolled.card.id }) })).status).toBe(400);
    // That attempt consumed the challenge: even the right key cannot use it now.
    expect((await post('sessions', { proof: await sign(device, { nonce, card: enrolled.card.id }) })).status).toBe(400);
    const fresh = ((await (await post('challenge', { deviceKey: device.publicJwk })).json()) as { nonce: string }).nonce;
    // A proof for another card is refused before the challenge is spent; the right answer then works once.
    expect((await post('sessions', { proof: await sign(device, { nonce: fresh, card: 'someothercard1' }) })).status).toBe(400);
    const proof = await sign(device, { nonce: fresh, card: enrolled.card.id });
    expect((await post('sessions', { proof })).status).toBe(201);
    expect((await post('sessions', { proof })).status).toBe(400);
    expect((await post('sessions', { proof: 'not-a-jws' })).status).toBe(400);
    expect((await post('challenge', { deviceKey: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA' } })).status).toBe(400);
  });

  it('answers bad APDU requests with problems, and malformed APDUs with status words', async () => {
    const opened = await client.openSession(enrolled.card.id, device);
    const apdu = (body: string | Buffer | undefined, headers: Record<string, string>) =>
      fetch(`${issuer}/card/v1/session/apdu`, {
        method: 'POST',
        headers: { Authorization: `CardSession ${opened.session}`, ...headers },
        ...(body === undefined ? {} : { body }),
      });
    expect((await apdu(Buffer.from([0x00]), { 'Content-Type': 'application/octet-stream' })).status).toBe(200); // truncated: a status word, not a crash
    expect(sw(await client.transmit(opened.session, Uint8Array.from([0x00])))).toBe(0x6700);
    expect(sw(await client.transmit(opened.session, Uint8Array.from([0x00, 0xa4, 0x04, 0x00, 0x05, 0xa0])))).toBe(0x6700);
    expect((await apdu(undefined, { 'Content-Type': 'application/octet-stream' })).status).toBe(400);
    expect((await apdu('hello', { 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await apdu(JSON.stringify({ apdu: Buffer.from(select()).toString('base64') }), { 'Content-Type': 'application/json' })).status).toBe(200);
    const noSecret = await fetch(`${issuer}/card/v1/session/apdu`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: Buffer.from(select()),
    });
    expect(noSecret.status).toBe(401);
    // An unknown secret, a bare secret (a token from before hints: the agent re-opens), and a live secret
    // behind a hint naming another user: all are unknown sessions.
    const live = parseSessionToken(opened.session)!;
    for (const presented of [
      sessionToken('A'.repeat(43), live.card, live.username),
      'A'.repeat(43),
      live.secret,
      sessionToken(live.secret, live.card, 'mallory'),
    ]) {
      const unknown = await fetch(`${issuer}/card/v1/session/apdu`, {
        method: 'POST',
        headers: { Authorization: `CardSession ${presented}`, 'Content-Type': 'application/octet-stream' },
        body: Buffer.from(select()),
      });
      expect(unknown.status).toBe(401);
      expect(unknown.headers.get('www-authenticate')).toBe('CardSession error="invalid_token"');
      expect(((await unknown.json()) as { type: string }).type).toBe('https://cloudcard.dev/problems/card-session-expired');
    }
  });

  describe('what the holder may not do to an issued card', () => {
    let card: EnrolResult;
    beforeAll(async () => {
      card = await directoryServices(stack.runtime).cards!.enrol('demo', {
        username: 'alice',
        slots: ['9a', '9d'],
        slotAlgorithms: { '9d': 'p256' },
        pin: '13572468',
        puk: '97531864',
      });
    });
    const MANAGEMENT_ID = { '3des': 0x03, aes128: 0x08, aes192: 0x0a, aes256: 0x0c } as const;
    /** 9B authentication with the enrolment's management key (single challenge, as authenticateAdmin does). */
    const authenticateAdmin = async (session: string): Promise<void> => {
      const { algorithm, hex: keyHex } = card.managementKey;
      const id = MANAGEMENT_ID[algorithm];
      const challenge = await client.transmit(session, buildCommand({ ins: 0x87, p1: id, p2: 0x9b }, Uint8Array.of(0x7c, 0x02, 0x81, 0x00), 256));
      expect(sw(challenge)).toBe(0x9000);
      const answer = ecb(algorithm, Buffer.from(keyHex, 'hex'), dataOf(challenge).subarray(4));
      const reply = await client.transmit(
        session,
        buildCommand({ ins: 0x87, p1: id, p2: 0x9b }, Uint8Array.from([0x7c, answer.length + 2, 0x82, answer.length, ...answer])),
      );
      expect(sw(reply)).toBe(0x9000);
    };
    const generate = (slot: number, algorithm: number, pinPolicy?: number): Uint8Array =>
      buildCommand(
        { ins: 0x47, p1: 0x00, p2: slot },
        Uint8Array.from([0xac, pinPolicy === undefined ? 3 : 6, 0x80, 0x01, algorithm, ...(pinPolicy === undefined ? [] : [0xaa, 0x01, pinPolicy])]),
        256,
      );
    const metadata = (slot: number): Uint8Array => buildCommand({ ins: 0xf7, p1: 0x00, p2: slot }, new Uint8Array(0), 256);
    const setManagementKey = (algorithm: number, key: Uint8Array): Uint8Array =>
      buildCommand({ ins: 0xff, p1: 0xff, p2: 0xff }, Uint8Array.from([algorithm, 0x9b, key.length, ...key]));

    it('GENERATE refuses PIN policy never and an algorithm the tenant does not allow (6A80); SET MANAGEMENT KEY refuses a weaker algorithm and the factory key', async () => {
      const services = directoryServices(stack.runtime);
      const opened = await client.openSession(card.card.id, device);
      await client.transmit(opened.session, select());
      await authenticateAdmin(opened.session);
      const before9a = hex(dataOf(await client.transmit(opened.session, metadata(0x9a))));
      expect(sw(await client.transmit(opened.session, generate(0x9a, 0x11, 0x01)))).toBe(0x6a80); // P-256, PIN never
      expect(sw(await client.transmit(opened.session, generate(0x9c, 0x11, 0x02)))).toBe(0x6a80); // 9C is PIN-always
      await services.tenants.update('demo', { cards: { allowedAlgorithms: ['rsa2048', 'p256'] } });
      try {
        expect(sw(await client.transmit(opened.session, generate(0x9a, 0x14)))).toBe(0x6a80); // P-384
      } finally {
        await services.tenants.update('demo', { cards: { allowedAlgorithms: ['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384'] } });
      }
      expect(hex(dataOf(await client.transmit(opened.session, metadata(0x9a))))).toBe(before9a);
      // The tenant enrols with AES-192: 3DES is weaker; the factory key is public.
      expect(sw(await client.transmit(opened.session, setManagementKey(0x03, new Uint8Array(24).fill(0x5a))))).toBe(0x6a80);
      expect(
        sw(
          await client.transmit(
            opened.session,
            setManagementKey(0x0a, Uint8Array.from(Buffer.from('010203040506070801020304050607080102030405060708', 'hex'))),
          ),
        ),
      ).toBe(0x6a80);
      // What the rules allow still works: P-256 in 9E with its own rule (no PIN).
      expect(sw(await client.transmit(opened.session, generate(0x9e, 0x11, 0x01)))).toBe(0x9000);
      await client.close(opened.session);
    });

    it('RESET with PIN and PUK blocked is refused 6985: the slots, the 9D key and the counters stay', async () => {
      const opened = await client.openSession(card.card.id, device);
      await client.transmit(opened.session, select());
      const before9d = hex(dataOf(await client.transmit(opened.session, metadata(0x9d))));
      for (let i = 0; i < 3; i++) await client.transmit(opened.session, verifyPin('00000000'));
      expect(sw(await client.transmit(opened.session, verifyPin('13572468')))).toBe(0x6983);
      const unblock = (puk: string): Uint8Array =>
        buildCommand({ ins: 0x2c, p1: 0x00, p2: 0x80 }, Buffer.concat([Buffer.from(puk.padEnd(8, '\xff'), 'latin1'), Buffer.from('123456\xff\xff', 'latin1')]));
      for (let i = 0; i < 3; i++) await client.transmit(opened.session, unblock('00000000'));
      expect(sw(await client.transmit(opened.session, unblock('97531864')))).toBe(0x6983);

      expect(sw(await client.transmit(opened.session, buildCommand({ ins: 0xfb, p1: 0x00, p2: 0x00 })))).toBe(0x6985);
      expect(hex(dataOf(await client.transmit(opened.session, metadata(0x9d))))).toBe(before9d);
      expect(sw(await client.transmit(opened.session, verifyPin('123456')))).toBe(0x6983); // no factory PIN came back
      const summary = await directoryServices(stack.runtime).cards!.get('demo', card.card.id);
      expect(summary.slots.map((s) => s.slot)).toEqual(['9a', '9d', '9e']);
      expect(summary.pin.blocked && summary.puk.blocked).toBe(true);
      await client.close(opened.session);
    });
  });

  it('expires sessions with the tenant’s card session lifetime', async () => {
    const opened = await client.openSession(enrolled.card.id, device);
    expect(sw(await client.transmit(opened.session, select()))).toBe(0x9000);
    clock.advance(8 * 3600 + 1);
    const error = (await client.transmit(opened.session, select()).catch((e: unknown) => e)) as CardApiError;
    expect(error.status).toBe(401);
    expect(error.sessionExpired).toBe(true);
    clock.advance(-(8 * 3600 + 1));
  });

  it('refuses tokens from untrusted issuers, of another tenant, without the card scope, and accepts a trusted external issuer', async () => {
    const services = directoryServices(stack.runtime);
    const tokensWith = (bearer: string, tenant = 'demo') =>
      fetch(`${stack.url}/t/${tenant}/card/v1/tokens`, { method: 'POST', headers: { Authorization: `Bearer ${bearer}` } });
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const external = (claims: Record<string, unknown>) =>
      new SignJWT({ preferred_username: 'alice', ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
    expect((await tokensWith(await external({ iss: 'https://idp.example.test', aud: 'cloudcard' }))).status).toBe(401);
    await services.tenants.create({ id: 'other' }).catch(() => undefined);
    expect((await tokensWith(token, 'other')).status).toBe(401);
    expect((await tokensWith('garbage')).status).toBe(401);
    const withoutCardScope = await tokensWith(await cardAccessToken(stack, 'openid'));
    expect(withoutCardScope.status).toBe(401);
    expect(((await withoutCardScope.json()) as { detail: string }).detail).toBe('the access token lacks the card scope');

    // A trusted external issuer: its JWKS served on loopback, `preferred_username` naming the user.
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
    const server: Server = createHttpServer((_request, response) => response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(jwks)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      await services.tenants.update('demo', {
        trustedIssuers: [
          { issuer: 'https://idp.example.test', jwksUri: `http://127.0.0.1:${port}/jwks`, audience: 'cloudcard', userClaim: 'preferred_username' },
        ],
      });
      const good = await tokensWith(await external({ iss: 'https://idp.example.test', aud: 'cloudcard' }));
      expect(good.status).toBe(200);
      expect(((await good.json()) as { user: string }).user).toBe('alice');
      expect((await tokensWith(await external({ iss: 'https://idp.example.test', aud: 'someone-else' }))).status).toBe(401);
      expect((await tokensWith(await external({ iss: 'https://idp.example.test', aud: 'cloudcard', preferred_username: 'mallory' }))).status).toBe(401);

      // The one access check covers the card API too: a token from before the user was disabled stays
      // refused after re-enabling (the external issuer cannot be told to revoke it), a new one works.
      const signedInAt = Math.floor(clock.now() / 1000);
      const before = await external({ iss: 'https://idp.example.test', aud: 'cloudcard', iat: signedInAt, auth_time: signedInAt });
      clock.advance(5);
      await services.users.disable('demo', 'alice');
      await services.users.enable('demo', 'alice');
      const stale = await tokensWith(before);
      expect(stale.status).toBe(401);
      expect(((await stale.json()) as { detail: string }).detail).toMatch(/revoked after this was granted/);
      clock.advance(5);
      const fresh = Math.floor(clock.now() / 1000);
      expect((await tokensWith(await external({ iss: 'https://idp.example.test', aud: 'cloudcard', iat: fresh, auth_time: fresh }))).status).toBe(200);
    } finally {
      await services.tenants.update('demo', { trustedIssuers: [] });
      server.close();
    }
  });
});
