import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { createDynamoClient } from '../lambdas/adapters/dynamodb/client.ts';
import { DynamoItemStore, DynamoStateStore } from '../lambdas/adapters/dynamodb/item-store.ts';
import { createKmsClient } from '../lambdas/adapters/kms/client.ts';
import { KmsKeyCustody } from '../lambdas/adapters/kms/key-custody.ts';
import { KmsMacKey } from '../lambdas/adapters/kms/mac-key.ts';
import { KmsResidentKeys, residentKeyStackTag } from '../lambdas/adapters/kms/resident-keys.ts';
import { LocalKeyCustody } from '../lambdas/adapters/local/key-custody.ts';
import { LocalResidentKeys } from '../lambdas/adapters/local/resident-keys.ts';
import { localPinKey } from '../lambdas/adapters/local/mac-key.ts';
import { loadOrCreateKeyFile } from '../lambdas/adapters/local/key-file.ts';
import { systemClock, systemRandom } from '../lambdas/adapters/system.ts';
import { PolicedHttp } from '../lambdas/adapters/outbound-http.ts';
import { PUBLIC_ONLY } from '../lambdas/core/outbound/url-policy.ts';
import type { KeyCustody, MacKey, OutboundHttp, WrapContext, WrappedKey } from '../lambdas/ports.ts';
import { loadConfig } from '../lambdas/config.ts';
import { ENV } from '../lambdas/contexts.ts';
import { directoryServices, type DirectoryServices } from '../lambdas/runtime.ts';
import { AwsTruststore } from '../lambdas/adapters/aws-truststore.ts';
import { FileTruststore } from '../lambdas/adapters/local/truststore-file.ts';
import { TRUSTSTORE_OBJECT_KEY } from '../lambdas/core/pki/truststore.ts';
import { embeddedStoreClient, startEmbeddedStore, type EmbeddedStore } from '../local/embedded-store.ts';
import { dataDirHolder, DataDirBusyError, lockDataDir, prepareDataDir, type DataDirLock } from '../local/data-dir.ts';
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
  /**
   * Everything the commands use. `throttle` and `credentials` are always present (the state table is
   * part of every target); `totp` and `cards` are present when the target has key custody: the local
   * key file, or the stack's `CardKekKeyArn` output (cards also make resident keys: locally wrapped in
   * the directory, on a deployment KMS keys tagged for the stack).
   */
  readonly services: DirectoryServices;
  /** Why `services.totp` is missing, when it is. */
  readonly custodyMissing?: string;
  /**
   * Outbound HTTP under the target's outbound URL policy (SP metadata fetched by URL, and the checks of
   * registered URLs): a deployment's is public https only; the local stack's has its loopback exception.
   */
  readonly outbound: OutboundHttp;
  /**
   * The public base URL of the target (a deployment's ApiUrl output; the local stack's last gateway URL),
   * which names the tenant CA's CRL and OCSP URLs in the certificates enrolment issues.
   */
  readonly baseUrl?: string;
  close(): Promise<void>;
}

/** Outputs the CLI reads from a deployed stack; CloudcardStack declares them under these names. */
export const STACK_OUTPUTS = ['DirectoryTableName', 'StateTableName', 'Stage', 'ApiUrl'] as const;

/** With certificate login: the truststore bucket and the mutual-TLS origin, so CLI enrolments publish the truststore. */
export const TRUSTSTORE_OUTPUTS = { bucket: 'TruststoreBucketName', certUrl: 'CertUrl' } as const;

/** The card key-encryption key; needed only by the commands that wrap secrets (TOTP enrolment). */
export const KEK_OUTPUT = 'CardKekKeyArn';
/** The HMAC key PIN and PUK hashes are keyed with; needed by the card commands (enrol, unblock). */
export const PIN_KEY_OUTPUT = 'CardPinKeyArn';

/**
 * Key custody opened on first use, so commands that never wrap anything do not read (or trip over) the
 * key file.
 */
function lazyCustody(open: () => KeyCustody): KeyCustody {
  let custody: KeyCustody | undefined;
  const get = (): KeyCustody => (custody ??= open());
  return {
    wrap: (plaintext: Uint8Array, context: WrapContext) => get().wrap(plaintext, context),
    unwrap: (wrapped: WrappedKey, context: WrapContext) => get().unwrap(wrapped, context),
    ping: () => get().ping(),
  };
}

