import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserSsoUrl, login } from '../../agent/login.ts';
import { CardApiClient, generateDeviceKey } from '../../agent/sdk.ts';
import type { EnrolResult } from '../../lambdas/core/cards/cards.ts';
import { CONTEXT_NAMES, type ContextName } from '../../lambdas/contexts.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { cardAccessToken, select, sw, verifyPin } from '../support/card-flows.ts';
import { approveDevice } from '../support/device-approval.ts';
import { HttpBrowser } from '../support/http-browser.ts';
import { evaluate, resolveIntrinsics, type Decision, type IamRequest, type PolicyStatement } from '../support/iam-policy.ts';
import { authorizeWithLogin, basic, pkce, postForm, registerClient, RP_REDIRECT } from '../support/oidc-flows.ts';
import { allowRegistration, DEMO_PASSWORD } from '../support/oidc-stack.ts';
import { recordingStore, type RecordedRequest } from '../support/recording-store.ts';
import { spCredentials } from '../support/saml-sp.ts';
import { logicalIdByPath, roleStatements, synth } from './support.ts';

/**
 * Per-function data access, proven by evaluation: the six functions run real flows on the local stack
 * (each with its own recording stores, as each Lambda has its own role), and every DynamoDB request they
 * made is evaluated against that function's synthesized role policy: all must be allowed. Then the
 * requests a compromised function would need (forging a card session, rewriting or reading a card,
 * scanning) are evaluated and must be refused.
 */
const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';
const log: RecordedRequest[] = [];
let stack: LocalStack;
let policies: Record<ContextName, PolicyStatement[]>;
let tableArn: Record<'directory' | 'state', string>;

const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

beforeAll(async () => {
  const { template } = synth();
  const tables = {
    directory: logicalIdByPath(template, 'AWS::DynamoDB::Table', '/Data/DirectoryTable/Resource'),
    state: logicalIdByPath(template, 'AWS::DynamoDB::Table', '/Data/StateTable/Resource'),
  };
  const resources = template.toJSON()['Resources'] as Record<string, { Type: string }>;
  const resolve = {
    ref: (id: string) => ({ 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT })[id] ?? id,
    getAtt: (id: string) =>
      resources[id]?.Type === 'AWS::DynamoDB::Table' ? `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${id}` : `arn:aws:cloudformation:::${id}`,
  };
  tableArn = { directory: resolve.getAtt(tables.directory), state: resolve.getAtt(tables.state) };
  policies = Object.fromEntries(
    CONTEXT_NAMES.map((context) => {
      const role = logicalIdByPath(template, 'AWS::IAM::Role', `/Functions/${pascal(context)}/Role/Resource`);
      const statements = roleStatements(template, role).map((st) => ({
        Effect: st.Effect,
        actions: st.actions,
        resources: st.resources.map((r) => resolveIntrinsics(r, resolve)),
        ...(st.Condition ? { Condition: st.Condition } : {}),
      }));
      return [context, statements];
    }),
  ) as unknown as Record<ContextName, PolicyStatement[]>;

  stack = await startLocalStack({
    port: 0,
    logLevel: 'SILENT',
    demoPassword: DEMO_PASSWORD,
    contextRuntime: (context, runtime) => ({
      ...runtime,
      directory: recordingStore(runtime.directory, context, 'directory', log),
      state: recordingStore(runtime.state, context, 'state', log),
    }),
  });
  await runFlows(stack);
}, 120_000);
afterAll(async () => stack?.close());

/** The IAM request of a recorded (or hypothetical) store call. */
const asIam = (request: Omit<RecordedRequest, 'context'>): IamRequest => ({
  action: request.action,
  resource: request.index ? `${tableArn[request.table]}/index/${request.index}` : tableArn[request.table],
  context: { 'dynamodb:LeadingKeys': [request.partition] },
});
const decide = (context: ContextName, request: Omit<RecordedRequest, 'context'>): Decision => evaluate(policies[context], asIam(request));

