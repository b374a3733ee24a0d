import { beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { KmsResidentKeys, residentKeyStackTag } from '../../lambdas/adapters/kms/resident-keys.ts';
import { ResidentSlotKeys } from '../../lambdas/core/cards/slot-keys.ts';
import { ANY_KEY_IN_ACCOUNT } from './expected.ts';
import { getAttArn, logicalIdByPath, roleStatements, synth, type Json, type Statement } from './support.ts';

/**
 * IAM cannot be exercised on the emulator, so this checks the other side of the contract: every KMS
 * request the resident-key adapter makes (captured from a recording client) is allowed by the card and
 * admin roles' synthesized statements, conditions evaluated, and changed requests are not.
 */

interface Captured {
  readonly action: string;
  readonly input: Json;
}

/** Records each command and answers what KMS would, so the adapter runs its real request-building code. */
function recordingKms(): { client: KMSClient; calls: Captured[] } {
  const calls: Captured[] = [];
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
  const client = {
    send: async (command: { constructor: { name: string }; input: Json }) => {
      const action = `kms:${command.constructor.name.replace(/Command$/, '')}`;
      calls.push({ action, input: command.input });
      switch (action) {
        case 'kms:CreateKey':
          return { KeyMetadata: { KeyId: `key-${calls.length}` } };
        case 'kms:GetPublicKey':
          return { PublicKey: new Uint8Array(ec) };
        case 'kms:Sign':
          return { Signature: new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]) };
        case 'kms:DeriveSharedSecret':
          return { SharedSecret: new Uint8Array(32) };
        default:
          return {};
      }
    },
  } as unknown as KMSClient;
  return { client, calls };
}

/** The IAM request context of a captured call, as KMS documents its condition keys. */
function requestContext(call: Captured, keyTags: Record<string, string>): Record<string, string | string[]> {
  const input = call.input;
  const tags = (input['Tags'] as { TagKey: string; TagValue: string }[] | undefined) ?? [];
  return {
    ...(tags.length ? { 'aws:TagKeys': tags.map((t) => t.TagKey) } : {}),
    ...Object.fromEntries(tags.map((t) => [`aws:RequestTag/${t.TagKey}`, t.TagValue])),
    ...(call.action === 'kms:CreateKey'
      ? { 'kms:KeySpec': input['KeySpec'], 'kms:KeyUsage': input['KeyUsage'], 'kms:KeyOrigin': input['Origin'] ?? 'AWS_KMS' }
      : {}),
    ...(input['SigningAlgorithm'] ? { 'kms:SigningAlgorithm': input['SigningAlgorithm'] } : {}),
    ...(input['KeyAgreementAlgorithm'] ? { 'kms:KeyAgreementAlgorithm': input['KeyAgreementAlgorithm'] } : {}),
    ...(call.action === 'kms:CreateKey' ? {} : Object.fromEntries(Object.entries(keyTags).map(([k, v]) => [`aws:ResourceTag/${k}`, v]))),
  };
}

/** StringEquals, ForAllValues:StringEquals and Null, the only operators the grants use. */
function conditionsHold(condition: Json | undefined, context: Record<string, string | string[]>): boolean {
  for (const [operator, keys] of Object.entries(condition ?? {})) {
    for (const [key, expected] of Object.entries(keys as Json)) {
      const allowed = [expected].flat() as string[];
      const actual = context[key];
      if (operator === 'StringEquals') {
        if (typeof actual !== 'string' || !allowed.includes(actual)) return false;
      } else if (operator === 'ForAllValues:StringEquals') {
        if (actual !== undefined && ![actual].flat().every((v) => allowed.includes(v))) return false;
      } else if (operator === 'Null') {
        if ((actual === undefined) !== (expected === 'true')) return false;
      } else {
        throw new Error(`operator ${operator} is not modelled here`);
      }
    }
  }
  return true;
}

/** Which resources a statement names: a resident key is "a key of the account", never the stack's own keys. */
const coversResidentKey = (resources: unknown[]): boolean => resources.some((r) => r === '*' || JSON.stringify(r) === JSON.stringify(ANY_KEY_IN_ACCOUNT));

function allowed(statements: Statement[], call: Captured, keyTags: Record<string, string>): boolean {
  const context = requestContext(call, keyTags);
  const matches = (st: Statement) => st.actions.includes(call.action) && coversResidentKey(st.resources) && conditionsHold(st.Condition, context);
  return statements.some((st) => st.Effect === 'Allow' && matches(st)) && !statements.some((st) => st.Effect === 'Deny' && matches(st));
}

