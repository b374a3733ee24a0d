import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import { KmsSigner } from '../../lambdas/adapters/kms/signer.ts';
import { UnavailableError } from '../../lambdas/core/errors.ts';
import type { JwsAlgorithm } from '../../lambdas/ports.ts';

/** A stand-in KMS client: records every command and answers Sign with a fixed signature. */
function fakeKms(answer: (command: unknown) => unknown = () => ({ Signature: new Uint8Array([1, 2, 3]) })) {
  const sent: unknown[] = [];
  const client = {
    send: async (command: unknown) => {
      sent.push(command);
      return answer(command);
    },
  };
  return { client: client as unknown as KMSClient, sent };
}

const signInput = (sent: unknown[]) => {
  expect(sent).toHaveLength(1);
  expect(sent[0]).toBeInstanceOf(SignCommand);
  return (sent[0] as SignCommand).input;
};

describe('KmsSigner (what it sends to KMS)', () => {
  it.each<[JwsAlgorithm, string]>([
    ['RS256', 'RSASSA_PKCS1_V1_5_SHA_256'],
    ['PS256', 'RSASSA_PSS_SHA_256'],
  ])('sends inputs up to 4096 bytes as a RAW message (%s as %s)', async (algorithm, kmsAlgorithm) => {
    for (const length of [0, 1, 4096]) {
      const { client, sent } = fakeKms();
      const data = Buffer.alloc(length, 0x61);
      await new KmsSigner(client, 'key-arn', algorithm).sign(data);
      const input = signInput(sent);
      expect(input).toMatchObject({ KeyId: 'key-arn', SigningAlgorithm: kmsAlgorithm, MessageType: 'RAW' });
      expect(Buffer.from(input.Message!)).toEqual(data);
    }
  });

  it.each([4097, 6000, 1024 * 1024])('sends a %i-byte input as a DIGEST whose message is SHA-256(input)', async (length) => {
    const { client, sent } = fakeKms();
    const data = Buffer.alloc(length, 0x62);
    data[length - 1] = 0x63;
    await new KmsSigner(client, 'key-arn', 'RS256').sign(data);
    const input = signInput(sent);
    expect(input).toMatchObject({ KeyId: 'key-arn', SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256', MessageType: 'DIGEST' });
    expect(Buffer.from(input.Message!)).toEqual(createHash('sha256').update(data).digest());
  });

  it('returns the RSA signature as KMS gave it', async () => {
    const { client } = fakeKms();
    expect(Buffer.from(await new KmsSigner(client, 'k', 'RS256').sign(Buffer.from('x')))).toEqual(Buffer.from([1, 2, 3]));
  });

  it('turns a KMS failure into UnavailableError', async () => {
    const { client } = fakeKms(() => {
      throw Object.assign(new Error('boom'), { name: 'KMSInternalException' });
    });
    await expect(new KmsSigner(client, 'k', 'RS256').sign(Buffer.from('x'))).rejects.toBeInstanceOf(UnavailableError);
  });
});
