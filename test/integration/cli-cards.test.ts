import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, X509Certificate } from 'node:crypto';
import { createDynamoClient } from '../../lambdas/adapters/dynamodb/client.ts';
import { DynamoItemStore } from '../../lambdas/adapters/dynamodb/item-store.ts';
import { loadConfig } from '../../lambdas/config.ts';
import { certificateOf } from '../../lambdas/core/cards/card-objects.ts';
import { cardKeys, objectsOf, type CardItem } from '../../lambdas/core/cards/card-item.ts';
import type { CardSummary, EnrolResult } from '../../lambdas/core/cards/cards.ts';
import type { Item } from '../../lambdas/ports.ts';
import { startEmbeddedStore } from '../../local/embedded-store.ts';
import { dataFiles, LOCAL_DEFAULTS } from '../../local/stack.ts';
import { EXIT } from '../../cli/errors.ts';
import { CLI, cli, NODE, seedDataDir } from '../support/processes.ts';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CreateKeyCommand, DescribeKeyCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { createKmsClient } from '../../lambdas/adapters/kms/client.ts';
import { slotsOf } from '../../lambdas/core/cards/card-item.ts';

/** The operator CLI's card and tenant-option commands on a local data directory (gateway stopped). */
describe('operator CLI: cards and tenant card options', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-cards-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };
  const run = (...args: string[]) => cli(args, env);

  /** Reads items straight from the data directory's store (the CLI has closed it). */
  const readItems = async (keys: { PK: string; SK: string }[]): Promise<(Item | undefined)[]> => {
    const store = await startEmbeddedStore({ path: dataFiles(dataDir).store });
    const client = store.client();
    try {
      const directory = new DynamoItemStore({ client, tableName: loadConfig(LOCAL_DEFAULTS).directoryTable, role: 'directory' });
      return await Promise.all(keys.map((key) => directory.get(key)));
    } finally {
      client.destroy();
      await store.close();
    }
  };

  beforeAll(async () => {
    await seedDataDir(env);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('sets the card options of a tenant: custody, algorithms, slots, PIN policy, card sessions, trusted issuers', async () => {
    const updated = await run(
      'tenant',
      'update',
      'demo',
      '--custody',
      'wrapped',
      '--card-alg',
      'p256',
      '--card-algs',
      'p256,rsa2048',
      '--card-slots',
      '9a,9c,9e',
      '--management-alg',
      'aes256',
      '--pin-min-length',
      '8',
      '--pin-retries',
      '4',
      '--card-session-seconds',
      '1800',
      '--trust-issuer',
      'https://login.example.com',
      '--jwks-uri',
      'https://login.example.com/jwks',
      '--audience',
      'cloudcard-agent',
      '--user-claim',
      'preferred_username',
      '--json',
    );
    expect(updated.stderr).toBe('');
    expect(updated.code).toBe(0);
    expect(updated.json()).toMatchObject({
      custody: 'wrapped',
      cards: { defaultAlgorithm: 'p256', allowedAlgorithms: ['p256', 'rsa2048'], defaultSlots: ['9a', '9c', '9e'], managementAlgorithm: 'aes256' },
      pinPolicy: { minLength: 8, maxLength: 8, retries: 4 },
      sessionLifetimes: { cardSessionSeconds: 1800 },
      trustedIssuers: [
        { issuer: 'https://login.example.com', jwksUri: 'https://login.example.com/jwks', audience: 'cloudcard-agent', userClaim: 'preferred_username' },
      ],
    });
    // A second issuer, then the first one dropped.
    await run('tenant', 'update', 'demo', '--trust-issuer', 'https://idp.example.org', '--jwks-uri', 'https://idp.example.org/keys', '--audience', 'cc');
    const dropped = await run('tenant', 'update', 'demo', '--untrust-issuer', 'https://login.example.com', '--json');
    expect(dropped.json().trustedIssuers).toEqual([
      { issuer: 'https://idp.example.org', jwksUri: 'https://idp.example.org/keys', audience: 'cc', userClaim: 'sub' },
    ]);
  });

  it.each([
    [['tenant', 'update', 'demo', '--trust-issuer', 'https://x.example'], /--trust-issuer needs --jwks-uri and --audience/],
    [['tenant', 'update', 'demo', '--audience', 'a'], /go with --trust-issuer/],
    [['tenant', 'update', 'demo', '--untrust-issuer', 'https://never.example'], /tenant does not trust https:\/\/never.example/],
    [['tenant', 'update', 'demo', '--card-alg', 'rsa1024'], /--card-alg.*one of rsa2048/],
    [['tenant', 'update', 'demo', '--card-alg', 'p384'], /cards\.defaultAlgorithm: defaultAlgorithm must be allowed/],
    [['tenant', 'update', 'demo', '--trust-issuer', 'https://x.example', '--jwks-uri', 'http://x.example/jwks', '--audience', 'a'], /jwksUri: must be https/],
  ])('refuses bad tenant card options: %j', async (args, message) => {
    const result = await run(...args);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });

  let card: EnrolResult;

  it('enrols a card: prints the id, serial, slots with certificate subjects and the one-time secrets with a warning', async () => {
    const result = await run(
      'card',
      'enroll',
      'demo',
      'alice',
      '--slots',
      '9a,9e',
      '--alg',
      'p256',
      '--label',
      'Alice desk',
      '--pin',
      '24681357',
      '--puk',
      '86427531',
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [, id, serial] = /^card (\S+) enrolled for alice in tenant demo \(serial (\d+), wrapped custody\)$/m.exec(result.stdout)!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{8,}$/);
    expect(Number(serial)).toBeGreaterThan(0);
    expect(result.stdout).toMatch(/^SLOT\s+ALGORITHM\s+CERTIFICATE$/m);
    expect(result.stdout).toMatch(/^9a\s+p256\s+CN=.*UID=alice, O=demo$/m);
    expect(result.stdout).toMatch(/^9e\s+p256\s+CN=/m);
    expect(result.stdout).toMatch(/shown only this once/);
    expect(result.stdout).toMatch(/^ {2}PIN: {13}24681357$/m);
    expect(result.stdout).toMatch(/^ {2}PUK: {13}86427531$/m);
    expect(result.stdout).toMatch(/^ {2}Management key: {2}[0-9a-f]{64} {3}\(aes256\)$/m);

    // What the CLI wrote is a real card: the certificate chains to the tenant CA in the same store.
    const [item, ca] = await readItems([cardKeys.card('demo', id!), { PK: 'CARDS#demo', SK: 'CARDCA' }]);
    const authority = new X509Certificate((ca as Item & { certificatePem: string }).certificatePem);
    const certificate = new X509Certificate(Buffer.from(certificateOf(objectsOf(item as CardItem), '9a')!));
    expect(certificate.verify(authority.publicKey)).toBe(true);
    expect((item as CardItem).label).toBe('Alice desk');
  });

  it('enrols with the tenant defaults and --json, generating the secrets', async () => {
    const result = await run('card', 'enroll', 'demo', 'alice', '--json');
    expect(result.code).toBe(0);
    card = result.json() as EnrolResult;
    expect(card.card.slots.map((s) => `${s.slot}:${s.algorithm}`)).toEqual(['9a:p256', '9c:p256', '9e:p256']);
    expect(card.pin).toMatch(/^\d{8}$/); // the tenant's PIN policy: 8 digits
    expect(card.card.pin).toEqual({ remaining: 4, maxTries: 4, blocked: false, mustChange: true });
  });

  it('lists and shows cards', async () => {
    const list = await run('card', 'list', 'demo');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+USERNAME\s+LABEL\s+SERIAL\s+CUSTODY\s+SLOTS\s+PIN\s+CONNECTED$/m);
    expect(list.stdout).toContain(`${card.card.id}  alice`);
    expect(list.stdout).toMatch(/9a:p256 9c:p256 9e:p256\s+4\/4 change\s+no/);
    const mine = (await run('card', 'list', 'demo', '--user', 'alice', '--json')).json() as CardSummary[];
    expect(mine).toHaveLength(2);
    expect((await run('card', 'list', 'demo', '--user', 'nobody', '--json')).json()).toEqual([]);
    const shown = await run('card', 'show', 'demo', card.card.id);
    expect(shown.json()).toEqual(card.card);
  });

  it("shows each slot certificate in PEM (card show --json), naming the CA's CRL and OCSP URLs of the local stack", async () => {
    const shown = (await run('card', 'show', 'demo', card.card.id, '--json')).json() as CardSummary;
    const certificate = new X509Certificate(shown.slots[0]!.certificate!.pem);
    expect(certificate.serialNumber).toBe(shown.slots[0]!.certificate!.serialNumber);
    expect(certificate.infoAccess).toMatch(/^OCSP - URI:http:\/\/(localhost|127\.0\.0\.1):\d+\/t\/demo\/pki\/ocsp$/m);
  });

  it('shows the tenant CA: subject, fingerprint, its PKI URLs, PEM (ca show)', async () => {
    const ca = await run('ca', 'show', 'demo', '--json');
    expect(ca.stderr).toBe('');
    const shownCa = ca.json() as { subject: string; sha256: string; pem: string; urls: { crl: string } };
    expect(new X509Certificate(shownCa.pem).ca).toBe(true);
    expect(shownCa.sha256).toBe(new X509Certificate(shownCa.pem).fingerprint256);
    expect(shownCa.urls.crl).toMatch(/\/t\/demo\/pki\/crl$/);
    expect((await run('ca', 'show', 'demo', '--pem')).stdout).toBe(new X509Certificate(shownCa.pem).toString());
  });

  let revokedSerials: string[] = [];

  it('revokes a certificate by serial (ca revoke) and a card slot by reason (card revoke); card show says so', async () => {
    const shown = (await run('card', 'show', 'demo', card.card.id, '--json')).json() as CardSummary;
    const [nineA, nineC] = shown.slots.map((s) => s.certificate!.serialNumber);
    const bySerial = await run('ca', 'revoke', 'demo', nineA!, '--reason', 'keyCompromise');
    expect(bySerial.stderr).toBe('');
    expect(bySerial.stdout).toMatch(new RegExp(`^certificate ${nineA!.toLowerCase()} \\(card ${card.card.id}, slot 9a\\) revoked: keyCompromise at `));
    const byCard = (await run('card', 'revoke', 'demo', card.card.id, '--reason', 'superseded', '--slots', '9c', '--json')).json() as {
      revoked: { serial: string; reason: string }[];
      card: CardSummary;
    };
    expect(byCard.revoked).toEqual([expect.objectContaining({ serial: nineC!.toLowerCase(), reason: 'superseded' })]);
    expect(byCard.card.slots.map((s) => s.certificate?.revoked?.reason)).toEqual(['keyCompromise', 'superseded', undefined]);
    revokedSerials = [nineA!, nineC!];
  });

  it('writes the CRL listing them (ca crl, DER to a file or PEM to stdout)', async () => {
    const out = join(dataDir, 'crl.der');
    const written = await run('ca', 'crl', 'demo', '--out', out);
    expect(written.stdout).toMatch(/^CRL number \d+ \(\d+ bytes, next update .*\) written to /);
    const text = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', out, '-noout', '-text'], { encoding: 'utf8' });
    for (const serial of revokedSerials) expect(text).toContain(`Serial Number: ${serial.toUpperCase()}`);
    expect(text).toContain('Key Compromise');
    expect(text).toContain('Superseded');
    expect((await run('ca', 'crl', 'demo')).stdout).toBe(
      `-----BEGIN X509 CRL-----\n${readFileSync(out)
        .toString('base64')
        .replace(/.{1,64}/g, '$&\n')}-----END X509 CRL-----\n`,
    );
  });

  it.each([
    [['ca', 'revoke', 'demo', 'abcdef', '--reason', 'bored'], EXIT.usage, /invalid revocation reason\n {2}reason: one of unspecified, keyCompromise/],
    [['ca', 'revoke', 'demo', 'abcdef', '--reason', 'keyCompromise'], EXIT.notFound, /certificate abcdef was not issued by the card CA of tenant demo/],
    [['ca', 'show', 'nowhere'], EXIT.notFound, /tenant nowhere has no card CA yet/],
  ])('refuses %j with a one-line reason and its exit code', async (args, code, message) => {
    const refused = await run(...args);
    expect(refused.code).toBe(code);
    expect(refused.stderr).toMatch(message);
  });

  it('disconnects and unblocks a card', async () => {
    const disconnected = await run('card', 'disconnect', 'demo', card.card.id);
    expect(disconnected.stdout).toBe(`disconnected card ${card.card.id} in tenant demo\n`);
    const given = await run('card', 'unblock', 'demo', card.card.id, '--pin', '11335577');
    expect(given.code).toBe(0);
    expect(given.stdout).toMatch(/^ {2}PIN: 11335577 {3}\(must be changed on first use\)$/m);
    const generated = (await run('card', 'unblock', 'demo', card.card.id, '--json')).json() as { pin: string; card: CardSummary };
    expect(generated.pin).toMatch(/^\d{8}$/);
    expect(generated.card.pin).toMatchObject({ remaining: 4, mustChange: true });
  });

  it.each([
    [['card', 'enroll', 'demo', 'nobody'], EXIT.notFound, /^cloudcard: user nobody does not exist in tenant demo$/m],
    [['card', 'enroll', 'nowhere', 'alice'], EXIT.notFound, /^cloudcard: tenant nowhere does not exist$/m],
    [['card', 'enroll', 'demo', 'alice', '--alg', 'rsa4096'], EXIT.usage, /^cloudcard: algorithm rsa4096 is not allowed in tenant demo$/m],
    [['card', 'enroll', 'demo', 'alice', '--alg', 'ed25519'], EXIT.usage, /--alg.*one of rsa2048/],
    [['card', 'enroll', 'demo', 'alice', '--slots', '9a,9b'], EXIT.usage, /slots are a comma-separated list of 9a, 9c, 9d, 9e/],
    [['card', 'enroll', 'demo', 'alice', '--pin', '1234abcd'], EXIT.usage, /^cloudcard: invalid pin\n {2}pin: a PIN is digits only$/m],
    [['card', 'unblock', 'demo', 'no-such-card', '--pin', '12345678'], EXIT.notFound, /^cloudcard: card no-such-card does not exist in tenant demo$/m],
    [['card', 'show', 'demo', 'no-such-card'], EXIT.notFound, /^cloudcard: card no-such-card does not exist in tenant demo$/m],
  ])('refuses %j with a one-line reason and its exit code', async (args, code, message) => {
    const result = await run(...args);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('deletes a card only with --yes, destroying it', async () => {
    const refused = await run('card', 'delete', 'demo', card.card.id);
    expect(refused.code).toBe(EXIT.usage);
    expect(refused.stderr).toBe(`cloudcard: deleting card ${card.card.id} destroys its keys for good: pass --yes to confirm\n`);
    expect((await run('card', 'show', 'demo', card.card.id)).code).toBe(0);
    const deleted = await run('card', 'delete', 'demo', card.card.id, '--yes');
    expect(deleted.stdout).toBe(`deleted card ${card.card.id} in tenant demo; its keys are destroyed\n`);
    const [item] = await readItems([cardKeys.card('demo', card.card.id)]);
    expect(item).toBeUndefined();
    expect((await run('card', 'delete', 'demo', card.card.id, '--yes')).stderr).toMatch(/does not exist/);
  });

  it('shows progress on stderr while enrolling, on a terminal only and never under --json', async () => {
    // `script` gives the CLI a pseudo-terminal (its stdout and stderr both go to it).
    const onTty = (args: string[]): string =>
      execFileSync('script', ['-qefc', [NODE, CLI, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], {
        env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
        encoding: 'utf8',
      });
    const plain = onTty(['card', 'enroll', 'demo', 'alice']);
    expect(plain).toMatch(/enrolling a card for alice \(generating keys\) \(\d+ s\)/);
    expect(plain).toContain('\x1b[2K');
    expect(plain).toMatch(/enrolled for alice/);
    const json = onTty(['--json', 'card', 'enroll', 'demo', 'alice']);
    expect(json).not.toContain('enrolling a card');
  });

  it('adds an admin-scope client only as a client_credentials client', async () => {
    const ok = await run('client', 'add', 'demo', '--name', 'ops', '--grant', 'client_credentials', '--scope', 'admin', '--json');
    expect(ok.code).toBe(0);
    expect(ok.json()).toMatchObject({ scope: 'admin', grant_types: ['client_credentials'], client_secret: expect.any(String) });
    const refused = await run('client', 'add', 'demo', '--name', 'web', '--redirect-uri', 'https://rp.example.com/cb', '--scope', 'openid admin');
    expect(refused.code).toBe(EXIT.usage);
    expect(refused.stderr).toMatch(/scope: the admin scope is for client_credentials-only clients/);
  });
});

/** `--stack`: a deployment's tables and KEK (a CloudFormation stack on the AWS emulator); resident keys in KMS. */
describe('operator CLI: cards on a deployed stack (on the AWS emulator)', () => {
  const endpoint = process.env['CLOUDCARD_TEST_EMULATOR']!;
  const aws = { AWS_ENDPOINT_URL: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
  const clientOptions = { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const stackName = `Cloudcard-clicards-${randomBytes(4).toString('hex')}`;
  let outputs: Record<string, string> = {};
  const run = (...args: string[]) => cli(['--stack', stackName, ...args], aws);

  beforeAll(async () => {
    const cfn = new CloudFormationClient(clientOptions);
    const keys = createKmsClient(clientOptions);
    const pinKeyArn = (await keys.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC', Description: 'card PIN key' })))
      .KeyMetadata!.Arn!;
    keys.destroy();
    const table = (name: string, indexes: string[]) => ({
      Type: 'AWS::DynamoDB::Table',
      Properties: {
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: ['PK', 'SK', ...indexes.flatMap((i) => [`${i}PK`, `${i}SK`])].map((a) => ({ AttributeName: a, AttributeType: 'S' })),
        KeySchema: [
          { AttributeName: 'PK', KeyType: 'HASH' },
          { AttributeName: 'SK', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: indexes.map((i) => ({
          IndexName: i,
          KeySchema: [
            { AttributeName: `${i}PK`, KeyType: 'HASH' },
            { AttributeName: `${i}SK`, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        })),
      },
    });
    const template = {
      Resources: {
        Directory: table(`${stackName}-directory`, ['GSI1', 'GSI2']),
        State: table(`${stackName}-state`, ['GSI1']),
        Kek: {
          Type: 'AWS::KMS::Key',
          Properties: {
            Description: 'card KEK',
            KeyPolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:*', Resource: '*' }] },
          },
        },
      },
      Outputs: {
        DirectoryTableName: { Value: { Ref: 'Directory' } },
        StateTableName: { Value: { Ref: 'State' } },
        Stage: { Value: 'prod' },
        ApiUrl: { Value: 'https://id.example.test' },
        CardKekKeyArn: { Value: { 'Fn::GetAtt': ['Kek', 'Arn'] } },
        // moto's CloudFormation makes every AWS::KMS::Key symmetric: the HMAC PIN key is made through KMS.
        CardPinKeyArn: { Value: pinKeyArn },
      },
    };
    await cfn.send(new CreateStackCommand({ StackName: stackName, TemplateBody: JSON.stringify(template) })).catch((error: Error) => {
      // A retried CreateStack whose first attempt went through: the stack is ours.
      if (error.name !== 'AlreadyExistsException') throw error;
    });
    for (let i = 0; i < 50 && !outputs['CardKekKeyArn']; i++) {
      const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
      if (Stacks?.[0]?.StackStatus === 'CREATE_COMPLETE') outputs = Object.fromEntries((Stacks[0].Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
      else await new Promise((r) => setTimeout(r, 100));
    }
    cfn.destroy();
    for (const args of [
      ['tenant', 'create', 'initech', '--custody', 'kms-resident'],
      ['user', 'add', 'initech', 'milton', '--email', 'milton@initech.example'],
    ]) {
      const result = await run(...args);
      expect(result.stderr).toBe('');
    }
  });

  it('shows the tenant CA with its URLs under ApiUrl, revokes by serial and writes the CRL (ca show|revoke|crl --stack)', async () => {
    const enrolled = (await run('card', 'enroll', 'initech', 'milton', '--slots', '9a', '--alg', 'p256', '--json')).json() as EnrolResult;
    const pem = enrolled.card.slots[0]!.certificate!.pem;
    expect(new X509Certificate(pem).infoAccess).toContain('OCSP - URI:https://id.example.test/t/initech/pki/ocsp');
    const ca = (await run('ca', 'show', 'initech', '--json')).json() as { urls: { ocsp: string } };
    expect(ca.urls.ocsp).toBe('https://id.example.test/t/initech/pki/ocsp');
    const revoked = await run('ca', 'revoke', 'initech', enrolled.card.slots[0]!.certificate!.serialNumber, '--reason', 'affiliationChanged', '--json');
    expect(revoked.stderr).toBe('');
    expect(revoked.json()).toMatchObject({ status: 'revoked', reason: 'affiliationChanged', card: enrolled.card.id });
    const crl = (await run('ca', 'crl', 'initech', '--json')).json() as { number: number; pem: string };
    expect(crl.number).toBeGreaterThanOrEqual(1);
    const dir = mkdtempSync(join(tmpdir(), 'cc-cli-crl-'));
    try {
      const file = join(dir, 'crl.pem');
      writeFileSync(file, crl.pem);
      expect(execFileSync('openssl', ['crl', '-in', file, '-noout', '-text'], { encoding: 'utf8' })).toContain('Affiliation Changed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('enrols a KMS-resident card (keys tagged for the stage) and deletion schedules the keys for deletion', async () => {
    const enrolled = await run('card', 'enroll', 'initech', 'milton', '--slots', '9a,9d', '--alg', 'p256', '--json');
    expect(enrolled.stderr).toBe('');
    const result = enrolled.json() as EnrolResult;
    expect(result.card).toMatchObject({ tenant: 'initech', custody: 'kms-resident' });

    const dynamo = createDynamoClient(clientOptions);
    const kms = createKmsClient(clientOptions);
    try {
      const directory = new DynamoItemStore({ client: dynamo, tableName: outputs['DirectoryTableName']!, role: 'directory' });
      const item = (await directory.get<CardItem>(cardKeys.card('initech', result.card.id)))!;
      const keyIds = slotsOf(item).map(([, s]) => (s.key as { keyId: string }).keyId);
      expect(keyIds).toHaveLength(2);
      for (const keyId of keyIds) {
        const tags = (await kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags ?? [];
        expect(tags).toContainEqual({ TagKey: 'cloudcard:stack', TagValue: 'cloudcard-prod' });
        expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState).toBe('Enabled');
      }
      // The tenant CA key is a resident key too, and signed the slot certificates.
      const ca = (await directory.get<Item & { certificatePem: string; keyId: string }>({ PK: 'CARDS#initech', SK: 'CARDCA' }))!;
      const certificate = new X509Certificate(Buffer.from(certificateOf(objectsOf(item), '9a')!));
      expect(certificate.verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(true);
      expect((await kms.send(new ListResourceTagsCommand({ KeyId: ca.keyId }))).Tags).toContainEqual({ TagKey: 'cloudcard:purpose', TagValue: 'card-ca' });

      const deleted = await run('card', 'delete', 'initech', result.card.id, '--yes');
      expect(deleted.stderr).toBe('');
      for (const keyId of keyIds) expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState).toBe('PendingDeletion');
      expect(await directory.get(cardKeys.card('initech', result.card.id))).toBeUndefined();
    } finally {
      dynamo.destroy();
      kms.destroy();
    }
  });
});