describe('resident-key grants against the requests KmsResidentKeys makes', () => {
  const stage = 'dev';
  let byContext: Record<string, Statement[]>;
  let ownKeys: unknown[];

  beforeAll(() => {
    const { template } = synth();
    const role = (c: string) => logicalIdByPath(template, 'AWS::IAM::Role', `/Functions/${c[0]!.toUpperCase()}${c.slice(1)}/Role/Resource`);
    byContext = Object.fromEntries(
      ['card', 'admin', 'oidc', 'saml', 'portal'].map((c) => [
        c,
        roleStatements(template, role(c)).filter((st) => st.actions.some((a) => a.startsWith('kms:'))),
      ]),
    );
    ownKeys = ['CardKek', 'SigningKey', 'CardSessionKey', 'CardPinKey'].map((name) =>
      getAttArn(logicalIdByPath(template, 'AWS::KMS::Key', `/Keys/${name}/Resource`)),
    );
  });

  /** Runs the adapter, recording its requests; every key it made carries the tags it asked for at CreateKey. */
  async function recorded(
    run: (keys: KmsResidentKeys, slots: ResidentSlotKeys) => Promise<void>,
  ): Promise<{ calls: Captured[]; tagsOf: (call: Captured) => Record<string, string> }> {
    const { client, calls } = recordingKms();
    const keys = new KmsResidentKeys(client, residentKeyStackTag(stage));
    await run(keys, new ResidentSlotKeys(keys));
    const tags = new Map<string, Record<string, string>>();
    calls.forEach((call, index) => {
      if (call.action === 'kms:CreateKey')
        tags.set(`key-${index + 1}`, Object.fromEntries((call.input['Tags'] as { TagKey: string; TagValue: string }[]).map((t) => [t.TagKey, t.TagValue])));
    });
    return { calls, tagsOf: (call) => tags.get(call.input['KeyId'] as string) ?? {} };
  }

  const context9a = { tenant: 'acme', card: 'card-1', slot: '9a' };
  const context9d = { tenant: 'acme', card: 'card-1', slot: '9d' };
  const block = Buffer.concat([
    Buffer.from([0, 1]),
    Buffer.alloc(202, 0xff),
    Buffer.from([0]),
    Buffer.from('3031300d060960864801650304020105000420', 'hex'),
    Buffer.alloc(32, 7),
  ]);
  const peerPoint = (): Buffer => {
    const peer = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    return Buffer.concat([Buffer.from([4]), Buffer.from(peer.x!, 'base64url'), Buffer.from(peer.y!, 'base64url')]);
  };

  /** What the admin function does: the tenant CA and card-list keys, certificates signed by the CA, card keys made and destroyed. */
  const adminLife = () =>
    recorded(async (keys, slots) => {
      const ca = await keys.create('ECC_NIST_P256', { tenant: 'acme', purpose: 'card-ca' });
      const list = await keys.create('ECC_NIST_P256', { tenant: 'acme', purpose: 'card-list' });
      await keys.signMessage(ca.keyId, 'ECDSA_SHA_256', new Uint8Array(100), 'card-ca');
      const signing = await slots.generate('rsa2048', context9a);
      await slots.generate('p256', context9d);
      await slots.destroy(signing.record);
      await keys.destroy(list.keyId); // a lost creation race
    });

  /** What the card function does: GENERATE makes and replaces card keys, which sign and agree; lists are signed by the card-list key. */
  const cardLife = () =>
    recorded(async (keys, slots) => {
      const signing = await slots.generate('rsa2048', context9a);
      const agreement = await slots.generate('p256', context9d);
      await slots.operate(signing.record, context9a, 'rsa2048', { kind: 'rsa-raw', block });
      await slots.operate(agreement.record, context9d, 'p256', { kind: 'ecdh', peerPoint: peerPoint() });
      await slots.destroy(signing.record);
    });

  const purposeTags = (purpose: string) => ({ 'cloudcard:stack': 'cloudcard-dev', 'cloudcard:tenant': 'acme', 'cloudcard:purpose': purpose });
  const signCall = (keyId: string): Captured => ({
    action: 'kms:Sign',
    input: { KeyId: keyId, SigningAlgorithm: 'ECDSA_SHA_256', MessageType: 'RAW', Message: new Uint8Array(10) },
  });

  it.each([
    ['admin', adminLife],
    ['card', cardLife],
  ] as const)('lets %s make every request of its part in a card’s life, and only with this stage’s tag', async (context, life) => {
    const { calls, tagsOf } = await life();
    const statements = byContext[context]!;
    for (const call of calls) {
      expect({ action: call.action, allowed: allowed(statements, call, tagsOf(call)) }).toEqual({ action: call.action, allowed: true });
      // CreateKey with tags is also authorized as TagResource on no particular key.
      if (call.action === 'kms:CreateKey') expect(allowed(statements, { ...call, action: 'kms:TagResource' }, {})).toBe(true);
    }
    // The same requests for another stage's keys, or with a tag more, are refused.
    const create = calls.find((c) => c.action === 'kms:CreateKey')!;
    const otherStage = {
      ...create,
      input: {
        ...create.input,
        Tags: (create.input['Tags'] as Json[]).map((t) => (t['TagKey'] === 'cloudcard:stack' ? { ...t, TagValue: 'cloudcard-prod' } : t)),
      },
    };
    expect(allowed(statements, otherStage, {})).toBe(false);
    expect(allowed(statements, { ...otherStage, action: 'kms:TagResource' }, {})).toBe(false);
    const extraTag = { ...create, input: { ...create.input, Tags: [...(create.input['Tags'] as Json[]), { TagKey: 'owner', TagValue: 'x' }] } };
    expect(allowed(statements, extraTag, {})).toBe(false);
    expect(allowed(statements, { ...create, input: { ...create.input, KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' } }, {})).toBe(false);
    const sign = calls.find((c) => c.action === 'kms:Sign')!;
    expect(allowed(statements, sign, { ...tagsOf(sign), 'cloudcard:stack': 'cloudcard-prod' })).toBe(false);
    expect(allowed(statements, sign, {})).toBe(false);
    expect(allowed(statements, { ...sign, input: { ...sign.input, SigningAlgorithm: 'RSASSA_PSS_SHA_256' } }, tagsOf(sign))).toBe(false);
    const destroy = calls.find((c) => c.action === 'kms:ScheduleKeyDeletion')!;
    expect(allowed(statements, destroy, { 'cloudcard:stack': 'Cloudcard-dev' })).toBe(false); // the HSM key's tag value
    // An existing key is never re-tagged (a CA key re-tagged as a card key would become signable).
    const retag: Captured = {
      action: 'kms:TagResource',
      input: {
        KeyId: 'key-ca',
        Tags: [
          { TagKey: 'cloudcard:stack', TagValue: 'cloudcard-dev' },
          { TagKey: 'cloudcard:purpose', TagValue: 'card-key' },
        ],
      },
    };
    expect(allowed(statements, retag, purposeTags('card-ca'))).toBe(false);
    // The stack's own keys are denied to tagging and deletion whatever their tags.
    const deny = statements.filter((st) => st.Effect === 'Deny' && !st.Condition);
    const order = (list: unknown[]) => list.map((r) => JSON.stringify(r)).sort();
    expect(order(deny.flatMap((st) => st.resources))).toEqual(order(ownKeys));
  });

  it('lets the card function sign with card keys and the card-list key, never with a CA key', () => {
    const card = byContext['card']!;
    expect(allowed(card, signCall('key-card'), purposeTags('card-key'))).toBe(true);
    expect(allowed(card, signCall('key-list'), purposeTags('card-list'))).toBe(true);
    // A slot pointed at the tenant CA key signs nothing: the card API is no CA signing oracle.
    expect(allowed(card, signCall('key-ca'), purposeTags('card-ca'))).toBe(false);
    expect(allowed(card, signCall('key-old'), { 'cloudcard:stack': 'cloudcard-dev', 'cloudcard:purpose': 'card:abc:9a:sign' })).toBe(false);
    expect(allowed(card, { action: 'kms:DeriveSharedSecret', input: { KeyId: 'key-ca', KeyAgreementAlgorithm: 'ECDH' } }, purposeTags('card-ca'))).toBe(false);
    expect(allowed(card, { action: 'kms:DeriveSharedSecret', input: { KeyId: 'key-list', KeyAgreementAlgorithm: 'ECDH' } }, purposeTags('card-list'))).toBe(
      false,
    );
    // Nor may it make a CA or card-list key of its own, or destroy one.
    const createAs = (purpose: string): Captured => ({
      action: 'kms:CreateKey',
      input: {
        KeySpec: 'ECC_NIST_P256',
        KeyUsage: 'SIGN_VERIFY',
        Tags: Object.entries(purposeTags(purpose)).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
      },
    });
    expect(allowed(card, createAs('card-key'), {})).toBe(true);
    expect(allowed(card, createAs('card-ca'), {})).toBe(false);
    expect(allowed(card, createAs('card-list'), {})).toBe(false);
    expect(allowed(card, { action: 'kms:ScheduleKeyDeletion', input: { KeyId: 'key-ca' } }, purposeTags('card-ca'))).toBe(false);
  });

  it('lets the admin function sign with the CA key and the card-list key (PIV content signing), never with a card key', () => {
    const admin = byContext['admin']!;
    expect(allowed(admin, signCall('key-ca'), purposeTags('card-ca'))).toBe(true);
    expect(allowed(admin, signCall('key-card'), purposeTags('card-key'))).toBe(false);
    expect(allowed(admin, signCall('key-list'), purposeTags('card-list'))).toBe(true);
    expect(allowed(admin, { action: 'kms:DeriveSharedSecret', input: { KeyId: 'key-card', KeyAgreementAlgorithm: 'ECDH' } }, purposeTags('card-key'))).toBe(
      false,
    );
  });

  it.each(['oidc', 'saml', 'portal'])('lets %s make none of them', async (context) => {
    for (const life of [adminLife, cardLife]) {
      const { calls, tagsOf } = await life();
      for (const call of calls) expect(allowed(byContext[context]!, call, tagsOf(call))).toBe(false);
    }
  });
});
