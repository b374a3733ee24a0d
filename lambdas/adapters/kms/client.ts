import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import { SDK_BUDGET } from '../sdk-budget.ts';

export interface KmsClientOptions {
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: KMSClientConfig['credentials'];
}

/**
 * One client per process, with the same per-call budget as the DynamoDB client
 * (lambdas/adapters/sdk-budget.ts): at most about 7 s per call, so an unreachable KMS becomes our own 503
 * inside the 10 s Lambda timeout.
 */
export function createKmsClient(options: KmsClientOptions = {}): KMSClient {
  return new KMSClient({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...SDK_BUDGET,
  });
}

/** KMS errors that mean "this ciphertext or context is wrong", as opposed to "KMS is unreachable". */
export const KMS_REJECTIONS = new Set(['InvalidCiphertextException', 'IncorrectKeyException', 'InvalidKeyUsageException']);
