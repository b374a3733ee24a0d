import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';

export interface ClientOptions {
  /** An emulator or embedded-store endpoint; AWS otherwise (the SDK also honours AWS_ENDPOINT_URL). */
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: DynamoDBClientConfig['credentials'];
}

/**
 * One client per process. Retries are few and timeouts short: a request that cannot reach the table is
 * better answered 503 fast than held until API Gateway's 29 s limit.
 */
export function createDynamoClient(options: ClientOptions = {}): DynamoDBClient {
  return new DynamoDBClient({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 },
  });
}
