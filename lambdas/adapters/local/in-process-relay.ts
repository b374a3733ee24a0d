import type { Context } from 'aws-lambda';
import type { LogoutRelay, ParticipantLogoutRequest } from '../../core/access/participant-logout.ts';
import type { ProxyHandler } from '../../http/app.ts';
import type { ProxyEvent } from '../../http/types.ts';
import { participantLogoutEvent } from '../../internal-events.ts';

/**
 * The logout relay of a gateway that holds every function in one process: the same internal event the
 * AWS invoke carries, given to the oidc handler directly (awaited, so the delivery is done when the
 * ending request answers).
 */
export class InProcessLogoutRelay implements LogoutRelay {
  readonly #receiver: () => ProxyHandler;

  constructor(receiver: () => ProxyHandler) {
    this.#receiver = receiver;
  }

  async send(request: ParticipantLogoutRequest): Promise<void> {
    await this.#receiver()(participantLogoutEvent(request) as unknown as ProxyEvent, {} as Context);
  }
}
