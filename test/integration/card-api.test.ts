import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { compactVerify, exportJWK, generateKeyPair, importX509, SignJWT } from 'jose';
import { CardApiClient, CardApiError, generateDeviceKey, type DeviceKey } from '../../agent/sdk.ts';
import { parseCertificateObject } from '../../lambdas/core/piv/builders.ts';
import type { EnrolResult } from '../../lambdas/core/cards/cards.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS, testClock } from '../support/backends.ts';
import { cardAccessToken, dataOf, generalAuthenticate, getData, pkcs1Block, select, signatureOf, sw, verifyPin } from '../support/card-flows.ts';
import { startStackOn } from '../support/oidc-stack.ts';


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
    enrolled = await cards.enrol('demo', { username: 'alice', slots: ['9a', '9c', '9d'], slotAlgorithms: { '9c': 'p256', '9d': 'p256' }, pin: '24681357', puk: '86427531' });
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

  it('lists the user’s cards with public objects, signed by the tenant card CA', async () => {
    const list = await client.cards();
    expect(list.user).toBe('alice');
    const card = list.cards.find((c) => c.id === enrolled.card.id)!;
    expect(card.slots).toEqual([{ slot: '9a', algorithm: 'rsa2048' }, { slot: '9c', algorithm: 'p256' }, { slot: '9d', algorithm: 'p256' }]);
    expect(Object.keys(card.objects).sort()).toEqual(['5fc101', '5fc102', '5fc105', '5fc107', '5fc10a', '5fc10b', '5fc10c', '7e'].filter((t) => t !== '5fc101').sort());
    const header = JSON.parse(Buffer.from(list.signed.split('.')[0]!, 'base64url').toString()) as { x5c: string[] };
    const caPem = `-----BEGIN CERTIFICATE-----\n${header.x5c[0]}\n-----END CERTIFICATE-----`;
    const { payload } = await compactVerify(list.signed, await importX509(caPem, 'ES256'));
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
    const outcomes = await Promise.all([a, b].map((s) => client.transmit(s.session, select()).then(() => 'ok', (e: unknown) => (e as CardApiError).status)));
    expect(outcomes.sort()).toEqual([409, 'ok'].sort());
  });

  it('refuses a replayed challenge answer, a proof by another key, and a proof for another card', async () => {
    const base = `${issuer}/card/v1/cards/${enrolled.card.id}`;
    const post = (path: string, body: unknown) =>
      fetch(`${base}/${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const { nonce } = (await (await post('challenge', { deviceKey: device.publicJwk })).json()) as { nonce: string };
    const { CompactSign } = await import('jose');
    const sign = (key: DeviceKey, payload: object) =>
      new CompactSign(Buffer.from(JSON.stringify(payload))).setProtectedHeader({ alg: 'ES256', typ: 'cloudcard-session+jwt', jwk: key.publicJwk }).sign(key.privateKey);
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
      fetch(`${issuer}/card/v1/session/apdu`, { method: 'POST', headers: { Authorization: `CardSession ${opened.session}`, ...headers }, ...(body === undefined ? {} : { body }) });
    expect((await apdu(Buffer.from([0x00]), { 'Content-Type': 'application/octet-stream' })).status).toBe(200); // truncated: a status word, not a crash
    expect(sw(await client.transmit(opened.session, Uint8Array.from([0x00])))).toBe(0x6700);
    expect(sw(await client.transmit(opened.session, Uint8Array.from([0x00, 0xa4, 0x04, 0x00, 0x05, 0xa0])))).toBe(0x6700);
    expect((await apdu(undefined, { 'Content-Type': 'application/octet-stream' })).status).toBe(400);
    expect((await apdu('hello', { 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await apdu(JSON.stringify({ apdu: Buffer.from(select()).toString('base64') }), { 'Content-Type': 'application/json' })).status).toBe(200);
    const noSecret = await fetch(`${issuer}/card/v1/session/apdu`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: Buffer.from(select()) });
    expect(noSecret.status).toBe(401);
    const unknown = await fetch(`${issuer}/card/v1/session/apdu`, { method: 'POST', headers: { Authorization: `CardSession ${'A'.repeat(43)}`, 'Content-Type': 'application/octet-stream' }, body: Buffer.from(select()) });
    expect(unknown.status).toBe(401);
    expect(((await unknown.json()) as { type: string }).type).toBe('https://cloudcard.dev/problems/card-session-expired');
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
      new SignJWT({ preferred_username: 'alice', ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt().setExpirationTime('5m').sign(privateKey);
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
      await services.tenants.update('demo', { trustedIssuers: [{ issuer: 'https://idp.example.test', jwksUri: `http://127.0.0.1:${port}/jwks`, audience: 'cloudcard', userClaim: 'preferred_username' }] });
      const good = await tokensWith(await external({ iss: 'https://idp.example.test', aud: 'cloudcard' }));
      expect(good.status).toBe(200);
      expect(((await good.json()) as { user: string }).user).toBe('alice');
      expect((await tokensWith(await external({ iss: 'https://idp.example.test', aud: 'someone-else' }))).status).toBe(401);
      expect((await tokensWith(await external({ iss: 'https://idp.example.test', aud: 'cloudcard', preferred_username: 'mallory' }))).status).toBe(401);
    } finally {
      await services.tenants.update('demo', { trustedIssuers: [] });
      server.close();
    }
  });
});
