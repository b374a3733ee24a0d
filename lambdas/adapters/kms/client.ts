import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';

export interface KmsClientOptions {
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: KMSClientConfig['credentials'];
}

/** One client per process, with short timeouts so an unreachable KMS becomes a fast 503. */
export function createKmsClient(options: KmsClientOptions = {}): KMSClient {
  return new KMSClient({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 },
  });
}

/** KMS errors that mean "this ciphertext or context is wrong", as opposed to "KMS is unreachable". */
export const KMS_REJECTIONS = new Set(['InvalidCiphertextException', 'IncorrectKeyException', 'InvalidKeyUsageException']);
