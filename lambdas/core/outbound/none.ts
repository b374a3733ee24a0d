import type { OutboundHttp } from '../../ports.ts';
import { OutboundCallError, OutboundUrlError } from './url-policy.ts';

/** For processes given no outbound HTTP: every URL is refused, so nothing is registered that cannot be called. */
export const NO_OUTBOUND: OutboundHttp = {
  check: async () => {
    throw new OutboundUrlError('cannot be checked: this process makes no outbound calls');
  },
  request: async () => {
    throw new OutboundCallError('this process makes no outbound calls');
  },
};
