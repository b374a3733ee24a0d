import { createHash } from 'node:crypto';
import { buildCommand } from '../../lambdas/core/piv/apdu.ts';
import { decodeOne } from '../../lambdas/core/piv/tlv.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { authorizeWithLogin, pkce, postForm, RP_REDIRECT, basic, type RegisteredClient } from './oidc-flows.ts';

export const PIV_AID = Uint8Array.from([0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00]);

/**
 * A user access token with the `card` scope: a real authorization-code + PKCE sign-in as alice, through a
 * client the operator made (the `card` scope is never given to self-registered clients).
 */
export async function cardAccessToken(stack: LocalStack, scope = 'openid card', tenant = 'demo'): Promise<string> {
  const issuer = `${stack.url}/t/${tenant}`;
  const issued = await directoryServices(stack.runtime).clients.create(
    tenant,
    { client_name: 'card test RP', redirect_uris: [RP_REDIRECT], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid card offline_access' },
    'admin',
  );
  const client: RegisteredClient = { client_id: issued.client.client_id, client_secret: issued.clientSecret! };
  const { verifier, challenge } = pkce();
  const callback = await authorizeWithLogin(issuer, { client_id: client.client_id, scope, code_challenge: challenge, code_challenge_method: 'S256' });
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code: ${callback.toString()}`);
  const token = await postForm(
    `${issuer}/oidc/token`,
    { grant_type: 'authorization_code', code, redirect_uri: RP_REDIRECT, code_verifier: verifier },
    { Authorization: basic(client) },
  );
  if (token.status !== 200) throw new Error(`token exchange failed: ${JSON.stringify(token.body)}`);
  return String(token.body['access_token']);
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
export const sw = (response: Uint8Array): number => (response[response.length - 2]! << 8) | response[response.length - 1]!;
export const dataOf = (response: Uint8Array): Uint8Array => response.subarray(0, response.length - 2);

export const select = (): Uint8Array => buildCommand({ ins: 0xa4, p1: 0x04, p2: 0x00 }, PIV_AID, 256);
export const verifyPin = (pin: string): Uint8Array => {
  const padded = Buffer.alloc(8, 0xff);
  padded.write(pin, 'ascii');
  return buildCommand({ ins: 0x20, p1: 0x00, p2: 0x80 }, padded);
};
export const getData = (tag: number): Uint8Array => {
  const tagBytes = tag > 0xffff ? [tag >> 16, (tag >> 8) & 0xff, tag & 0xff] : tag > 0xff ? [tag >> 8, tag & 0xff] : [tag];
  return buildCommand({ ins: 0xcb, p1: 0x3f, p2: 0xff }, Uint8Array.from([0x5c, tagBytes.length, ...tagBytes]), 65536, { extended: true });
};

/** GENERAL AUTHENTICATE asking for a signature over `input` (a padded RSA block, or an EC digest). */
export const generalAuthenticate = (algorithm: number, slot: number, input: Uint8Array): Uint8Array => {
  const challenge = Buffer.concat([Buffer.from([0x81]), encodeLength(input.length), input]);
  const inner = Buffer.concat([Buffer.from([0x82, 0x00]), challenge]);
  const body = Buffer.concat([Buffer.from([0x7c]), encodeLength(inner.length), inner]);
  return buildCommand({ ins: 0x87, p1: algorithm, p2: slot }, body, 65536, { extended: true });
};

/** The signature (tag 82) inside a GENERAL AUTHENTICATE response template (7C). */
export function signatureOf(response: Uint8Array): Uint8Array {
  const template = decodeOne(dataOf(response));
  if (!template || template.tag !== 0x7c) throw new Error(`not a 7C template: ${hex(response)}`);
  const inner = decodeOne(template.value);
  if (!inner || inner.tag !== 0x82) throw new Error(`no 82 in template: ${hex(template.value)}`);
  return inner.value;
}

/** EMSA-PKCS1-v1_5 encoding of a SHA-256 digest for a modulus of `bytes` length (what OpenSC sends for 9A). */
export function pkcs1Block(message: Uint8Array, bytes: number): Uint8Array {
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(message).digest()]);
  const padding = Buffer.alloc(bytes - digestInfo.length - 3, 0xff);
  return Buffer.concat([Buffer.from([0x00, 0x01]), padding, Buffer.from([0x00]), digestInfo]);
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  if (length <= 0xff) return Buffer.from([0x81, length]);
  return Buffer.from([0x82, length >> 8, length & 0xff]);
}
