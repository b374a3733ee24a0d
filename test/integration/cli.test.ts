import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, start, waitFor, type Started } from '../support/processes.ts';

/** The operator CLI against the local stack's data, with and without the gateway running. */
describe('operator CLI on the local stack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-cli-'));
  const env = { CLOUDCARD_DATA_DIR: dataDir };
  let gateway: Started | undefined;

  beforeAll(async () => {
    // First start creates the data directory and the demo tenant; then the gateway stops.
    const first = start(['local/main.ts'], { ...env, PORT: '0', LOG_LEVEL: 'WARN' });
    await waitFor(first, /base URL/);
    first.child.kill('SIGINT');
    await first.exited;
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
    expect(JSON.parse(created.stdout)).toMatchObject({ id: 'acme', displayName: 'Acme Corp', custody: 'wrapped' });

    const list = await cli(['tenant', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+DISPLAYNAME\s+STATUS/m);
    expect(list.stdout).toMatch(/^acme\s+Acme Corp\s+active/m);
    expect(list.stdout).toMatch(/^demo\s+/m);

    const updated = await cli(['tenant', 'update', 'acme', '--pin-retries', '5', '--custody', 'kms-resident', '--json'], env);
    expect(JSON.parse(updated.stdout)).toMatchObject({ custody: 'kms-resident', pinPolicy: { retries: 5, minLength: 6 }, version: 2 });

    const shown = await cli(['tenant', 'show', 'acme'], env);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: 'acme', version: 2 });
  });

  it('manages users, reading a password only from stdin', async () => {
    const added = await cli(['user', 'add', 'acme', 'carol', '--email', 'carol@acme.example', '--password-stdin', '--json'], env, 'a very good password\n');
    expect(added.code).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ username: 'carol', status: 'active' });
    expect(added.stdout).not.toContain('a very good password');
    const listed = await cli(['user', 'list', 'acme', '--json'], env);
    expect((JSON.parse(listed.stdout) as { username: string }[]).map((u) => u.username)).toEqual(['carol']);
    const disabled = await cli(['user', 'disable', 'acme', 'carol', '--json'], env);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ status: 'disabled' });
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
    [['tenant', 'create', 'Bad_Id'], /invalid tenant[\s\S]*id:/],
    [['tenant', 'create', 'acme'], /already exists/],
    [['tenant', 'show', 'nosuch'], /tenant nosuch does not exist/],
    [['tenant', 'update', 'acme', '--pin-retries', 'many'], /must be a whole number/],
    [['tenant', 'update', 'acme'], /nothing to update/],
    [['user', 'add', 'nosuch', 'x'], /tenant nosuch does not exist/],
    [['user', 'disable', 'acme', 'nobody'], /user nobody does not exist/],
    [['user', 'frobnicate'], /unknown command/],
  ])('fails with a one-line reason and exit 1 for %p', async (args, message) => {
    const result = await cli(args, env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('fails clearly when there is no local stack data', async () => {
    const result = await cli(['tenant', 'list'], { CLOUDCARD_DATA_DIR: join(dataDir, 'nowhere') });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/run `npm start` once first/);
  });

  it.each([[[]], [['tenant']], [['tenant', 'create']], [['tenant', 'list']], [['tenant', 'show']], [['tenant', 'update']], [['user']], [['user', 'add']], [['user', 'list']], [['user', 'disable']]])(
    'has --help on %p',
    async (path) => {
      const result = await cli([...path, '--help'], env);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Usage: cloudcard/);
    },
  );
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
    expect(JSON.parse(created.stdout)).toMatchObject({ id: 'globex', custody: 'wrapped' });
    expect((await cli(['--stack', stackName, 'user', 'add', 'globex', 'hank'], aws)).code).toBe(0);
    const users = await cli(['--stack', stackName, 'user', 'list', 'globex', '--json'], aws);
    expect((JSON.parse(users.stdout) as { username: string }[]).map((u) => u.username)).toEqual(['hank']);
    const tenants = await cli(['--stack', stackName, 'tenant', 'list'], aws);
    expect(tenants.stdout).toMatch(/^globex\s+/m);
  });

  it('refuses a stack that is not a cloudcard stack, or does not exist', async () => {
    const missing = await cli(['--stack', 'NoSuchStack', 'tenant', 'list'], aws);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/NoSuchStack/);
  });
});
