import { SetError, type SetReceiver } from '../../../core/ssf/receiver.ts';
import type { Route } from '../../router.ts';
import { json } from '../../types.ts';

/**
 * The Shared Signals push endpoint (RFC 8935): a transmitter POSTs one Security Event Token as
 * `application/secevent+jwt`; 202 once verified and applied, else 400 with the RFC 8935 error JSON.
 */
export const ssfRoutes = (receiver: SetReceiver | undefined): Route[] =>
  receiver
    ? [
        {
          method: 'POST',
          path: '/t/:tenant/ssf/push',
          handle: async (request) => {
            const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
            const token = request.rawBody?.toString('utf8').trim() ?? '';
            try {
              if (mediaType !== 'application/secevent+jwt') throw new SetError('invalid_request', 'the body must be application/secevent+jwt');
              if (!token) throw new SetError('invalid_request', 'the body is empty');
              await receiver.receive(request.params['tenant']!, token);
              return { statusCode: 202, headers: {}, body: '' };
            } catch (error) {
              if (error instanceof SetError) return json(400, { err: error.code, description: error.message });
              throw error;
            }
          },
        },
      ]
    : [];
