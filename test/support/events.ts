import type { Context } from 'aws-lambda';
import type { ProxyEvent } from '../../lambdas/http/types.ts';

/** A REST API proxy event as API Gateway sends it, for calling a handler directly. */
export function proxyEvent(method: string, path: string, options: { headers?: Record<string, string>; body?: string; base64?: boolean } = {}): ProxyEvent {
  return {
    resource: '/{proxy+}',
    path,
    httpMethod: method,
    headers: { Host: 'api.example.test', ...(options.headers ?? {}) },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: options.body ?? null,
    isBase64Encoded: options.base64 ?? false,
    requestContext: {
      requestId: `test-${Math.random().toString(36).slice(2)}`,
      stage: 'prod',
      identity: { sourceIp: '127.0.0.1' },
    } as ProxyEvent['requestContext'],
  };
}

export const lambdaContext = { functionName: 'test', awsRequestId: 'test', getRemainingTimeInMillis: () => 10_000 } as unknown as Context;
