import { createDynamoClient } from '../lambdas/adapters/dynamodb/client.ts';
import { DIRECTORY_TABLE, STATE_TABLE } from '../lambdas/adapters/dynamodb/schema.ts';
import { DynamoItemStore, DynamoStateStore } from '../lambdas/adapters/dynamodb/item-store.ts';
import { loadOrCreateKeyFile } from '../lambdas/adapters/local/key-file.ts';
import { LocalKeyCustody } from '../lambdas/adapters/local/key-custody.ts';
import { LocalSigner } from '../lambdas/adapters/local/signer.ts';
import { systemClock, systemRandom } from '../lambdas/adapters/system.ts';
import type { Config } from '../lambdas/config.ts';
import type { Runtime } from '../lambdas/runtime.ts';
import { ensureTable } from './tables.ts';

/** Credentials the embedded store accepts (it checks none); they never reach AWS. */
export const EMBEDDED_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * The local composition root: the same DynamoDB adapters pointed at the embedded store, and key custody
 * and signing from the local key file. Creates the tables on first use.
 */
export async function localRuntime(config: Config, storeEndpoint: string, keyFilePath: string): Promise<Runtime> {
  const client = createDynamoClient({ endpoint: storeEndpoint, region: 'local', credentials: EMBEDDED_CREDENTIALS });
  await ensureTable(client, config.directoryTable, DIRECTORY_TABLE);
  await ensureTable(client, config.stateTable, STATE_TABLE);
  const keys = loadOrCreateKeyFile(keyFilePath);
  return {
    config,
    directory: new DynamoItemStore({ client, tableName: config.directoryTable, role: 'directory' }),
    state: new DynamoStateStore({ client, tableName: config.stateTable, role: 'state', clock: systemClock }),
    custody: new LocalKeyCustody(keys.kek.id, Buffer.from(keys.kek.key, 'base64')),
    signer: new LocalSigner(keys.signing.id, keys.signing.privateKeyPem, keys.signing.algorithm),
    clock: systemClock,
    random: systemRandom,
  };
}
