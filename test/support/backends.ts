import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDynamoClient } from '../../lambdas/adapters/dynamodb/client.ts';
import { DynamoItemStore, DynamoStateStore } from '../../lambdas/adapters/dynamodb/item-store.ts';
import { DIRECTORY_TABLE, STATE_TABLE } from '../../lambdas/adapters/dynamodb/schema.ts';
import { createKmsClient } from '../../lambdas/adapters/kms/client.ts';
import { KmsKeyCustody } from '../../lambdas/adapters/kms/key-custody.ts';
import { KmsSigner } from '../../lambdas/adapters/kms/signer.ts';
import { loadOrCreateKeyFile } from '../../lambdas/adapters/local/key-file.ts';
import { LocalKeyCustody } from '../../lambdas/adapters/local/key-custody.ts';
import { LocalSigner } from '../../lambdas/adapters/local/signer.ts';
import type { Clock, DirectoryStore, JwsAlgorithm, KeyCustody, MacKey, ResidentKeys, Signer, StateStore } from '../../lambdas/ports.ts';
import { KmsMacKey } from '../../lambdas/adapters/kms/mac-key.ts';
import { localPinKey, localSessionKey } from '../../lambdas/adapters/local/mac-key.ts';
import { KmsResidentKeys } from '../../lambdas/adapters/kms/resident-keys.ts';
import { LocalResidentKeys } from '../../lambdas/adapters/local/resident-keys.ts';
import { startEmbeddedStore } from '../../local/embedded-store.ts';
import { ensureTable } from '../../local/tables.ts';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION } from './emulator.ts';

/**
 * The adapters under test, wired two ways: "embedded" (dynalite in memory + local key file) and
 * "emulator" (DynamoDB and KMS adapters against moto server, or whatever AWS_ENDPOINT_URL names).
 * The integration suites run the same cases against both.
 */
export interface Backend {
  readonly name: BackendName;
  readonly dynamo: DynamoDBClient;
  readonly directory: DirectoryStore;
  readonly state: StateStore;
  readonly custody: KeyCustody;
  /** Card keys and card CA keys made on demand: KMS asymmetric keys, or the local stand-in. */
  readonly residentKeys: ResidentKeys;
  /** The MAC keys: card-session state seal (card function only) and PIN hashes (card and admin). */
  readonly cardSessionKey: MacKey;
  readonly cardPinKey: MacKey;
  signer(algorithm: JwsAlgorithm): Promise<Signer>;
  /** moto ignores Sign's MessageType=DIGEST (PR #10202 unmerged at the pinned version). */
  readonly kmsDigestBroken: boolean;
  close(): Promise<void>;
}

export type BackendName = 'embedded' | 'emulator';
export const BACKENDS: readonly BackendName[] = ['embedded', 'emulator'];

/** A clock tests can move; starts at the real time. */
export function testClock(): Clock & { advance(seconds: number): void } {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (seconds) => (offset += seconds * 1000) };
}

export async function openBackend(name: BackendName, clock: Clock): Promise<Backend> {
  return name === 'embedded' ? openEmbedded(clock) : openEmulator(clock);
}

async function tables(client: DynamoDBClient, clock: Clock) {
  const suffix = randomBytes(4).toString('hex');
  const directoryTable = `cc-test-directory-${suffix}`;
  const stateTable = `cc-test-state-${suffix}`;
  await ensureTable(client, directoryTable, DIRECTORY_TABLE);
  await ensureTable(client, stateTable, STATE_TABLE);
  return {
    directory: new DynamoItemStore({ client, tableName: directoryTable, role: 'directory' }),
    state: new DynamoStateStore({ client, tableName: stateTable, role: 'state', clock }),
  };
}

async function openEmbedded(clock: Clock): Promise<Backend> {
  const store = await startEmbeddedStore();
  const dir = mkdtempSync(join(tmpdir(), 'cc-keys-'));
  const keys = loadOrCreateKeyFile(join(dir, 'keys.json'));
  const dynamo = store.client();
  const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const stores = await tables(dynamo, clock);
  const custody = new LocalKeyCustody(keys.kek.id, Buffer.from(keys.kek.key, 'base64'));
  return {
    name: 'embedded',
    dynamo,
    ...stores,
    custody,
    residentKeys: new LocalResidentKeys(stores.directory, custody),
    cardSessionKey: localSessionKey(Buffer.from(keys.kek.key, 'base64')),
    cardPinKey: localPinKey(Buffer.from(keys.kek.key, 'base64')),
    signer: async (algorithm) =>
      algorithm === 'ES256' ? new LocalSigner('local-es256', ecKey, 'ES256') : new LocalSigner(keys.signing.id, keys.signing.privateKeyPem, algorithm),
    kmsDigestBroken: false,
    close: async () => {
      dynamo.destroy();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openEmulator(clock: Clock): Promise<Backend> {
  const endpoint = process.env['CLOUDCARD_TEST_EMULATOR'];
  if (!endpoint) throw new Error('no AWS emulator endpoint: the integration global setup did not run');
  const options = { endpoint, region: process.env['AWS_REGION'] ?? EMULATOR_REGION, credentials: EMULATOR_CREDENTIALS };
  const dynamo = createDynamoClient(options);
  const kms: KMSClient = createKmsClient(options);
  const kek = await kms.send(new CreateKeyCommand({ Description: 'cloudcard test KEK' }));
  const hmacKey = async () => (await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!.Arn!;
  const [sessionKeyArn, pinKeyArn] = [await hmacKey(), await hmacKey()];
  const signingKeys = new Map<JwsAlgorithm, Promise<string>>();
  const signingKey = (algorithm: JwsAlgorithm): Promise<string> => {
    if (!signingKeys.has(algorithm)) {
      const spec = algorithm === 'ES256' ? 'ECC_NIST_P256' : 'RSA_2048';
      signingKeys.set(
        algorithm,
        kms.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: 'SIGN_VERIFY' })).then((k) => k.KeyMetadata!.Arn!),
      );
    }
    return signingKeys.get(algorithm)!;
  };
  return {
    name: 'emulator',
    dynamo,
    ...(await tables(dynamo, clock)),
    custody: new KmsKeyCustody(kms, kek.KeyMetadata!.Arn!),
    residentKeys: new KmsResidentKeys(kms, 'cloudcard-test'),
    cardSessionKey: new KmsMacKey(kms, sessionKeyArn),
    cardPinKey: new KmsMacKey(kms, pinKeyArn),
    signer: async (algorithm) => new KmsSigner(kms, await signingKey(algorithm), algorithm),
    kmsDigestBroken: process.env['CLOUDCARD_TEST_EMULATOR_KIND'] === 'moto',
    close: async () => {
      dynamo.destroy();
      kms.destroy();
    },
  };
}

/** The same store with its methods bound, so a test can override one of them. */
export function bindStore(store: DirectoryStore): DirectoryStore {
  return {
    get: store.get.bind(store),
    put: store.put.bind(store),
    update: store.update.bind(store),
    delete: store.delete.bind(store),
    query: store.query.bind(store),
    ping: store.ping.bind(store),
  };
}

/** The same store, counting its reads (how many round trips a piece of code makes). */
export function countingReads(store: DirectoryStore): { store: DirectoryStore; reads: () => number; reset: () => void } {
  let reads = 0;
  return {
    store: { ...bindStore(store), get: (key) => (reads++, store.get(key)) },
    reads: () => reads,
    reset: () => (reads = 0),
  };
}
