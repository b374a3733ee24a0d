import { describe, expect, it } from '@jest/globals';
import { UnsecuredJWT } from 'jose';
import { authenticateClient, CLIENT_ASSERTION_TYPE, type ClientAuthRequest } from '../../lambdas/core/oidc/client-auth.ts';
import { OAuthError } from '../../lambdas/core/oidc/errors.ts';

/**
 * The checks that need no store: which method a request used and whether it is well-formed. The fakes
 * record lookups so a request that must fail structurally is shown never to reach the directory.
 * Authentication against registered clients runs on the real stores in test/integration/oidc-replay.test.ts.
 */
const NOW = 1_800_000_000;
const lookups: string[] = [];
const deps = {
  clients: {
    find: async (_tenant: string, clientId: string) => {
      lookups.push(clientId);
      return undefined;
    },
    verifySecret: async () => {
      throw new Error('verifySecret must not be reached');
    },
  },
  replay: {
    firstUse: async (): Promise<boolean> => {
      throw new Error('the replay cache must not be reached');
    },
  },
  clock: { now: () => NOW * 1000 },
  keys: {
    resolver: () => {
      throw new Error('the client keys must not be reached');
    },
  },
};

const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="cloudcard", error="invalid_client"' };
const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;
const request = (form: Record<string, string>, authorization?: string): ClientAuthRequest => ({
  tenant: 'demo',
  form,
  audiences: ['https://id.example.com/t/demo/oidc/token', 'https://id.example.com/t/demo'],
  ...(authorization !== undefined ? { authorization } : {}),
});
const assertion = (claims: Record<string, unknown>) =>
  new UnsecuredJWT({ iss: 'client-one', sub: 'client-one', aud: 'https://id.example.com/t/demo', exp: NOW + 60, jti: 'j-1', ...claims }).encode();
const jwtForm = (claims: Record<string, unknown> = {}, extra: Record<string, string> = {}) => ({
  client_assertion_type: CLIENT_ASSERTION_TYPE,
  client_assertion: assertion(claims),
  ...extra,
});

async function fails(req: ClientAuthRequest, expected: { error: string; message: string; status: number; headers?: Record<string, string> }): Promise<void> {
  lookups.length = 0;
  const error = await authenticateClient(req, deps).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OAuthError);
  expect(error).toMatchObject({ headers: {}, ...expected });
}

describe('client auth: detecting the method', () => {
  it.each([
    ['Basic and client_secret', request({ client_id: 'client-one', client_secret: 's' }, basic('client-one:s'))],
    ['Basic and a client assertion', request(jwtForm(), basic('client-one:s'))],
    ['client_secret and a client assertion', request(jwtForm({}, { client_id: 'client-one', client_secret: 's' }))],
    ['Basic, client_secret and a client assertion', request(jwtForm({}, { client_secret: 's' }), basic('client-one:s'))],
  ])('rejects %s together, before any lookup', async (_name, req) => {
    await fails(req, { error: 'invalid_request', message: 'more than one client authentication method', status: 400 });
    expect(lookups).toEqual([]);
  });

  it.each([
    ['not base64', 'Basic !!!'],
    ['no colon', basic('client-one')],
    ['an empty client id', basic(':secret')],
    ['a broken percent-encoding', basic('client%E0%A4%A:secret')],
    ['no credentials', 'Basic'],
  ])('rejects a Basic header with %s, with a Basic challenge', async (_name, header) => {
    await fails(request({}, header), { error: 'invalid_client', message: 'malformed Basic authorization header', status: 401, headers: BASIC_CHALLENGE });
    expect(lookups).toEqual([]);
  });

  it('decodes the form-urlencoded client id of a Basic header, and is case-insensitive about the scheme', async () => {
    await fails(request({}, `bAsIc ${Buffer.from('client%2Bone+x:s%3Acret').toString('base64')}`), {
      error: 'invalid_client',
      message: 'unknown client',
      status: 401,
      headers: BASIC_CHALLENGE,
    });
    expect(lookups).toEqual(['client+one x']);
  });

  it('rejects a body client_id that differs from the Basic one', async () => {
    await fails(request({ client_id: 'client-two' }, basic('client-one:s')), {
      error: 'invalid_request',
      message: 'client_id does not match the authenticated client',
      status: 400,
    });
    expect(lookups).toEqual([]);
  });

  it('rejects client_secret without client_id', () =>
    fails(request({ client_secret: 's' }), { error: 'invalid_request', message: 'client_secret requires client_id', status: 400 }));

  it('rejects a request that names no client at all', () =>
    fails(request({ grant_type: 'client_credentials' }), { error: 'invalid_client', message: 'no client authentication', status: 401 }));

  it('ignores an Authorization header of another scheme (the request then names no client)', () =>
    fails(request({}, 'Bearer abc.def'), { error: 'invalid_client', message: 'no client authentication', status: 401 }));

  it('treats a bare client_id as the none method and looks the client up', async () => {
    await fails(request({ client_id: 'public-client' }), { error: 'invalid_client', message: 'unknown client', status: 401 });
    expect(lookups).toEqual(['public-client']);
  });

  it.each([
    ['an unsupported type', { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer', client_assertion: 'x.y.z' }],
    ['no type', { client_assertion: 'x.y.z' }],
  ])('rejects a client assertion with %s', (_name, form) =>
    fails(request(form), { error: 'invalid_client', message: 'unsupported client_assertion_type', status: 401 }),
  );

  it('rejects a client_assertion_type without an assertion', () =>
    fails(request({ client_assertion_type: CLIENT_ASSERTION_TYPE }), { error: 'invalid_request', message: 'client_assertion is missing', status: 400 }));
});

describe('client auth: private_key_jwt claims checked before the key lookup', () => {
  it.each([
    ['garbage', 'not-a-jwt'],
    ['a JWE', 'a.b.c.d.e'],
  ])('rejects %s as a client assertion', (_name, value) =>
    fails(request({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: value }), {
      error: 'invalid_client',
      message: 'client assertion is not a JWT',
      status: 401,
    }),
  );

  it.each([
    ['no sub', { sub: undefined }, 'client assertion lacks the sub claim'],
    ['an iss other than sub', { iss: 'client-two' }, 'client assertion iss must equal sub'],
    ['no iss', { iss: undefined }, 'client assertion iss must equal sub'],
    ['no exp', { exp: undefined }, 'client assertion lacks the exp claim'],
    ['an exp more than 10 minutes (and 30 s of skew) ahead', { exp: NOW + 631 }, 'client assertion expires too far in the future'],
    ['no jti', { jti: undefined }, 'client assertion lacks a valid jti'],
    ['an empty jti', { jti: '' }, 'client assertion lacks a valid jti'],
    ['a numeric jti', { jti: 7 }, 'client assertion lacks a valid jti'],
  ])('rejects an assertion with %s', async (_name, claims, message) => {
    await fails(request(jwtForm(claims)), { error: 'invalid_client', message, status: 401 });
    expect(lookups).toEqual([]);
  });

  it('rejects a body client_id that differs from the assertion subject', async () => {
    await fails(request(jwtForm({}, { client_id: 'client-two' })), {
      error: 'invalid_request',
      message: 'client_id does not match the authenticated client',
      status: 400,
    });
    expect(lookups).toEqual([]);
  });

  it('lets an exp 10 minutes and 30 s ahead through to the client lookup', async () => {
    await fails(request(jwtForm({ exp: NOW + 630 }, { client_id: 'client-one' })), { error: 'invalid_client', message: 'unknown client', status: 401 });
    expect(lookups).toEqual(['client-one']);
  });
});
