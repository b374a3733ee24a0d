import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { LogoutRelay, ParticipantLogoutRequest } from '../core/access/participant-logout.ts';
import { UnavailableError } from '../core/errors.ts';
import { participantLogoutEvent } from '../internal-events.ts';
import { NodeSha256 } from './aws-truststore.ts';

export interface AwsLambdaRelayOptions {
  /** The oidc function's name (`LOGOUT_RELAY_FUNCTION`). */
  readonly functionName: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Tests: an emulator's or a loopback listener's endpoint instead of `https://lambda.{region}.amazonaws.com`. */
  readonly endpoint?: string;
  readonly timeoutMs?: number;
}

/**
 * Hands a participant-logout request to the oidc function by an asynchronous invoke (Lambda `Invoke`,
 * `X-Amz-Invocation-Type: Event`): one SigV4-signed HTTPS call rather than another SDK client in the
 * bundle. Lambda answers 202 once the event is queued; the delivery (and its retries) runs there, so
 * the ending request does not wait for the relying parties.
 */
export class AwsLambdaRelay implements LogoutRelay {
  readonly #options: AwsLambdaRelayOptions;

  constructor(options: AwsLambdaRelayOptions) {
    this.#options = options;
  }

  async send(request: ParticipantLogoutRequest): Promise<void> {
    const { functionName, region, endpoint, credentials, timeoutMs = 3000 } = this.#options;
    const url = new URL(`${endpoint ?? `https://lambda.${region}.amazonaws.com`}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`);
    const body = JSON.stringify(participantLogoutEvent(request));
    const signer = new SignatureV4({ service: 'lambda', region, credentials, sha256: NodeSha256 });
    const signed = await signer.sign({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: {},
      headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'Event', host: url.host },
      body,
    });
    let response: Response;
    try {
      response = await fetch(url, { method: 'POST', headers: signed.headers, body, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new UnavailableError('lambda', `the logout relay invoke failed: ${(error as Error).message}`);
    }
    if (response.status !== 202)
      throw new UnavailableError('lambda', `the logout relay invoke answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  }
}
