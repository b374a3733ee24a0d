import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { Location } from '../core/risk/context.ts';

/** The request a route sees: decoded, size-checked and parsed once by the middleware. */
export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  /** The matched route's path template (`/t/:tenant/admin/v1/users/:username`): names the action in audits. */
  readonly route?: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** Query parameters that appeared more than once (OAuth forbids repeats, RFC 6749 §3.1). */
  readonly repeatedQuery: readonly string[];
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** Parsed JSON or form body; undefined when there was none. */
  readonly body: unknown;
  readonly rawBody?: Buffer;
  readonly requestId: string;
  /** The public base URL ({base} in the architecture's URL table), no trailing slash. */
  readonly baseUrl: string;
  readonly sourceIp?: string;
  /**
   * The client certificate (PEM) of a mutual-TLS connection, as API Gateway passes it in
   * `requestContext.identity.clientCert.clientCertPem` (the local HTTPS listener does the same).
   */
  readonly clientCertificatePem?: string;
  /** The viewer's location from the CDN's headers, present only where the stack trusts them. */
  readonly location?: Location;
}

export type ApiResponse = APIGatewayProxyResult & {
  /** A metric this answer counts as (e.g. a SOAP Fault, which is HTTP 500 by its binding but the caller's mistake); never sent. */
  readonly countAs?: 'SoapFault';
};
export type ProxyEvent = APIGatewayProxyEvent;

export const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResponse => ({
  statusCode,
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