/** Representative flows of every function, through HTTP only. */
async function runFlows(stack: LocalStack): Promise<void> {
  const issuer = `${stack.url}/t/demo`;
  const admin = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${stack.url}${path}`, {
      method,
      headers: {
        Authorization: admin,
        ...(body === undefined ? {} : { 'Content-Type': typeof body === 'string' ? 'application/samlmetadata+xml' : 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    if (response.status >= 400) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return (text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as any;
  };

  // admin: health, tenants, users, an SP, a card.
  expect((await fetch(`${stack.url}/health`)).status).toBe(200);
  await call('GET', '/t/demo/admin/v1/tenant');
  await call('GET', '/t/demo/admin/v1/users');
  await call('POST', '/t/demo/admin/v1/users', { username: 'bob', email: 'bob@example.test', password: 'a long enough password 1' });
  const sp = await spCredentials('data-access-sp');
  const entityId = 'https://sp.data-access.example.test';
  await call(
    'POST',
    '/t/demo/admin/v1/service-providers',
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}">` +
      `<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
      `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${sp.certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
      `<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>` +
      `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.data-access.example.test/acs" index="0" isDefault="true"/>` +
      `</md:SPSSODescriptor></md:EntityDescriptor>`,
  );
  const enrolled = (await call('POST', '/t/demo/admin/v1/cards', { username: 'alice', slots: ['9a'], pin: '24681357', puk: '86427531' })) as EnrolResult;
  await call('GET', '/t/demo/admin/v1/cards');
  await call('GET', '/t/demo/admin/v1/cards?username=alice');

  // oidc + portal: registration, sign-in, code, refresh, userinfo, introspection, revocation.
  const browser = new HttpBrowser();
  await allowRegistration(stack);
  const client = await registerClient(issuer, { scope: 'openid offline_access' });
  const { verifier, challenge } = pkce();
  const callback = await authorizeWithLogin(
    issuer,
    { client_id: client.client_id, scope: 'openid offline_access', code_challenge: challenge, code_challenge_method: 'S256' },
    browser,
  );
  const tokens = await postForm(
    `${issuer}/oidc/token`,
    { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: RP_REDIRECT, code_verifier: verifier },
    { Authorization: basic(client) },
  );
  expect(tokens.status).toBe(200);
  const refreshed = await postForm(
    `${issuer}/oidc/token`,
    { grant_type: 'refresh_token', refresh_token: String(tokens.body['refresh_token']) },
    { Authorization: basic(client) },
  );
  expect(refreshed.status).toBe(200);
  expect((await fetch(`${issuer}/oidc/userinfo`, { headers: { Authorization: `Bearer ${refreshed.body['access_token']}` } })).status).toBe(200);
  expect((await postForm(`${issuer}/oidc/introspect`, { token: String(refreshed.body['access_token']) }, { Authorization: basic(client) })).status).toBe(200);
  expect((await postForm(`${issuer}/oidc/revoke`, { token: String(refreshed.body['refresh_token']) }, { Authorization: basic(client) })).status).toBe(200);
  expect((await fetch(`${issuer}/oidc/jwks`)).status).toBe(200);

  // saml: metadata, an unsolicited response from the browser's SSO session.
  expect((await fetch(`${issuer}/saml/metadata`)).status).toBe(200);
  const unsolicited = await browser.follow(`${issuer}/saml/sso/idp?sp=${encodeURIComponent(entityId)}`, 'https://sp.data-access.example.test/');
  expect(await unsolicited.response.text()).toContain('SAMLResponse');

  // oidc + portal: the agent's PRT (device flow, DPoP by its device key), a browser-SSO transfer made and redeemed.
  const agentState = mkdtempSync(join(tmpdir(), 'cc-data-access-agent-'));
  try {
    let approved: Promise<void> | undefined;
    await login({
      issuer,
      stateDir: agentState,
      flow: 'device',
      say: (line) => {
        const [, url, code] = /open (\S+) and enter the code (\S+)/.exec(line) ?? [];
        if (url && code) approved = approveDevice(url, code);
      },
    });
    await approved;
    const transfer = await browserSsoUrl(agentState, `${issuer}/.well-known/openid-configuration`);
    expect((await new HttpBrowser().request(transfer)).status).toBe(303);
  } finally {
    rmSync(agentState, { recursive: true, force: true });
  }

  // card: the list, a session, APDUs, reset, close.
  const token = await cardAccessToken(stack);
  const cards = new CardApiClient({ tenantUrl: issuer, accessToken: () => token });
  expect((await cards.cards()).cards.map((c) => c.id)).toContain(enrolled.card.id);
  const opened = await cards.openSession(enrolled.card.id, await generateDeviceKey());
  expect(sw(await cards.transmit(opened.session, select()))).toBe(0x9000);
  expect(sw(await cards.transmit(opened.session, verifyPin('24681357')))).toBe(0x9000);
  await cards.reset(opened.session);
  await cards.close(opened.session);
  const open = await cards.openSession(enrolled.card.id, await generateDeviceKey());

  // pki: the CA certificate, the first CRL (published by the pki function), an OCSP answer.
  const caPem = await (await fetch(`${issuer}/pki/ca`, { headers: { Accept: 'application/x-pem-file' } })).text();
  expect((await fetch(`${issuer}/pki/crl`, { headers: { Accept: 'application/pkix-crl' } })).status).toBe(200);
  const shown = await call('GET', `/t/demo/admin/v1/cards/${enrolled.card.id}`);
  const dir = mkdtempSync(join(tmpdir(), 'cloudcard-access-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), caPem);
    writeFileSync(join(dir, 'card.pem'), shown.slots[0].certificate.pem);
    execFileSync('openssl', ['ocsp', '-issuer', join(dir, 'ca.pem'), '-cert', join(dir, 'card.pem'), '-reqout', join(dir, 'req.der')]);
    const ocsp = await fetch(`${issuer}/pki/ocsp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/ocsp-request', Accept: 'application/ocsp-response' },
      body: readFileSync(join(dir, 'req.der')),
    });
    expect(ocsp.status).toBe(200);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // admin again: revoke, disconnect and delete the card (ending the open session; each revocation
  // publishes a CRL), disable a user (revoking her SSO session, grants and card sessions).
  await call('POST', `/t/demo/admin/v1/cards/${enrolled.card.id}/revoke`, { reason: 'superseded' });
  await call('POST', `/t/demo/admin/v1/cards/${enrolled.card.id}/disconnect`);
  await call('DELETE', `/t/demo/admin/v1/cards/${enrolled.card.id}`);
  // pki again: the CRL the admin function published.
  expect((await fetch(`${issuer}/pki/crl`, { headers: { Accept: 'application/pkix-crl' } })).status).toBe(200);
  expect(open.session).toBeTruthy();
  await call('POST', '/t/demo/admin/v1/users/alice/disable');
}

describe('per-function data access, evaluated against the synthesized role policies', () => {
  it('recorded requests from every function', () => {
    const contexts = new Set(log.map((r) => r.context));
    expect([...contexts].sort()).toEqual([...CONTEXT_NAMES].sort());
    // The card flows wrote a card session and read a card: the interesting requests are there.
    expect(log).toContainEqual(
      expect.objectContaining({ context: 'card', table: 'state', action: 'dynamodb:PutItem', partition: expect.stringMatching(/^CARDSESS#/) }),
    );
    expect(log).toContainEqual(expect.objectContaining({ context: 'card', table: 'directory', action: 'dynamodb:GetItem', partition: 'CARDS#demo' }));
  });

  it.each(CONTEXT_NAMES)('allows every request %s really made', (context) => {
    const refused = log.filter((r) => r.context === context && decide(context, r) !== 'allowed');
    expect(refused).toEqual([]);
  });

  const forged = {
    cardSessionWrite: { table: 'state', action: 'dynamodb:PutItem', partition: 'CARDSESS#forged' },
    cardSessionUpdate: { table: 'state', action: 'dynamodb:UpdateItem', partition: 'CARDSESS#forged' },
    cardChallengeWrite: { table: 'state', action: 'dynamodb:PutItem', partition: 'CARDCHAL#forged' },
    cardSessionRead: { table: 'state', action: 'dynamodb:GetItem', partition: 'CARDSESS#x' },
    cardWrite: { table: 'directory', action: 'dynamodb:UpdateItem', partition: 'CARDS#demo' },
    cardPut: { table: 'directory', action: 'dynamodb:PutItem', partition: 'CARDS#demo' },
    cardRead: { table: 'directory', action: 'dynamodb:GetItem', partition: 'CARDS#demo' },
    cardList: { table: 'directory', action: 'dynamodb:Query', partition: 'CARDS#demo' },
    cardsOfUser: { table: 'directory', action: 'dynamodb:Query', index: 'GSI1', partition: 'CARDS#demo#USER#alice' },
    residentKeyRead: { table: 'directory', action: 'dynamodb:GetItem', partition: 'RESIDENTKEY#local-resident-x' },
    adminClientWrite: { table: 'directory', action: 'dynamodb:PutItem', partition: 'PLATFORM' },
  } as const satisfies Record<string, Omit<RecordedRequest, 'context'>>;

  it.each(['oidc', 'saml'] as const)('refuses %s forging or reading card sessions and reading or rewriting cards', (context) => {
    for (const [name, request] of Object.entries(forged)) expect({ name, decision: decide(context, request) }).toEqual({ name, decision: 'implicitly denied' });
  });

  it('lets the portal read cards (certificate login) and refuses it every card write and card session', () => {
    const reads = new Set<string>(['cardRead', 'cardList', 'cardsOfUser']);
    for (const [name, request] of Object.entries(forged)) {
      expect({ name, decision: decide('portal', request) }).toEqual({ name, decision: reads.has(name) ? 'allowed' : 'implicitly denied' });
    }
  });

  it('refuses the card function the other functions’ state and any directory write outside cards', () => {
    for (const partition of ['SSO#x', 'CODE#x', 'RT#x', 'INTERACTION#x', 'SAMLART#x', 'LOGINFAIL#x']) {
      expect({ partition, decision: decide('card', { table: 'state', action: 'dynamodb:PutItem', partition }) }).toEqual({
        partition,
        decision: 'implicitly denied',
      });
    }
    for (const partition of ['T#demo', 'PLATFORM']) {
      expect({ partition, decision: decide('card', { table: 'directory', action: 'dynamodb:UpdateItem', partition }) }).toEqual({
        partition,
        decision: 'implicitly denied',
      });
    }
    expect(decide('card', { table: 'state', action: 'dynamodb:PutItem', partition: 'CARDSESS#x' })).toBe('allowed');
  });

  it('refuses the admin function card challenges, and allows it the card-session writes revocation makes', () => {
    expect(decide('admin', forged.cardChallengeWrite)).toBe('implicitly denied');
    // Revocation turns a session into a tombstone; the PIV state it could write is sealed by a key only the
    // card function holds (test/integration/card-api.test.ts forges one and it is not trusted).
    expect(decide('admin', forged.cardSessionUpdate)).toBe('allowed');
    expect(log).toContainEqual(
      expect.objectContaining({
        context: 'admin',
        table: 'state',
        action: 'dynamodb:Query',
        index: 'GSI1',
        partition: expect.stringMatching(/^SUBJECT#demo#/),
      }),
    );
    expect(log).toContainEqual(
      expect.objectContaining({ context: 'admin', table: 'state', action: 'dynamodb:UpdateItem', partition: expect.stringMatching(/^CARDSESS#/) }),
    );
  });

  it('lets the portal query the owner index (device correlation at sign-in), and saml, portal and card read received CAEP levels without writing them', () => {
    expect(log).toContainEqual(
      expect.objectContaining({
        context: 'portal',
        table: 'state',
        action: 'dynamodb:Query',
        index: 'GSI1',
        partition: expect.stringMatching(/^SUBJECT#demo#/),
      }),
    );
    for (const context of ['saml', 'portal', 'card'] as const) {
      expect({ context, decision: decide(context, { table: 'state', action: 'dynamodb:Query', partition: 'SSF#demo' }) }).toEqual({
        context,
        decision: 'allowed',
      });
      expect({ context, decision: decide(context, { table: 'state', action: 'dynamodb:GetItem', partition: 'SSF#demo' }) }).toEqual({
        context,
        decision: 'allowed',
      });
      expect({ context, decision: decide(context, { table: 'state', action: 'dynamodb:PutItem', partition: 'SSF#demo' }) }).toEqual({
        context,
        decision: 'implicitly denied',
      });
    }
  });

  it('lets only the card function (registration), the admin function (listing, removal) and the portal (a user signing a device out) write device records', () => {
    const devicePut = { table: 'state', action: 'dynamodb:PutItem', partition: 'AGENTDEV#demo#alice#jkt' } as const;
    const deviceDelete = { table: 'state', action: 'dynamodb:DeleteItem', partition: 'AGENTDEV#demo#alice#jkt' } as const;
    for (const context of CONTEXT_NAMES) {
      // The grant matrix is per partition pattern, read or write: the portal's delete brings put with it.
      const wanted = context === 'card' || context === 'admin' || context === 'portal' ? 'allowed' : 'implicitly denied';
      expect({ context, decision: decide(context, devicePut) }).toEqual({ context, decision: wanted });
    }
    expect(decide('admin', deviceDelete)).toBe('allowed');
    expect(decide('portal', deviceDelete)).toBe('allowed');
  });

  it('lets the pki function read cards and the certificate register and write only the published CRL', () => {
    // It really read the CA and the register, and published a CRL; admin published one on revocation.
    expect(log).toContainEqual(expect.objectContaining({ context: 'pki', table: 'directory', action: 'dynamodb:GetItem', partition: 'CARDS#demo' }));
    expect(log).toContainEqual(
      expect.objectContaining({ context: 'pki', table: 'directory', action: 'dynamodb:Query', index: 'GSI1', partition: 'CARDS#demo#REVOKED' }),
    );
    expect(log).toContainEqual(expect.objectContaining({ context: 'pki', table: 'directory', action: 'dynamodb:PutItem', partition: 'CRL#demo' }));
    expect(log).toContainEqual(expect.objectContaining({ context: 'admin', table: 'directory', action: 'dynamodb:PutItem', partition: 'CRL#demo' }));
    expect(log.filter((r) => r.context === 'pki' && r.table === 'state')).toEqual([]);
    for (const request of [
      forged.cardWrite,
      forged.cardPut,
      forged.cardSessionWrite,
      forged.cardSessionRead,
      forged.adminClientWrite,
      forged.cardChallengeWrite,
    ]) {
      expect({ request, decision: decide('pki', request) }).toEqual({ request, decision: 'implicitly denied' });
    }
    for (const partition of ['T#demo', 'RESIDENTKEY#local-resident-x']) {
      expect({ partition, decision: decide('pki', { table: 'directory', action: 'dynamodb:PutItem', partition }) }).toEqual({
        partition,
        decision: 'implicitly denied',
      });
    }
    expect(decide('pki', { table: 'directory', action: 'dynamodb:GetItem', partition: 'T#demo' })).toBe('implicitly denied');
    expect(decide('pki', forged.cardRead)).toBe('allowed');
  });

  it.each(CONTEXT_NAMES)('refuses %s any scan, batch or key-less request on either table', (context) => {
    for (const table of ['directory', 'state'] as const) {
      for (const action of ['dynamodb:Scan', 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:DescribeTable', 'dynamodb:PartiQLSelect']) {
        expect({ table, action, decision: evaluate(policies[context], { action, resource: tableArn[table], context: {} }) }).toEqual({
          table,
          action,
          decision: 'implicitly denied',
        });
        expect(evaluate(policies[context], { action, resource: `${tableArn[table]}/index/GSI1`, context: {} })).toBe('implicitly denied');
      }
    }
  });
});