/** The CLI tells the operator why a fetch failed itself; stdout stays the command's output. */
const quiet = (): void => undefined;

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
  const kekArn = outputs[KEK_OUTPUT];
  const pinKeyArn = outputs[PIN_KEY_OUTPUT];
  const kms = kekArn || pinKeyArn ? createKmsClient(region ? { region } : {}) : undefined;
  const directory = new DynamoItemStore({ client, tableName: config.directoryTable, role: 'directory' });
  const outbound = new PolicedHttp({ policy: PUBLIC_ONLY, log: quiet });
  const truststoreBucket = outputs[TRUSTSTORE_OUTPUTS.bucket];
  const certUrl = outputs[TRUSTSTORE_OUTPUTS.certUrl];
  const truststore =
    truststoreBucket && certUrl
      ? new AwsTruststore({
          bucket: truststoreBucket,
          key: TRUSTSTORE_OBJECT_KEY,
          domainName: new URL(certUrl).hostname,
          region: await cfn.config.region(),
          credentials: cfn.config.credentials,
        })
      : undefined;
  return {
    description: `stack ${stackName} (${outputs['ApiUrl']})`,
    baseUrl: outputs['ApiUrl']!.replace(/\/+$/, ''),
    outbound,
    services: directoryServices({
      config,
      directory,
      state: new DynamoStateStore({ client, tableName: config.stateTable, role: 'state', clock: systemClock }),
      ...(kms && kekArn ? { custody: new KmsKeyCustody(kms, kekArn), residentKeys: new KmsResidentKeys(kms, residentKeyStackTag(config.stage)) } : {}),
      ...(kms && pinKeyArn ? { cardPinKey: new KmsMacKey(kms, pinKeyArn) } : {}),
      ...(truststore ? { truststore } : {}),
      clock: systemClock,
      random: systemRandom,
      outbound,
    }),
    ...(kekArn ? {} : { custodyMissing: `stack ${stackName} lacks the output ${KEK_OUTPUT}` }),
    close: async () => {
      client.destroy();
      kms?.destroy();
    },
  };
}

/**
 * The local stack's data: through the running local stack's store socket when it is up, otherwise by
 * taking the data directory's lock and opening the store for the duration of the command (LevelDB allows
 * one process at a time).
 */
async function openLocal(dataDir: string): Promise<Target> {
  const files = dataFiles(dataDir);
  if (!existsSync(files.store)) throw new Error(`no local stack data in ${dataDir}; run \`npm start\` once first`);
  prepareDataDir(dataDir, files.store);
  const holder = dataDirHolder(dataDir);
  if (holder && holder.owner !== 'local stack') {
    throw new DataDirBusyError(`data directory ${dataDir} is in use by another ${holder.owner} command (pid ${holder.pid}); try again when it has finished`);
  }
  let lock: DataDirLock | undefined;
  let own: EmbeddedStore | undefined;
  if (!holder) {
    lock = lockDataDir(dataDir, 'cloudcard CLI');
    own = await startEmbeddedStore({ path: files.store, socketPath: files.socket }).catch((error: unknown) => {
      lock!.release();
      throw new Error(`cannot open ${files.store}: ${(error as Error).message}`);
    });
  }
  const config = loadConfig(LOCAL_DEFAULTS);
  const client = embeddedStoreClient(files.socket);
  try {
    await ensureTable(client, config.directoryTable, DIRECTORY_TABLE);
    await ensureTable(client, config.stateTable, STATE_TABLE);
  } catch (error) {
    client.destroy();
    await own?.close();
    lock?.release();
    throw error;
  }
  const directory = new DynamoItemStore({ client, tableName: config.directoryTable, role: 'directory' });
  // The same key file the local stack wraps with (created by its first start).
  const keyFile = () => {
    if (!existsSync(files.keys)) throw new Error(`no local key file ${files.keys}; run \`npm start\` once first`);
    return loadOrCreateKeyFile(files.keys);
  };
  const custody = lazyCustody(() => {
    const keys = keyFile();
    return new LocalKeyCustody(keys.kek.id, Buffer.from(keys.kek.key, 'base64'));
  });
  // The local stack's own exception: SPs and identity providers under development run on this machine.
  const outbound = new PolicedHttp({ policy: { allowLoopback: true }, log: quiet });
  let pinKey: MacKey | undefined;
  const localKey = (): MacKey => (pinKey ??= localPinKey(Buffer.from(keyFile().kek.key, 'base64')));
  const cardPinKey: MacKey = {
    deriveSubkey: (label) => localKey().deriveSubkey(label),
    mac: (message) => localKey().mac(message),
    verifyMac: (message, mac) => localKey().verifyMac(message, mac),
  };
  const baseUrl = process.env['PUBLIC_BASE_URL'] ?? localBaseUrl(files);
  return {
    description: `local stack in ${dataDir}`,
    ...(baseUrl ? { baseUrl } : {}),
    outbound,
    services: directoryServices({
      config,
      directory,
      state: new DynamoStateStore({ client, tableName: config.stateTable, role: 'state', clock: systemClock }),
      custody,
      // The local stack's stand-in for KMS asymmetric keys (card CA and KMS-resident card keys).
      residentKeys: new LocalResidentKeys(directory, custody),
      cardPinKey,
      // The local stack's truststore file, rewritten by the CLI's enrolments and trusted-CA changes too.
      truststore: new FileTruststore(files.truststore),
      clock: systemClock,
      random: systemRandom,
      outbound,
    }),
    close: async () => {
      client.destroy();
      await own?.close();
      lock?.release();
    },
  };
}

/** Where the local gateway listens (or last listened): `local.json` while it runs, else `bootstrap.json`. */
function localBaseUrl(files: ReturnType<typeof dataFiles>): string | undefined {
  for (const file of [files.running, files.bootstrap]) {
    try {
      const url = JSON.parse(readFileSync(file, 'utf8')) as { url?: string; baseUrl?: string };
      if (url.url ?? url.baseUrl) return url.url ?? url.baseUrl;
    } catch {
      // missing or unreadable: try the next
    }
  }
  return undefined;
}
