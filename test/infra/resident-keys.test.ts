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
    ...(call.action === 'kms:CreateKey' ? { 'kms:KeySpec': input['KeySpec'], 'kms:KeyUsage': input['KeyUsage'], 'kms:KeyOrigin': input['Origin'] ?? 'AWS_KMS' } : {}),
    ...(input['SigningAlgorithm'] ? { 'kms:SigningAlgorithm': input['SigningAlgorithm'] } : {}),
    ...(input['KeyAgreementAlgorithm'] ? { 'kms:KeyAgreementAlgorithm': input['KeyAgreementAlgorithm'] } : {}),
    ...(call.action === 'kms:CreateKey' ? {} : Object.fromEntries(Object.entries(keyTags).map(([k, v]) => [`aws:ResourceTag/${k}`, v]))),
  };
}

/** StringEquals and ForAllValues:StringEquals, the only operators the grants use. */
function conditionsHold(condition: Json | undefined, context: Record<string, string | string[]>): boolean {
  for (const [operator, keys] of Object.entries(condition ?? {})) {
    for (const [key, expected] of Object.entries(keys as Json)) {
      const allowed = [expected].flat() as string[];
      const actual = context[key];
      if (operator === 'StringEquals') {
        if (typeof actual !== 'string' || !allowed.includes(actual)) return false;
      } else if (operator === 'ForAllValues:StringEquals') {
        if (actual !== undefined && ![actual].flat().every((v) => allowed.includes(v))) return false;
      } else {
        throw new Error(`operator ${operator} is not modelled here`);
      }
    }
  }
  return true;
}

/** Which resources a statement names: a resident key is "a key of the account", never the stack's own keys. */
const coversResidentKey = (resources: unknown[]): boolean =>
  resources.some((r) => r === '*' || JSON.stringify(r) === JSON.stringify(ANY_KEY_IN_ACCOUNT));

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
    byContext = Object.fromEntries(['card', 'admin', 'oidc', 'saml', 'portal'].map((c) => [c, roleStatements(template, role(c)).filter((st) => st.actions.some((a) => a.startsWith('kms:')))]));
    ownKeys = [getAttArn(logicalIdByPath(template, 'AWS::KMS::Key', '/Keys/CardKek/Resource')), getAttArn(logicalIdByPath(template, 'AWS::KMS::Key', '/Keys/SigningKey/Resource'))];
  });

  /** Runs every adapter operation a card's life needs: CA key and card keys made, used, destroyed. */
  async function cardLifecycle(): Promise<{ calls: Captured[]; tagsOf: (call: Captured) => Record<string, string> }> {
    const { client, calls } = recordingKms();
    const keys = new KmsResidentKeys(client, residentKeyStackTag(stage));
    const slots = new ResidentSlotKeys(keys);
    const ca = await keys.create('ECC_NIST_P256', { tenant: 'acme', purpose: 'card-ca' });
    await keys.signMessage(ca.keyId, 'ECDSA_SHA_256', new Uint8Array(100));
    const signing = await slots.generate('rsa2048', { tenant: 'acme', card: 'card-1', slot: '9a' });
    const agreement = await slots.generate('p256', { tenant: 'acme', card: 'card-1', slot: '9d' });
    const block = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(202, 0xff), Buffer.from([0]), Buffer.from('3031300d060960864801650304020105000420', 'hex'), Buffer.alloc(32, 7)]);
    await slots.operate(signing.record, { tenant: 'acme', card: 'card-1', slot: '9a' }, 'rsa2048', { kind: 'rsa-raw', block });
    const peer = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(peer.x!, 'base64url'), Buffer.from(peer.y!, 'base64url')]);
    await slots.operate(agreement.record, { tenant: 'acme', card: 'card-1', slot: '9d' }, 'p256', { kind: 'ecdh', peerPoint: point });
    await slots.destroy(signing.record);
    // Every key the adapter made carries the tags it asked for at CreateKey.
    const tags = new Map<string, Record<string, string>>();
    calls.forEach((call, index) => {
      if (call.action === 'kms:CreateKey') tags.set(`key-${index + 1}`, Object.fromEntries((call.input['Tags'] as { TagKey: string; TagValue: string }[]).map((t) => [t.TagKey, t.TagValue])));
    });
    return { calls, tagsOf: (call) => tags.get(call.input['KeyId'] as string) ?? {} };
  }

  it.each(['card', 'admin'])('lets %s make every request of a card’s life, and only with this stage’s tag', async (context) => {
    const { calls, tagsOf } = await cardLifecycle();
    expect([...new Set(calls.map((c) => c.action))].sort()).toEqual(['kms:CreateKey', 'kms:DeriveSharedSecret', 'kms:GetPublicKey', 'kms:ScheduleKeyDeletion', 'kms:Sign']);
    const statements = byContext[context]!;
    for (const call of calls) {
      expect({ action: call.action, allowed: allowed(statements, call, tagsOf(call)) }).toEqual({ action: call.action, allowed: true });
      // CreateKey with tags is also authorized as TagResource on no particular key.
      if (call.action === 'kms:CreateKey') expect(allowed(statements, { ...call, action: 'kms:TagResource' }, {})).toBe(true);
    }
    // The same requests for another stage's keys, or with a tag more, are refused.
    const create = calls.find((c) => c.action === 'kms:CreateKey')!;
    const otherStage = { ...create, input: { ...create.input, Tags: (create.input['Tags'] as Json[]).map((t) => (t['TagKey'] === 'cloudcard:stack' ? { ...t, TagValue: 'cloudcard-prod' } : t)) } };
    expect(allowed(statements, otherStage, {})).toBe(false);
    expect(allowed(statements, { ...otherStage, action: 'kms:TagResource' }, {})).toBe(false);
    const extraTag = { ...create, input: { ...create.input, Tags: [...(create.input['Tags'] as Json[]), { TagKey: 'owner', TagValue: 'x' }] } };
    expect(allowed(statements, extraTag, {})).toBe(false);
    expect(allowed(statements, { ...create, input: { ...create.input, KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' } }, {})).toBe(false);
    const sign = calls.find((c) => c.action === 'kms:Sign')!;
    expect(allowed(statements, sign, { 'cloudcard:stack': 'cloudcard-prod' })).toBe(false);
    expect(allowed(statements, sign, {})).toBe(false);
    expect(allowed(statements, { ...sign, input: { ...sign.input, SigningAlgorithm: 'RSASSA_PSS_SHA_256' } }, tagsOf(sign))).toBe(false);
    const destroy = calls.find((c) => c.action === 'kms:ScheduleKeyDeletion')!;
    expect(allowed(statements, destroy, { 'cloudcard:stack': 'Cloudcard-dev' })).toBe(false); // the HSM key's tag value
    // The stack's own keys are denied to tagging and deletion whatever their tags.
    const deny = statements.filter((st) => st.Effect === 'Deny');
    expect(deny.flatMap((st) => st.resources)).toEqual(ownKeys);
  });

  it.each(['oidc', 'saml', 'portal'])('lets %s make none of them', async (context) => {
    const { calls, tagsOf } = await cardLifecycle();
    for (const call of calls) expect(allowed(byContext[context]!, call, tagsOf(call))).toBe(false);
  });
});
