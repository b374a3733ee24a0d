import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
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

  const onMoto = name === 'emulator' && process.env['CLOUDCARD_TEST_EMULATOR_KIND'] === 'moto';

  describe.each<JwsAlgorithm>(['RS256', 'PS256', 'ES256'])('signer %s', (algorithm) => {
    // moto 5.2.5 signs RSASSA_PSS with the maximum salt length; KMS and RFC 7518 use the digest length
    // (32 bytes), so PS256 from moto does not verify. Expected to fail there until moto matches KMS.
    const verifiable = onMoto && algorithm === 'PS256' ? it.failing : it;
    verifiable('signs a JWS that verifies with its published JWK', async () => {
      const signer = await backend.signer(algorithm);
      const jwk = await signer.publicJwk();
      expect(jwk).toMatchObject({ alg: algorithm, use: 'sig', kty: algorithm === 'ES256' ? 'EC' : 'RSA' });
      expect(jwk.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(jwk).not.toHaveProperty('d');
      const jws = await compactJws(signer, Buffer.from(JSON.stringify({ sub: 'alice' })));
      const { payload, protectedHeader } = await compactVerify(jws, await importJWK(jwk, algorithm));
      expect(protectedHeader.kid).toBe(jwk.kid);
      expect(JSON.parse(Buffer.from(payload).toString())).toEqual({ sub: 'alice' });
    });

    it('does not verify a signature over other bytes', async () => {
      const signer = await backend.signer(algorithm);
      const jws = await compactJws(signer, Buffer.from('{"sub":"alice"}'));
      const [h, , s] = jws.split('.');
      const forged = `${h}.${Buffer.from('{"sub":"mallory"}').toString('base64url')}.${s}`;
      await expect(compactVerify(forged, await importJWK(await signer.publicJwk(), algorithm))).rejects.toThrow();
    });
  });

  // Inputs over KMS's 4096-byte RAW limit are sent as MessageType=DIGEST. moto 5.2.5 hashes the digest
  // again (its PR #10202 is unmerged), so on moto this case is expected to fail until that fix ships.
  const digestCase = onMoto ? it.failing : it;
  digestCase('signs inputs larger than 4096 bytes (sent to KMS as a digest)', async () => {
    const signer = await backend.signer('RS256');
    const jws = await compactJws(signer, Buffer.alloc(6000, 0x61));
    await expect(compactVerify(jws, await importJWK(await signer.publicJwk(), 'RS256'))).resolves.toBeDefined();
  });
});

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
});
