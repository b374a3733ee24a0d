import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { SDK_BUDGET } from '../sdk-budget.ts';

export interface ClientOptions {
  /** An emulator or embedded-store endpoint; AWS otherwise (the SDK also honours AWS_ENDPOINT_URL). */
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: DynamoDBClientConfig['credentials'];
}

/**
 * One client per process. One retry and short timeouts (lambdas/adapters/sdk-budget.ts): a request that
 * cannot reach the table is answered 503 by our handler well inside the 10 s Lambda timeout.
 */
export function createDynamoClient(options: ClientOptions = {}): DynamoDBClient {
  return new DynamoDBClient({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...SDK_BUDGET,
  });
}
