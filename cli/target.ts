import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { createDynamoClient } from '../lambdas/adapters/dynamodb/client.ts';
import { DynamoItemStore } from '../lambdas/adapters/dynamodb/item-store.ts';
import { systemClock, systemRandom } from '../lambdas/adapters/system.ts';
import { loadConfig } from '../lambdas/config.ts';
import { ENV } from '../lambdas/contexts.ts';
import { directoryServices, type DirectoryServices } from '../lambdas/runtime.ts';
import { startEmbeddedStore } from '../local/embedded-store.ts';
import { EMBEDDED_CREDENTIALS } from '../local/runtime.ts';
import { dataFiles, LOCAL_DEFAULTS } from '../local/stack.ts';
import { ensureTable } from '../local/tables.ts';
import { DIRECTORY_TABLE, STATE_TABLE } from '../lambdas/adapters/dynamodb/schema.ts';

export interface TargetOptions {
  /** Name of a deployed stack (e.g. Cloudcard-prod): work against it with the caller's AWS credentials. */
  readonly stack?: string;
  readonly region?: string;
  /** Data directory of the local stack (default .data). */
  readonly dataDir?: string;
}

export interface Target {
  readonly description: string;
  readonly services: DirectoryServices;
  close(): Promise<void>;
}

/** Outputs the CLI reads from a deployed stack; CloudcardStack declares them under these names. */
export const STACK_OUTPUTS = ['DirectoryTableName', 'StateTableName', 'Stage', 'ApiUrl'] as const;

/** Opens the directory of a deployment (through its CloudFormation outputs) or of the local stack. */
export async function openTarget(options: TargetOptions): Promise<Target> {
  return options.stack ? openDeployment(options.stack, options.region) : openLocal(resolve(options.dataDir ?? process.env['CLOUDCARD_DATA_DIR'] ?? '.data'));
}

async function openDeployment(stackName: string, region?: string): Promise<Target> {
  const cfn = new CloudFormationClient(region ? { region } : {});
  const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
  const outputs = Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const missing = STACK_OUTPUTS.filter((name) => !outputs[name]);
  if (missing.length) throw new Error(`stack ${stackName} lacks the outputs ${missing.join(', ')}; is it a cloudcard stack?`);
  const config = loadConfig({
    [ENV.stage]: outputs['Stage'],
    [ENV.directoryTable]: outputs['DirectoryTableName'],
    [ENV.stateTable]: outputs['StateTableName'],
    [ENV.keyProvider]: 'kms',
  });
  const client = createDynamoClient(region ? { region } : {});
  return {
    description: `stack ${stackName} (${outputs['ApiUrl']})`,
    services: directoryServices({
      config,
      directory: new DynamoItemStore({ client, tableName: config.directoryTable, role: 'directory' }),
      clock: systemClock,
      random: systemRandom,
    }),
    close: async () => client.destroy(),
  };
}

/**
 * The local stack's data: through the running gateway's embedded store when it is up, otherwise by
 * opening the store directory for the duration of the command (LevelDB allows one process at a time).
 */
async function openLocal(dataDir: string): Promise<Target> {
  const files = dataFiles(dataDir);
  if (!existsSync(files.store)) throw new Error(`no local stack data in ${dataDir}; run \`npm start\` once first`);
  let endpoint = runningEndpoint(files.running);
  const own = endpoint ? undefined : await startEmbeddedStore({ path: files.store }).catch((error: unknown) => {
    throw new Error(`cannot open ${files.store}: ${(error as Error).message}`);
  });
  endpoint ??= own!.endpoint;
  const config = loadConfig(LOCAL_DEFAULTS);
  const client = createDynamoClient({ endpoint, region: 'local', credentials: EMBEDDED_CREDENTIALS });
  await ensureTable(client, config.directoryTable, DIRECTORY_TABLE);
  await ensureTable(client, config.stateTable, STATE_TABLE);
  return {
    description: `local stack in ${dataDir}`,
    services: directoryServices({
      config,
      directory: new DynamoItemStore({ client, tableName: config.directoryTable, role: 'directory' }),
      clock: systemClock,
      random: systemRandom,
    }),
    close: async () => {
      client.destroy();
      await own?.close();
    },
  };
}

function runningEndpoint(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const { pid, storeEndpoint } = JSON.parse(readFileSync(path, 'utf8')) as { pid: number; storeEndpoint: string };
    process.kill(pid, 0); // throws when that process is gone
    return storeEndpoint;
  } catch {
    return undefined;
  }
}

