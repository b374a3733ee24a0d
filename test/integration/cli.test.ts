import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';
import { createDynamoClient } from '../../lambdas/adapters/dynamodb/client.ts';
import { DynamoItemStore, DynamoStateStore } from '../../lambdas/adapters/dynamodb/item-store.ts';
import { LocalKeyCustody } from '../../lambdas/adapters/local/key-custody.ts';
import { loadOrCreateKeyFile } from '../../lambdas/adapters/local/key-file.ts';
import { systemClock, systemRandom } from '../../lambdas/adapters/system.ts';
import { loadConfig } from '../../lambdas/config.ts';
import { ENV } from '../../lambdas/contexts.ts';
import { directoryServices, type DirectoryServices } from '../../lambdas/runtime.ts';
import { startEmbeddedStore } from '../../local/embedded-store.ts';
import { dataFiles, LOCAL_DEFAULTS } from '../../local/stack.ts';
import { EXIT } from '../../cli/errors.ts';
import { cli, start, waitFor, type Started, seedDataDir } from '../support/processes.ts';

/** The operator CLI against the local stack's data, with and without the gateway running. */
describe('operator CLI on the local stack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };
  let gateway: Started | undefined;

  beforeAll(async () => {
    await seedDataDir(env);
  });
  afterAll(async () => {
    if (gateway && gateway.child.exitCode === null) {
      gateway.child.kill('SIGINT');
      await gateway.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('manages tenants with the gateway stopped', async () => {
    const created = await cli(['tenant', 'create', 'acme', '--display-name', 'Acme Corp', '--json'], env);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.json()).toMatchObject({ id: 'acme', displayName: 'Acme Corp', custody: 'wrapped' });

    const list = await cli(['tenant', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+DISPLAYNAME\s+STATUS/m);
    expect(list.stdout).toMatch(/^acme\s+Acme Corp\s+active/m);
    expect(list.stdout).toMatch(/^demo\s+/m);

    const updated = await cli(['tenant', 'update', 'acme', '--pin-retries', '5', '--custody', 'kms-resident', '--json'], env);
    expect(updated.json()).toMatchObject({ custody: 'kms-resident', pinPolicy: { retries: 5, minLength: 6 }, version: 2 });

    const shown = await cli(['tenant', 'show', 'acme'], env);
    expect(shown.json()).toMatchObject({ id: 'acme', version: 2 });
  });

  it('manages users, reading a password only from stdin', async () => {
    const added = await cli(['user', 'add', 'acme', 'carol', '--email', 'carol@acme.example', '--password-stdin', '--json'], env, 'a very good password\n');
    expect(added.code).toBe(0);
    expect(added.json()).toMatchObject({ username: 'carol', status: 'active' });
    expect(added.stdout).not.toContain('a very good password');
    const listed = await cli(['user', 'list', 'acme', '--json'], env);
    expect((listed.json() as { username: string }[]).map((u) => u.username)).toEqual(['carol']);
    const disabled = await cli(['user', 'disable', 'acme', 'carol', '--json'], env);
    expect(disabled.json()).toMatchObject({ status: 'disabled' });
  });

  it('writes an audit event for every change (command, arguments, operator; never stdin), listed by audit list newest first', async () => {
    const listed = await cli(['audit', 'list', 'acme', '--json'], env);
    expect(listed.code).toBe(0);
    const events = listed.json() as Record<string, unknown>[];
    const who = { via: 'cli', actor: { kind: 'operator', id: expect.stringMatching(/@.+ \(local\)$/) }, outcome: 0, at: expect.any(String) };
    // Reads (tenant list/show, user list) leave nothing; the password read from stdin is not in the trail.
    expect(events).toEqual([
      { ...who, action: 'cloudcard user disable', target: { tenant: 'acme', username: 'carol' } },
      { ...who, action: 'cloudcard user add', target: { tenant: 'acme', username: 'carol' } },
      { ...who, action: 'cloudcard tenant update', target: { id: 'acme' } },
      { ...who, action: 'cloudcard tenant create', target: { id: 'acme' } },
    ]);
    expect(listed.stdout).not.toContain('a very good password');
    const table = await cli(['audit', 'list', 'acme'], env);
    expect(table.stdout).toMatch(/^AT\s+ACTOR\s+VIA\s+ACTION\s+TARGET\s+OUTCOME/m);
  });

  it('updates a user: e-mail and display name, or removes the e-mail; refuses both at once (usage)', async () => {
    const updated = await cli(['user', 'update', 'acme', 'carol', '--email', 'Carol@New.example', '--display-name', 'Carol C.', '--json'], env);
    expect(updated.code).toBe(0);
    expect(updated.json()).toMatchObject({ username: 'carol', email: 'carol@new.example', displayName: 'Carol C.' });
    const removed = await cli(['user', 'update', 'acme', 'carol', '--remove-email', '--json'], env);
    expect((removed.json() as Record<string, unknown>)['email']).toBeUndefined();
    expect((await cli(['user', 'update', 'acme', 'carol', '--email', 'a@b.example', '--remove-email'], env)).code).toBe(EXIT.usage);
    expect((await cli(['user', 'update', 'acme', 'carol'], env)).code).toBe(EXIT.usage);
    expect((await cli(['user', 'update', 'acme', 'nobody', '--display-name', 'x'], env)).code).toBe(EXIT.notFound);
    // Refused updates are in the trail too, with their exit codes; the two that were done come before them.
    const events = (await cli(['audit', 'list', 'acme', '--json'], env)).json() as { action: string; target: Record<string, string>; outcome: number }[];
    expect(events.slice(0, 5).map((e) => [e.action, e.target['username'], e.outcome])).toEqual([
      ['cloudcard user update', 'nobody', EXIT.notFound],
      ['cloudcard user update', 'carol', EXIT.usage],
      ['cloudcard user update', 'carol', EXIT.usage],
      ['cloudcard user update', 'carol', 0],
      ['cloudcard user update', 'carol', 0],
    ]);
  });

  it('works while the gateway runs, through its embedded store', async () => {
    gateway = start(['local/main.ts'], { ...env, PORT: '0', LOG_LEVEL: 'WARN' });
    await waitFor(gateway, /base URL/);
    const added = await cli(['user', 'add', 'demo', 'dan'], env);
    expect(added.code).toBe(0);
    const listed = await cli(['user', 'list', 'demo'], env);
    expect(listed.stdout).toMatch(/^dan\s+/m);
  });

  it.each([
    [['tenant', 'create', 'Bad_Id'], EXIT.usage, /invalid tenant[\s\S]*id:/],
    [['tenant', 'create', 'acme'], EXIT.conflict, /already exists/],
    [['tenant', 'show', 'nosuch'], EXIT.notFound, /tenant nosuch does not exist/],
    [['tenant', 'update', 'acme', '--pin-retries', 'many'], EXIT.usage, /must be a whole number/],
    [['tenant', 'update', 'acme'], EXIT.usage, /nothing to update/],
    [['user', 'add', 'nosuch', 'x'], EXIT.notFound, /tenant nosuch does not exist/],
    [['user', 'disable', 'acme', 'nobody'], EXIT.notFound, /user nobody does not exist/],
    [['user', 'frobnicate'], EXIT.usage, /unknown command/],
  ])('fails with a one-line reason and its exit code for %p', async (args, code, message) => {
    const result = await cli(args, env);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    // A usage error names the problem and points to --help; it does not print the whole help.
    expect(result.stderr).not.toMatch(/^Usage:/m);
  });

  it('prints a bash completion script made from the command tree', async () => {
    const script = await cli(['completion', 'bash'], env);
    expect(script.code).toBe(0);
    const complete = async (...words: string[]) => {
      const program = `${script.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _cloudcard_complete; echo "\${COMPREPLY[*]}"`;
      const { execFile } = await import('node:child_process');
      return new Promise<string>((resolve, reject) => execFile('bash', ['-c', program], (error, stdout) => (error ? reject(error) : resolve(stdout.trim()))));
    };
    expect(await complete('cloudcard', 'us')).toBe('user');
    expect((await complete('cloudcard', '--json', 'user', 'totp', '')).split(' ')).toEqual(['enroll', 'remove']);
    expect(await complete('cloudcard', 'card', 'enroll', 'demo', 'alice', '--al')).toBe('--alg');
    expect((await cli(['completion', 'fish'], env)).code).toBe(EXIT.usage);
  });

  it('answers errors as JSON under --json, with the same exit code', async () => {
    const result = await cli(['tenant', 'show', 'nosuch', '--json'], env);
    expect(result.code).toBe(EXIT.notFound);
    expect(JSON.parse(result.stderr)).toEqual({ error: { code: 'notFound', message: 'tenant nosuch does not exist', exitCode: EXIT.notFound } });
    const usage = await cli(['user', 'add', '--json'], env);
    expect(usage.code).toBe(EXIT.usage);
    expect(JSON.parse(usage.stderr)).toMatchObject({ error: { code: 'usage', message: "missing required argument 'tenant'", hint: expect.any(String) } });
  });

  it('tells how to set the region when none is set for --stack', async () => {
    const result = await cli(['--stack', 'Cloudcard-dev', 'tenant', 'list'], {
      AWS_REGION: undefined,
      AWS_DEFAULT_REGION: undefined,
      AWS_CONFIG_FILE: '/nonexistent',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    });
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toMatch(/no AWS region is set\nhint: pass --region/);
  });

  it('fails clearly when there is no local stack data', async () => {
    const result = await cli(['tenant', 'list'], { CLOUDCARD_DATA_DIR: join(dataDir, 'nowhere') });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/run `npm start` once first/);
  });

  it.each([
    [[]],
    [['tenant']],
    [['tenant', 'create']],
    [['tenant', 'list']],
    [['tenant', 'show']],
    [['tenant', 'update']],
    [['user']],
    [['user', 'add']],
    [['user', 'list']],
    [['user', 'disable']],
  ])('has --help on %p', async (path) => {
    const result = await cli([...path, '--help'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: cloudcard/);
  });
});

/**
 * `--stack`: the CLI finds a deployment through its CloudFormation outputs and works on its tables with
 * the caller's AWS credentials. The emulator plays the deployed stack.
 */
describe('operator CLI against a deployed stack (on the AWS emulator)', () => {
  const endpoint = process.env['CLOUDCARD_TEST_EMULATOR']!;
  const aws = { AWS_ENDPOINT_URL: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
  const stackName = `Cloudcard-clitest${Date.now() % 100000}`;

  beforeAll(async () => {
    const { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
    const cfn = new CloudFormationClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
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
      Resources: { Directory: table(`${stackName}-directory`, ['GSI1', 'GSI2']), State: table(`${stackName}-state`, ['GSI1']) },
      Outputs: {
        DirectoryTableName: { Value: { Ref: 'Directory' } },
        StateTableName: { Value: { Ref: 'State' } },
        Stage: { Value: 'prod' },
        ApiUrl: { Value: 'https://id.example.test' },
      },
    };
    await cfn.send(new CreateStackCommand({ StackName: stackName, TemplateBody: JSON.stringify(template) }));
    for (let i = 0; i < 50; i++) {
      const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
      if (Stacks?.[0]?.StackStatus === 'CREATE_COMPLETE') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    cfn.destroy();
  });

  it('creates and lists tenants and users in the stack tables', async () => {
    const created = await cli(['--stack', stackName, 'tenant', 'create', 'globex', '--json'], aws);
    expect(created.stderr).toBe('');
    expect(created.json()).toMatchObject({ id: 'globex', custody: 'wrapped' });
    expect((await cli(['--stack', stackName, 'user', 'add', 'globex', 'hank'], aws)).code).toBe(0);
    const users = await cli(['--stack', stackName, 'user', 'list', 'globex', '--json'], aws);
    expect((users.json() as { username: string }[]).map((u) => u.username)).toEqual(['hank']);
    const tenants = await cli(['--stack', stackName, 'tenant', 'list'], aws);
    expect(tenants.stdout).toMatch(/^globex\s+/m);
  });

  it('bootstraps a platform admin client on the stack (secret printed once, stored only hashed), lists and removes it', async () => {
    const created = await cli(['--stack', stackName, 'admin', 'bootstrap', '--json'], aws);
    expect(created.stderr).toBe('');
    const { clientId, clientSecret } = created.json() as { clientId: string; clientSecret: string };
    expect(clientId).toMatch(/^admin-/);
    expect(clientSecret.length).toBeGreaterThanOrEqual(43);
    const listed = await cli(['--stack', stackName, 'admin', 'list', '--json'], aws);
    const clients = listed.json() as Record<string, unknown>[];
    expect(clients.map((c) => c['clientId'])).toContain(clientId);
    expect(JSON.stringify(clients)).not.toContain(clientSecret);
    expect(JSON.stringify(clients)).not.toContain('secretHash');
    expect((await cli(['--stack', stackName, 'admin', 'remove', clientId], aws)).code).toBe(0);
    expect((await cli(['--stack', stackName, 'admin', 'list', '--json'], aws)).json()).not.toContainEqual(expect.objectContaining({ clientId }));
    const again = await cli(['--stack', stackName, 'admin', 'remove', clientId], aws);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/does not exist/);
  });

  it('refuses a stack that is not a cloudcard stack, or does not exist', async () => {
    const missing = await cli(['--stack', 'NoSuchStack', 'tenant', 'list'], aws);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/NoSuchStack/);
  });
});

/**
 * Passwords, TOTP and sign-in locks from the CLI on the local stack. Between commands the test opens the
 * same store and key file itself (the gateway is stopped) to check what the commands did through the
 * core services the portal uses.
 */
describe('operator CLI: passwords, TOTP and sign-in locks (local stack)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-cred-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };

  /** Runs `use` on the local stack's stores and key custody, then closes them (LevelDB: one user at a time). */
  async function withLocal<T>(use: (services: DirectoryServices) => Promise<T>): Promise<T> {
    const files = dataFiles(dataDir);
    const store = await startEmbeddedStore({ path: files.store });
    const client = store.client();
    const config = loadConfig(LOCAL_DEFAULTS);
    const keys = loadOrCreateKeyFile(files.keys);
    try {
      return await use(
        directoryServices({
          config,
          directory: new DynamoItemStore({ client, tableName: config.directoryTable, role: 'directory' }),
          state: new DynamoStateStore({ client, tableName: config.stateTable, role: 'state', clock: systemClock }),
          custody: new LocalKeyCustody(keys.kek.id, Buffer.from(keys.kek.key, 'base64')),
          clock: systemClock,
          random: systemRandom,
        }),
      );
    } finally {
      client.destroy();
      await store.close();
    }
  }

  beforeAll(async () => {
    await seedDataDir(env);
    expect((await cli(['tenant', 'create', 'acme', '--display-name', 'Acme: Corp'], env)).code).toBe(0);
    expect((await cli(['user', 'add', 'acme', 'carol'], env)).code).toBe(0);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('sets a password read from stdin, never echoing it', async () => {
    const set = await cli(['user', 'set-password', 'acme', 'carol', '--password-stdin', '--json'], env, 'a much better passphrase\n');
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.json()).toMatchObject({ username: 'carol', status: 'active', version: 2 });
    expect(set.stdout).not.toContain('a much better passphrase');
    await withLocal(async (services) => {
      expect(await services.users.verifyPassword('acme', 'carol', 'a much better passphrase')).toMatchObject({ username: 'carol' });
      expect(await services.users.verifyPassword('acme', 'carol', 'a much better passphrase\n')).toBeUndefined();
    });
  });

  it('enrols TOTP, printing the otpauth URI and secret once, and removes it', async () => {
    const enrolled = await cli(['user', 'totp', 'enroll', 'acme', 'carol'], env);
    expect(enrolled.stderr).toBe('');
    expect(enrolled.code).toBe(0);
    const uri = enrolled.stdout.match(/otpauth:\/\/totp\/\S+/)?.[0];
    expect(uri).toMatch(/^otpauth:\/\/totp\/Acme%20Corp:carol\?/);
    expect(uri).toMatch(/algorithm=SHA1&digits=6&period=30/);
    const secret = enrolled.stdout.match(/Secret:\s+([A-Z2-7]+)/)?.[1];
    expect(uri).toContain(`secret=${secret}`);
    expect(enrolled.stdout).toMatch(/scan/i);

    await withLocal(async (services) => {
      expect(await services.totp!.isEnrolled('acme', 'carol')).toBe(true);
      const code = TOTP.generate({ secret: Secret.fromBase32(secret!), timestamp: Date.now() });
      expect(await services.totp!.verify('acme', 'carol', code)).toBe(true);
    });

    const json = await cli(['user', 'totp', 'enroll', 'acme', 'carol', '--issuer', 'Acme SSO', '--json'], env);
    expect(json.json()).toMatchObject({
      tenant: 'acme',
      username: 'carol',
      uri: expect.stringMatching(/^otpauth:\/\/totp\/Acme%20SSO:carol\?/),
      secretBase32: expect.stringMatching(/^[A-Z2-7]{32}$/),
    });

    const removed = await cli(['user', 'totp', 'remove', 'acme', 'carol'], env);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/removed/);
    const again = await cli(['user', 'totp', 'remove', 'acme', 'carol', '--json'], env);
    expect(again.json()).toEqual({ tenant: 'acme', username: 'carol', removed: false });
    await withLocal(async (services) => expect(await services.totp!.isEnrolled('acme', 'carol')).toBe(false));
  });

  it('unlocks a user locked out by failed sign-ins', async () => {
    await withLocal(async (services) => {
      for (let i = 0; i < 5; i++)
        expect(await services.credentials!.signIn('acme', 'carol', 'not the passphrase', '192.0.2.9')).toEqual({ outcome: 'invalid' });
      expect(await services.credentials!.signIn('acme', 'carol', 'a much better passphrase', '192.0.2.9')).toMatchObject({ outcome: 'locked', reason: 'user' });
    });
    const unlocked = await cli(['user', 'unlock', 'acme', 'carol'], env);
    expect(unlocked.stderr).toBe('');
    expect(unlocked.code).toBe(0);
    expect(unlocked.stdout).toMatch(/unlocked carol/);
    await withLocal(async (services) => {
      expect(await services.credentials!.signIn('acme', 'carol', 'a much better passphrase', '192.0.2.9')).toMatchObject({ outcome: 'ok' });
    });
    expect((await cli(['user', 'unlock', 'acme', 'carol', '--json'], env)).json()).toEqual({ tenant: 'acme', username: 'carol', unlocked: true });
  });

  it.each([
    [['user', 'set-password', 'acme', 'carol'], 'a much better passphrase', EXIT.usage, /--password-stdin/],
    [['user', 'set-password', 'acme', 'carol', '--password-stdin'], 'too short', EXIT.usage, /at least 12 characters/],
    [['user', 'set-password', 'acme', 'nobody', '--password-stdin'], 'a much better passphrase', EXIT.notFound, /user nobody does not exist/],
    [['user', 'set-password', 'nosuch', 'carol', '--password-stdin'], 'a much better passphrase', EXIT.notFound, /tenant nosuch does not exist/],
    [['user', 'set-password', 'acme', 'carol', 'a much better passphrase'], undefined, EXIT.usage, /too many arguments/],
    [['user', 'totp', 'enroll', 'acme', 'nobody'], undefined, EXIT.notFound, /user nobody does not exist/],
    [['user', 'totp', 'enroll', 'nosuch', 'carol'], undefined, EXIT.notFound, /tenant nosuch does not exist/],
    [['user', 'totp', 'enroll', 'acme', 'carol', '--issuer', 'a:b'], undefined, EXIT.usage, /invalid issuer label[\s\S]*colons/],
    [['user', 'totp', 'remove', 'acme', 'nobody'], undefined, EXIT.notFound, /user nobody does not exist/],
    [['user', 'totp', 'frobnicate'], undefined, EXIT.usage, /unknown command/],
    [['user', 'unlock', 'acme', 'nobody'], undefined, EXIT.notFound, /user nobody does not exist/],
    [['user', 'unlock', 'nosuch', 'carol'], undefined, EXIT.notFound, /tenant nosuch does not exist/],
  ])('fails with a one-line reason and its exit code for %p', async (args, input, code, message) => {
    const result = await cli(args, env, input);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([[['user', 'set-password']], [['user', 'unlock']], [['user', 'totp']], [['user', 'totp', 'enroll']], [['user', 'totp', 'remove']]])(
    'has --help on %p',
    async (path) => {
      const result = await cli([...path, '--help'], env);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Usage: cloudcard/);
    },
  );

  it('says in the enrol help which KMS permission --stack needs', async () => {
    const result = await cli(['user', 'totp', 'enroll', '--help'], env);
    expect(result.stdout).toMatch(/kms:Encrypt/);
    expect(result.stdout).toMatch(/CardKekKeyArn/);
  });
});

/** The same commands with `--stack`: KMS custody under the stack's CardKekKeyArn, the stack's state table. */
describe('operator CLI: passwords, TOTP and sign-in locks against a deployed stack (on the AWS emulator)', () => {
  const endpoint = process.env['CLOUDCARD_TEST_EMULATOR']!;
  const aws = { AWS_ENDPOINT_URL: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
  const suffix = Date.now() % 100000;
  const stackName = `Cloudcard-clicred${suffix}`;
  const noKekStack = `Cloudcard-clinokek${suffix}`;
  const clientOptions = { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const outputs = new Map<string, Record<string, string>>();

  beforeAll(async () => {
    const { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
    const cfn = new CloudFormationClient(clientOptions);
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
    const template = (name: string, withKek: boolean) => ({
      Resources: {
        Directory: table(`${name}-directory`, ['GSI1', 'GSI2']),
        State: table(`${name}-state`, ['GSI1']),
        ...(withKek
          ? {
              Kek: {
                Type: 'AWS::KMS::Key',
                Properties: {
                  Description: 'card KEK',
                  KeyPolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:*', Resource: '*' }] },
                },
              },
            }
          : {}),
      },
      Outputs: {
        DirectoryTableName: { Value: { Ref: 'Directory' } },
        StateTableName: { Value: { Ref: 'State' } },
        Stage: { Value: 'prod' },
        ApiUrl: { Value: 'https://id.example.test' },
        ...(withKek ? { CardKekKeyArn: { Value: { 'Fn::GetAtt': ['Kek', 'Arn'] } } } : {}),
      },
    });
    for (const [name, withKek] of [
      [stackName, true],
      [noKekStack, false],
    ] as const) {
      await cfn.send(new CreateStackCommand({ StackName: name, TemplateBody: JSON.stringify(template(name, withKek)) }));
      for (let i = 0; i < 50; i++) {
        const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: name }));
        if (Stacks?.[0]?.StackStatus === 'CREATE_COMPLETE') {
          outputs.set(name, Object.fromEntries((Stacks[0].Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!])));
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    cfn.destroy();
    for (const args of [
      ['tenant', 'create', 'globex', '--display-name', 'Globex'],
      ['user', 'add', 'globex', 'hank'],
    ]) {
      expect((await cli(['--stack', stackName, ...args], aws)).code).toBe(0);
    }
  });

  it('sets a password, enrols TOTP under the KMS key and unlocks, all in the stack tables', async () => {
    const set = await cli(['--stack', stackName, 'user', 'set-password', 'globex', 'hank', '--password-stdin', '--json'], aws, 'hank has a long passphrase');
    expect(set.stderr).toBe('');
    expect(set.json()).toMatchObject({ username: 'hank', version: 2 });

    const enrolled = await cli(['--stack', stackName, 'user', 'totp', 'enroll', 'globex', 'hank', '--json'], aws);
    expect(enrolled.stderr).toBe('');
    const { uri, secretBase32 } = enrolled.json() as { uri: string; secretBase32: string };
    expect(uri).toMatch(/^otpauth:\/\/totp\/Globex:hank\?/);

    // The portal's view of the same tables and key: the password and the code work, the secret is wrapped by KMS.
    const { createKmsClient } = await import('../../lambdas/adapters/kms/client.ts');
    const { KmsKeyCustody } = await import('../../lambdas/adapters/kms/key-custody.ts');
    const out = outputs.get(stackName)!;
    const dynamo = createDynamoClient(clientOptions);
    const kms = createKmsClient(clientOptions);
    try {
      const services = directoryServices({
        config: loadConfig({
          [ENV.stage]: 'prod',
          [ENV.directoryTable]: out['DirectoryTableName'],
          [ENV.stateTable]: out['StateTableName'],
          [ENV.keyProvider]: 'kms',
        }),
        directory: new DynamoItemStore({ client: dynamo, tableName: out['DirectoryTableName']!, role: 'directory' }),
        state: new DynamoStateStore({ client: dynamo, tableName: out['StateTableName']!, role: 'state', clock: systemClock }),
        custody: new KmsKeyCustody(kms, out['CardKekKeyArn']!),
        clock: systemClock,
        random: systemRandom,
      });
      expect(await services.totp!.verify('globex', 'hank', TOTP.generate({ secret: Secret.fromBase32(secretBase32), timestamp: Date.now() }))).toBe(true);
      for (let i = 0; i < 5; i++) await services.credentials!.signIn('globex', 'hank', 'wrong wrong wrong', '192.0.2.50');
      expect(await services.credentials!.signIn('globex', 'hank', 'hank has a long passphrase', '192.0.2.50')).toMatchObject({ outcome: 'locked' });
      expect((await cli(['--stack', stackName, 'user', 'unlock', 'globex', 'hank'], aws)).code).toBe(0);
      expect(await services.credentials!.signIn('globex', 'hank', 'hank has a long passphrase', '192.0.2.50')).toMatchObject({ outcome: 'ok' });
    } finally {
      dynamo.destroy();
      kms.destroy();
    }
    expect((await cli(['--stack', stackName, 'user', 'totp', 'remove', 'globex', 'hank'], aws)).code).toBe(0);
  });

  it('refuses TOTP enrolment on a stack without the CardKekKeyArn output, naming it', async () => {
    expect((await cli(['--stack', noKekStack, 'tenant', 'create', 'initech'], aws)).code).toBe(0);
    expect((await cli(['--stack', noKekStack, 'user', 'add', 'initech', 'peter'], aws)).code).toBe(0);
    const result = await cli(['--stack', noKekStack, 'user', 'totp', 'enroll', 'initech', 'peter'], aws);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/lacks the output CardKekKeyArn/);
    // Unlocking needs only the state table.
    expect((await cli(['--stack', noKekStack, 'user', 'unlock', 'initech', 'peter'], aws)).code).toBe(0);
  });
});

describe('operator CLI: OAuth clients and signing keys (local stack)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-oidc-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };

  beforeAll(async () => {
    await seedDataDir(env);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('adds, lists, shows and removes a client; the secret is printed once and never stored', async () => {
    const added = await cli(
      [
        'client',
        'add',
        'demo',
        '--name',
        'Portal app',
        '--redirect-uri',
        'https://app.example/cb',
        '--grant',
        'authorization_code',
        '--grant',
        'refresh_token',
        '--json',
      ],
      env,
    );
    expect(added.stderr).toBe('');
    const created = added.json() as { client_id: string; client_secret: string; first_party: boolean };
    expect(created.client_secret).toMatch(/^cs_/);
    expect(created.first_party).toBe(true);
    const listed = await cli(['client', 'list', 'demo'], env);
    expect(listed.stdout).toContain(created.client_id);
    const shown = (await cli(['client', 'show', 'demo', created.client_id], env)).json() as Record<string, unknown>;
    expect(shown).toMatchObject({ client_name: 'Portal app', redirect_uris: ['https://app.example/cb'] });
    expect(JSON.stringify(shown)).not.toContain(created.client_secret);
    expect((await cli(['client', 'remove', 'demo', created.client_id], env)).code).toBe(0);
    const gone = await cli(['client', 'show', 'demo', created.client_id], env);
    expect(gone.code).toBe(EXIT.notFound);
    expect(gone.stderr).toMatch(/does not exist/);
  });

  it('waits its turn: a data directory held by another CLI command is refused, naming it; a stale lock is taken over', async () => {
    const lock = join(dataDir, 'lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, owner: 'cloudcard CLI' }), { mode: 0o600 });
    try {
      const refused = await cli(['tenant', 'list'], env);
      expect(refused.code).toBe(EXIT.conflict);
      expect(refused.stderr).toContain(`data directory ${dataDir} is in use by another cloudcard CLI command (pid ${process.pid})`);
    } finally {
      rmSync(lock, { force: true });
    }
    const gone = start(['-e', ''], {});
    await gone.exited;
    writeFileSync(lock, JSON.stringify({ pid: gone.child.pid, owner: 'local stack' }), { mode: 0o600 });
    expect((await cli(['tenant', 'list'], env)).code).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  it('refuses invalid client metadata with the reason', async () => {
    const bad = await cli(['client', 'add', 'demo', '--name', 'x', '--redirect-uri', 'http://evil.example/cb'], env);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/redirect_uris/);
  });

  it('adds a client with a back-channel logout endpoint (checked by the outbound URL policy), refusing a fragment or a private address', async () => {
    const base = ['client', 'add', 'demo', '--name', 'bcl', '--redirect-uri', 'https://app.example/cb'];
    const added = await cli([...base, '--backchannel-logout-uri', 'https://93.184.216.34/logout', '--backchannel-logout-session-required', '--json'], env);
    expect(added.stderr).toBe('');
    expect(added.json()).toMatchObject({ backchannel_logout_uri: 'https://93.184.216.34/logout', backchannel_logout_session_required: true });
    for (const [uri, reason] of [
      ['https://93.184.216.34/logout#x', /backchannel_logout_uri/],
      ['https://10.1.2.3/logout', /backchannel_logout_uri: .*private/],
    ] as const) {
      const bad = await cli([...base, '--backchannel-logout-uri', uri], env);
      expect(bad.code).toBe(EXIT.usage);
      expect(bad.stderr).toMatch(reason);
    }
  });

  it('adds the agent client once (the seed already made it for demo), and names it for a new tenant', async () => {
    const again = await cli(['client', 'add-agent', 'demo', '--json'], env);
    expect(again.stderr).toBe('');
    expect(JSON.parse(again.stdout)).toMatchObject({ client_id: 'cloudcard-agent', created: false, first_party: true, token_endpoint_auth_method: 'none' });
    expect((await cli(['tenant', 'create', 'agents'], env)).code).toBe(0);
    const added = await cli(['client', 'add-agent', 'agents'], env);
    expect(added.stdout).toMatch(/added the agent client cloudcard-agent to tenant agents/);
    const listed = JSON.parse((await cli(['client', 'list', 'agents', '--json'], env)).stdout) as { client_id: string }[];
    expect(listed.map((c) => c.client_id)).toEqual(['cloudcard-agent']);
  });

  it('sets the registration mode and makes, lists and revokes initial access tokens (shown once)', async () => {
    const updated = await cli(['tenant', 'update', 'demo', '--registration', 'initial-access-token', '--json'], env);
    expect(JSON.parse(updated.stdout)).toMatchObject({ oidc: { registration: 'initial-access-token' } });
    const made = await cli(['client', 'registration-token', 'create', 'demo', '--expires', '2h', '--single-use', '--json'], env);
    expect(made.stderr).toBe('');
    const token = JSON.parse(made.stdout) as { id: string; token: string; singleUse: boolean; expiresAt: string };
    expect(token).toMatchObject({ singleUse: true });
    expect(token.token).toMatch(/^iat_/);
    expect(Date.parse(token.expiresAt) - Date.now()).toBeGreaterThan(7_000_000);
    const listed = await cli(['client', 'registration-token', 'list', 'demo'], env);
    expect(listed.stdout).toContain(token.id);
    expect(listed.stdout).not.toContain(token.token);
    expect((await cli(['client', 'registration-token', 'revoke', 'demo', token.id], env)).stdout).toMatch(/revoked/);
    expect((await cli(['client', 'registration-token', 'list', 'demo'], env)).stdout).not.toContain(token.id);
    const tooLong = await cli(['client', 'registration-token', 'create', 'demo', '--expires', '365d'], env);
    expect(tooLong.code).toBe(EXIT.usage);
    expect(tooLong.stderr).toMatch(/between 60 seconds and 90 days/);
    const badMode = await cli(['tenant', 'update', 'demo', '--registration', 'anyone'], env);
    expect(badMode.code).toBe(EXIT.usage);
    expect(badMode.stderr).toMatch(/registration/);
  });

  it('rotates signing keys: next becomes current, the old current stays published as retired', async () => {
    const first = (await cli(['keys', 'rotate', 'demo', '--json'], env)).json() as { current: string; next: string; retired: string };
    const second = (await cli(['keys', 'rotate', 'demo', '--json'], env)).json() as { current: string; next: string; retired: string };
    expect(second.current).toBe(first.next);
    expect(second.retired).toBe(first.current);
    expect(new Set([first.current, first.next, second.next]).size).toBe(3);
  });

  it.each([
    [['client']],
    [['client', 'add']],
    [['client', 'list']],
    [['client', 'show']],
    [['client', 'remove']],
    [['client', 'add-agent']],
    [['client', 'registration-token', 'create']],
    [['keys']],
    [['keys', 'rotate']],
  ])('has --help on %p', async (path) => {
    const result = await cli([...path, '--help'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: cloudcard/);
  });
});

describe('operator CLI: SAML service providers (local stack)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-saml-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };
  const entityId = 'https://sp.example.test/metadata';
  let metadataFile: string;

  beforeAll(async () => {
    await seedDataDir(env);
    const { SAML } = await import('@node-saml/node-saml');
    const { spCredentials } = await import('../support/saml-sp.ts');
    const credentials = await spCredentials('cli-sp');
    const sp = new SAML({
      entryPoint: 'https://idp.example.test/sso',
      issuer: entityId,
      callbackUrl: 'https://sp.example.test/acs',
      idpCert: credentials.certPem,
      privateKey: credentials.keyPem,
      publicCert: credentials.certPem,
    });
    metadataFile = join(dataDir, 'sp-metadata.xml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(metadataFile, sp.generateServiceProviderMetadata(null, credentials.certPem));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('registers an SP from its metadata file, lists, shows and removes it', async () => {
    const added = await cli(['sp', 'add', 'demo', '--metadata', metadataFile, '--json'], env);
    expect(added.stderr).toBe('');
    expect(added.json()).toMatchObject({ entityId, authnRequestsSigned: true });
    expect((await cli(['sp', 'list', 'demo'], env)).stdout).toContain(entityId);
    const shown = (await cli(['sp', 'show', 'demo', entityId], env)).json() as { acs: { location: string }[] };
    expect(shown.acs.map((a) => a.location)).toContain('https://sp.example.test/acs');
    expect((await cli(['sp', 'remove', 'demo', entityId], env)).code).toBe(0);
    expect((await cli(['sp', 'show', 'demo', entityId], env)).code).toBe(EXIT.notFound);
  });

  it('stores the signing choice and attribute map given to sp add, and refuses bad ones', async () => {
    const added = await cli(
      [
        'sp',
        'add',
        'demo',
        '--metadata',
        metadataFile,
        '--sign',
        'response',
        '--attribute',
        'urn:oid:0.9.2342.19200300.100.1.3=email;friendly=mail',
        '--attribute',
        'uid=username',
        '--json',
      ],
      env,
    );
    expect(added.stderr).toBe('');
    const shown = (await cli(['sp', 'show', 'demo', entityId], env)).json() as { signing: string; attributeMap: unknown[] };
    expect(shown.signing).toBe('response');
    expect(shown.attributeMap).toEqual([
      { name: 'urn:oid:0.9.2342.19200300.100.1.3', nameFormat: 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri', friendlyName: 'mail', field: 'email' },
      { name: 'uid', nameFormat: 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic', field: 'username' },
    ]);
    expect((await cli(['sp', 'remove', 'demo', entityId], env)).code).toBe(0);
    const badSign = await cli(['sp', 'add', 'demo', '--metadata', metadataFile, '--sign', 'nothing'], env);
    expect(badSign.code).not.toBe(0);
    expect(badSign.stderr).toMatch(/response, assertion, both/);
    const badField = await cli(['sp', 'add', 'demo', '--metadata', metadataFile, '--attribute', 'mail=password'], env);
    expect(badField.code).not.toBe(0);
    expect(badField.stderr).toMatch(/not one of/);
    const twice = await cli(['sp', 'add', 'demo', '--metadata', metadataFile, '--attribute', 'mail=email', '--attribute', 'mail=name'], env);
    expect(twice.code).toBe(EXIT.usage);
    expect(twice.stderr).toMatch(/mapped twice/);
    expect((await cli(['sp', 'show', 'demo', entityId], env)).code).toBe(EXIT.notFound);
  });

  it('refuses metadata that is not SAML metadata, with the reason', async () => {
    const bogus = join(dataDir, 'bogus.xml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bogus, '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>');
    const result = await cli(['sp', 'add', 'demo', '--metadata', bogus], env);
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toMatch(/document type declaration or entities is refused/);
  });

  it('refuses metadata whose validUntil has passed, naming the instant', async () => {
    const expired = join(dataDir, 'expired.xml');
    writeFileSync(expired, readFileSync(metadataFile, 'utf8').replace(/<((?:md:)?EntityDescriptor) /, '<$1 validUntil="2020-01-01T00:00:00Z" '));
    const result = await cli(['sp', 'add', 'demo', '--metadata', expired], env);
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toMatch(/metadata has expired: the EntityDescriptor is validUntil 2020-01-01T00:00:00Z/);
    expect((await cli(['sp', 'list', 'demo', '--json'], env)).stdout).not.toContain(entityId);
  });

  it('fetches metadata by URL only through the outbound URL policy: loopback here, no redirects, nothing private', async () => {
    const { readFileSync } = await import('node:fs');
    const { loopbackServer } = await import('../support/loopback-server.ts');
    const server = await loopbackServer((request, response) => {
      if (request.url === '/metadata') return void response.writeHead(200, { 'Content-Type': 'application/samlmetadata+xml' }).end(readFileSync(metadataFile));
      response.writeHead(302, { Location: '/metadata' }).end();
    });
    try {
      // The local stack's loopback exception: a development SP on this machine.
      const added = await cli(['sp', 'add', 'demo', '--metadata', `${server.url}/metadata`, '--json'], env);
      expect(added.stderr).toBe('');
      expect(JSON.parse(added.stdout)).toMatchObject({ entityId });
      expect((await cli(['sp', 'remove', 'demo', entityId], env)).code).toBe(0);
      const redirected = await cli(['sp', 'add', 'demo', '--metadata', `${server.url}/moved`], env);
      expect(redirected.code).toBe(EXIT.usage);
      expect(redirected.stderr).toMatch(/HTTP 302/);
      expect(server.seen).toEqual(['GET /metadata', 'GET /moved']);
      for (const [url, reason] of [
        ['http://10.1.2.3/metadata', /must be https/],
        ['https://169.254.169.254/latest/meta-data/', /169\.254\.169\.254, a link-local address/],
        ['https://[fd00:ec2::254]/latest/meta-data/', /link-local address/],
        ['https://192.168.0.10/metadata', /private address/],
        ['ftp://sp.example.test/metadata', /must be https/],
      ] as const) {
        const refused = await cli(['sp', 'add', 'demo', '--metadata', url], env);
        expect(refused.code).toBe(EXIT.usage);
        expect(refused.stderr).toMatch(reason);
      }
    } finally {
      await server.close();
    }
  });

  it.each([[['sp']], [['sp', 'add']], [['sp', 'list']], [['sp', 'show']], [['sp', 'remove']]])('has --help on %p', async (path) => {
    const result = await cli([...path, '--help'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: cloudcard/);
  });
});
