import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { constants, createHash, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { compactVerify, importJWK } from 'jose';
import { createKmsClient } from '../../lambdas/adapters/kms/client.ts';
import { KmsKeyCustody } from '../../lambdas/adapters/kms/key-custody.ts';
import { KmsSigner } from '../../lambdas/adapters/kms/signer.ts';
import { UnavailableError, ValidationError } from '../../lambdas/core/errors.ts';
import type { JwsAlgorithm, Signer } from '../../lambdas/ports.ts';
import { BACKENDS, openBackend, testClock, type Backend } from '../support/backends.ts';
import { freePort } from '../support/emulator.ts';

/** Builds a compact JWS with the signer under test, the way the token endpoint will. */
async function compactJws(signer: Signer, payload: Uint8Array): Promise<string> {
  const jwk = await signer.publicJwk();
  const header = Buffer.from(JSON.stringify({ alg: signer.algorithm, kid: jwk.kid, typ: 'JWT' })).toString('base64url');
  const input = `${header}.${Buffer.from(payload).toString('base64url')}`;
  const signature = await signer.sign(Buffer.from(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

describe.each(BACKENDS)('key adapters on the %s backend', (name) => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await openBackend(name, testClock());
  });
  afterAll(async () => backend.close());

  describe('key custody', () => {
    const context = { tenant: 'acme', card: 'card-1', slot: '9a' };
    const secret = createHash('sha256').update('a card private key').digest();

    it('wraps and unwraps under the same context', async () => {
      const wrapped = await backend.custody.wrap(secret, context);
      expect(Buffer.from(wrapped.blob, 'base64').includes(secret)).toBe(false);
      expect(Buffer.from(await backend.custody.unwrap(wrapped, context))).toEqual(secret);
    });

    it.each([
      ['another slot', { ...context, slot: '9c' }],
      ['another card', { ...context, card: 'card-2' }],
      ['another tenant', { ...context, tenant: 'evil' }],
    ])('refuses to unwrap under %s', async (_label, other) => {
      const wrapped = await backend.custody.wrap(secret, context);
      await expect(backend.custody.unwrap(wrapped, other)).rejects.toBeInstanceOf(ValidationError);
    });

    it('refuses a tampered blob', async () => {
      const wrapped = await backend.custody.wrap(secret, context);
      const blob = Buffer.from(wrapped.blob, 'base64');
      blob[blob.length - 20]! ^= 0x01;
      await expect(backend.custody.unwrap({ ...wrapped, blob: blob.toString('base64') }, context)).rejects.toBeInstanceOf(ValidationError);
    });

    it('refuses a blob from the other kind of custody', async () => {
      const wrapped = await backend.custody.wrap(secret, context);
      const foreign = { ...wrapped, provider: wrapped.provider === 'kms' ? ('local' as const) : ('kms' as const) };
      await expect(backend.custody.unwrap(foreign, context)).rejects.toBeInstanceOf(ValidationError);
    });

    it('is reachable', async () => {
      await expect(backend.custody.ping()).resolves.toBeUndefined();
    });
  });

  // moto 5.2.5 differs from KMS in two known ways (README, "Running the suites against LocalStack"). On
  // moto the cases below assert moto's actual behaviour precisely, so they still catch a regression in our
  // signer (wrong bytes, wrong message type, wrong digest); everywhere else they assert what KMS does.
  const onMoto = name === 'emulator' && process.env['CLOUDCARD_TEST_EMULATOR_KIND'] === 'moto';

  describe.each<JwsAlgorithm>(['RS256', 'PS256', 'ES256'])('signer %s', (algorithm) => {
    it('publishes a public JWK with a thumbprint kid', async () => {
      const jwk = await (await backend.signer(algorithm)).publicJwk();
      expect(jwk).toMatchObject({ alg: algorithm, use: 'sig', kty: algorithm === 'ES256' ? 'EC' : 'RSA' });
      expect(jwk.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(jwk).not.toHaveProperty('d');
    });

    if (onMoto && algorithm === 'PS256') {
      // moto signs RSASSA_PSS with the maximum salt length (emLen - hLen - 2 = 222 bytes for RSA 2048);
      // KMS and RFC 7518 use the digest length, 32 bytes, so jose (which requires 32) rejects it.
      it('on moto: signs the JWS input with PSS and the maximum salt length (moto gap)', async () => {
        const signer = await backend.signer(algorithm);
        const input = Buffer.from(`${Buffer.from('{"alg":"PS256"}').toString('base64url')}.${Buffer.from('{"sub":"alice"}').toString('base64url')}`);
        const signature = await signer.sign(input);
        const key = await publicKeyOf(signer);
        const pss = (saltLength: number) => ({ key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
        expect(verify('sha256', input, pss(256 - 32 - 2), signature)).toBe(true);
        expect(verify('sha256', input, pss(32), signature)).toBe(false);
        expect(verify('sha256', Buffer.from('other bytes'), pss(256 - 32 - 2), signature)).toBe(false);
      });
    } else {
      it('signs a JWS that verifies with its published JWK', async () => {
        const signer = await backend.signer(algorithm);
        const jwk = await signer.publicJwk();
        const jws = await compactJws(signer, Buffer.from(JSON.stringify({ sub: 'alice' })));
        const { payload, protectedHeader } = await compactVerify(jws, await importJWK(jwk, algorithm));
        expect(protectedHeader.kid).toBe(jwk.kid);
        expect(JSON.parse(Buffer.from(payload).toString())).toEqual({ sub: 'alice' });
      });
    }

    it('does not verify a signature over other bytes', async () => {
      const signer = await backend.signer(algorithm);
      const jws = await compactJws(signer, Buffer.from('{"sub":"alice"}'));
      const [h, , s] = jws.split('.');
      const forged = `${h}.${Buffer.from('{"sub":"mallory"}').toString('base64url')}.${s}`;
      await expect(compactVerify(forged, await importJWK(await signer.publicJwk(), algorithm))).rejects.toThrow();
    });
  });

  // Inputs over KMS's 4096-byte RAW limit are sent as MessageType=DIGEST with Message = SHA-256(input).
  if (onMoto) {
    // moto ignores MessageType=DIGEST (its PR #10202 is unmerged) and signs the 32-byte digest as a raw
    // message, hashing it again: the signature covers SHA-256(SHA-256(input)).
    it('on moto: signs a large input as SHA-256(SHA-256(input)), having been sent the digest (moto gap)', async () => {
      const signer = await backend.signer('RS256');
      const input = Buffer.alloc(6000, 0x61);
      const signature = await signer.sign(input);
      const key = await publicKeyOf(signer);
      const digest = createHash('sha256').update(input).digest();
      expect(verify('sha256', digest, key, signature)).toBe(true);
      expect(verify('sha256', input, key, signature)).toBe(false);
    });
  } else {
    it('signs inputs larger than 4096 bytes (sent to KMS as a digest)', async () => {
      const signer = await backend.signer('RS256');
      const jws = await compactJws(signer, Buffer.alloc(6000, 0x61));
      await expect(compactVerify(jws, await importJWK(await signer.publicJwk(), 'RS256'))).resolves.toBeDefined();
    });
  }

  it('signs inputs of exactly 4096 bytes as a raw message, verifiable as such on every backend', async () => {
    const signer = await backend.signer('RS256');
    const input = Buffer.alloc(4096, 0x62);
    expect(verify('sha256', input, await publicKeyOf(signer), await signer.sign(input))).toBe(true);
  });
});

async function publicKeyOf(signer: Signer): Promise<KeyObject> {
  const { kid: _kid, alg: _alg, use: _use, ...jwk } = await signer.publicJwk();
  return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
}

describe('KMS adapters when KMS is unreachable', () => {
  it('report UnavailableError for wrap, unwrap, sign and ping', async () => {
    const port = await freePort();
    const kms = createKmsClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const custody = new KmsKeyCustody(kms, 'arn:aws:kms:us-east-1:000000000000:key/nope');
    const signer = new KmsSigner(kms, 'arn:aws:kms:us-east-1:000000000000:key/nope');
    const context = { tenant: 't', card: 'c', slot: '9a' };
    await expect(custody.wrap(Buffer.from('k'), context)).rejects.toBeInstanceOf(UnavailableError);
    await expect(custody.unwrap({ provider: 'kms', keyId: 'x', blob: 'AAAA' }, context)).rejects.toBeInstanceOf(UnavailableError);
    await expect(signer.sign(Buffer.from('x'))).rejects.toBeInstanceOf(UnavailableError);
    await expect(signer.publicJwk()).rejects.toBeInstanceOf(UnavailableError);
    await expect(custody.ping()).rejects.toBeInstanceOf(UnavailableError);
    kms.destroy();
  });

  it('give up on a KMS that accepts connections but never answers within the Lambda budget', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const kms = createKmsClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const started = Date.now();
    try {
      await expect(new KmsSigner(kms, 'arn:aws:kms:us-east-1:000000000000:key/silent').sign(Buffer.from('x'))).rejects.toBeInstanceOf(UnavailableError);
      expect(Date.now() - started).toBeLessThan(7_000);
    } finally {
      kms.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
