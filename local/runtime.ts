import { createDynamoClient } from '../lambdas/adapters/dynamodb/client.ts';
import { DIRECTORY_TABLE, STATE_TABLE } from '../lambdas/adapters/dynamodb/schema.ts';
import { DynamoItemStore, DynamoStateStore } from '../lambdas/adapters/dynamodb/item-store.ts';
import { loadOrCreateKeyFile } from '../lambdas/adapters/local/key-file.ts';
import { LocalKeyCustody } from '../lambdas/adapters/local/key-custody.ts';
import { LocalSigner } from '../lambdas/adapters/local/signer.ts';
import { LocalResidentKeys } from '../lambdas/adapters/local/resident-keys.ts';
import { localPinKey, localSessionKey } from '../lambdas/adapters/local/mac-key.ts';
import { KmsMacKey } from '../lambdas/adapters/kms/mac-key.ts';
import { systemClock, systemRandom } from '../lambdas/adapters/system.ts';
import type { Config } from '../lambdas/config.ts';
import type { Runtime } from '../lambdas/runtime.ts';
import type { Clock } from '../lambdas/ports.ts';
import { createKmsClient } from '../lambdas/adapters/kms/client.ts';
import { KmsKeyCustody } from '../lambdas/adapters/kms/key-custody.ts';
import { KmsSigner } from '../lambdas/adapters/kms/signer.ts';
import { KmsResidentKeys, residentKeyStackTag } from '../lambdas/adapters/kms/resident-keys.ts';
import { PolicedHttp, type Resolver } from '../lambdas/adapters/outbound-http.ts';
import { ensureTable } from './tables.ts';
import type { EmbeddedStore } from './embedded-store.ts';

/**
 * The local composition root: the same DynamoDB adapters pointed at the embedded store, and key custody
 * and signing from the local key file. Creates the tables on first use.
 */
/** Point the stack at an AWS endpoint (the emulator in tests): tables and keys through the AWS adapters. */
export interface AwsBackendOptions {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  readonly cardKekKeyId: string;
  readonly signingKeyId: string;
  /** HMAC_256 keys: the card-session state seal and the PIN hash key. */
  readonly cardSessionKeyId: string;
  readonly cardPinKeyId: string;
}

/**
 * Outbound HTTP of the local stack: the outbound URL policy's loopback exception (http and loopback
 * addresses, for SPs and identity providers running on this machine) is off unless turned on here;
 * tests may also give the name resolver.
 */
export interface LocalOutboundOptions {
  readonly allowLoopback?: boolean;
  readonly resolve?: Resolver;
}

export async function localRuntime(
  config: Config,
  store: Pick<EmbeddedStore, 'client'>,
  keyFilePath: string,
  options: { clock?: Clock; aws?: AwsBackendOptions; outbound?: LocalOutboundOptions } = {},
): Promise<Runtime> {
  const clock = options.clock ?? systemClock;
  const outbound = new PolicedHttp({
    policy: { allowLoopback: options.outbound?.allowLoopback ?? false },
    ...(options.outbound?.resolve ? { resolve: options.outbound.resolve } : {}),
  });
  const aws = options.aws;
  const client = aws ? createDynamoClient({ endpoint: aws.endpoint, region: aws.region, credentials: aws.credentials }) : store.client();
  await ensureTable(client, config.directoryTable, DIRECTORY_TABLE);
  await ensureTable(client, config.stateTable, STATE_TABLE);
  const stores = {
    directory: new DynamoItemStore({ client, tableName: config.directoryTable, role: 'directory' }),
    state: new DynamoStateStore({ client, tableName: config.stateTable, role: 'state', clock }),
  };
  if (aws) {
    const kms = createKmsClient({ endpoint: aws.endpoint, region: aws.region, credentials: aws.credentials });
    return {
      config,
      ...stores,
      custody: new KmsKeyCustody(kms, aws.cardKekKeyId),
      signer: new KmsSigner(kms, aws.signingKeyId),
      residentKeys: new KmsResidentKeys(kms, residentKeyStackTag(config.stage)),
      cardSessionKey: new KmsMacKey(kms, aws.cardSessionKeyId),
      cardPinKey: new KmsMacKey(kms, aws.cardPinKeyId),
      clock,
      random: systemRandom,
      outbound,
    };
  }
  const keys = loadOrCreateKeyFile(keyFilePath);
  const custody = new LocalKeyCustody(keys.kek.id, Buffer.from(keys.kek.key, 'base64'));
  return {
    config,
    ...stores,
    custody,
    residentKeys: new LocalResidentKeys(stores.directory, custody),
    cardSessionKey: localSessionKey(Buffer.from(keys.kek.key, 'base64')),
    cardPinKey: localPinKey(Buffer.from(keys.kek.key, 'base64')),
    signer: new LocalSigner(keys.signing.id, keys.signing.privateKeyPem, keys.signing.algorithm),
    clock,
    random: systemRandom,
    outbound,
  };
}
