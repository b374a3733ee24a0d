import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';
import { NodeSha256 } from '../lambdas/adapters/aws-truststore.ts';

/**
 * The smallest DynamoDB client that could replace the SDK: one signed JSON POST per call with a timeout,
 * no retries, no marshalling (callers pass attribute values). Only for the client evaluation bench.
 */
export function thinDynamo(options: { endpoint: string; region: string; credentials: AwsCredentialIdentity; timeoutMs?: number }) {
  const url = new URL(options.endpoint);
  const signer = new SignatureV4({ service: 'dynamodb', region: options.region, credentials: options.credentials, sha256: NodeSha256 });
  return async (operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const body = JSON.stringify(input);
    const signed = await signer.sign({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: '/',
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `DynamoDB_20120810.${operation}` },
      body,
    });
    const response = await fetch(url, { method: 'POST', headers: signed.headers, body, signal: AbortSignal.timeout(options.timeoutMs ?? 2000) });
    const answer = (await response.json()) as Record<string, unknown>;
    if (!response.ok) throw new Error(`${operation}: ${response.status} ${String(answer['__type'])}`);
    return answer;
  };
}
