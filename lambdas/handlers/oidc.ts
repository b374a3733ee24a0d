import { createContextHandler } from '../apps.ts';
import { oidcContext } from '../http/contexts/oidc.ts';
import { withInternalEvents } from '../internal-event-receiver.ts';
import { createObservability } from '../observability.ts';
import { awsRuntime } from './aws-runtime.ts';

const runtime = awsRuntime('oidc');
const observability = createObservability('oidc');

/**
 * Lambda entry of the oidc context: adapters are built once per container, at init. Besides API Gateway's
 * requests it takes the participant-logout hand-offs of the functions without the token key.
 */
export const handler = withInternalEvents(createContextHandler('oidc', runtime, oidcContext, observability), runtime, observability);
