import { ConfigError, loadConfig } from '../config.ts';
import type { ContextName } from '../contexts.ts';
import { CONTEXT_KEY_NEEDS } from '../apps.ts';
import { createDynamoClient } from '../adapters/dynamodb/client.ts';
import { envCredentials } from '../adapters/env-credentials.ts';
import { DynamoItemStore, DynamoStateStore } from '../adapters/dynamodb/item-store.ts';
import { createKmsClient } from '../adapters/kms/client.ts';
import { KmsKeyCustody } from '../adapters/kms/key-custody.ts';
import { KmsMacKey } from '../adapters/kms/mac-key.ts';
import { KmsSigner } from '../adapters/kms/signer.ts';
import { KmsResidentKeys, residentKeyStackTag } from '../adapters/kms/resident-keys.ts';
import { systemClock, systemRandom } from '../adapters/system.ts';
import { PolicedHttp } from '../adapters/outbound-http.ts';
import { AwsTruststore } from '../adapters/aws-truststore.ts';
import { AwsLambdaRelay } from '../adapters/aws-lambda-relay.ts';
import { PUBLIC_ONLY } from '../core/outbound/url-policy.ts';
import type { Runtime } from '../runtime.ts';

/**
 * The AWS composition root shared by the five handler entries: validates the environment (a bad value
 * fails the init phase, naming the variable) and builds DynamoDB and KMS adapters once per container.
 * No network call happens here, so init stays fast; clients connect on first use.
 */
export function awsRuntime(context: ContextName, env: Readonly<Record<string, string | undefined>> = process.env): Runtime {
  const needs = CONTEXT_KEY_NEEDS[context];
  const config = loadConfig(env, needs);
  if (config.keyProvider !== 'kms') {
    throw new ConfigError([{ variable: 'KEY_PROVIDER', message: 'must be "kms" in AWS (local keys are for the local gateway only)' }]);
  }
  // Lambda's credentials are in the environment: the explicit provider, not the SDK's default chain.
  const dynamo = createDynamoClient({ credentials: envCredentials });
  const kms = Object.values(needs).some(Boolean) ? createKmsClient({ credentials: envCredentials }) : undefined;
  return {
    config,
    directory: new DynamoItemStore({ client: dynamo, tableName: config.directoryTable, role: 'directory' }),
    state: new DynamoStateStore({ client: dynamo, tableName: config.stateTable, role: 'state', clock: systemClock }),
    ...(kms && needs.cardKek ? { custody: new KmsKeyCustody(kms, config.cardKekKeyId!) } : {}),
    ...(kms && needs.signingKey ? { signer: new KmsSigner(kms, config.signingKeyId!) } : {}),
    ...(kms && needs.residentKeys ? { residentKeys: new KmsResidentKeys(kms, residentKeyStackTag(config.stage)) } : {}),
    ...(kms && needs.cardSessionKey ? { cardSessionKey: new KmsMacKey(kms, config.cardSessionKeyId!) } : {}),
    ...(kms && needs.cardPinKey ? { cardPinKey: new KmsMacKey(kms, config.cardPinKeyId!) } : {}),
    clock: systemClock,
    random: systemRandom,
    // Deployed functions never get the local stack's loopback exception: public https only.
    outbound: new PolicedHttp({ policy: PUBLIC_ONLY }),
    // Only the admin function is given the truststore location (and the right to write it).
    ...(config.truststore ? { truststore: new AwsTruststore({ ...config.truststore, region: env['AWS_REGION'] ?? '', credentials: envCredentials }) } : {}),
    // Functions without the token-signing key hand relying-party logouts to the oidc function.
    ...(config.logoutRelayFunction
      ? { logoutRelay: new AwsLambdaRelay({ functionName: config.logoutRelayFunction, region: env['AWS_REGION'] ?? '', credentials: envCredentials }) }
      : {}),
  };
}
