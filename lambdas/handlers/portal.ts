import { createContextHandler } from '../apps.ts';
import { portalContext } from '../http/contexts/portal.ts';
import { createObservability } from '../observability.ts';
import { awsRuntime } from './aws-runtime.ts';

/** Lambda entry of the portal context: adapters are built once per container, at init. */
export const handler = createContextHandler('portal', awsRuntime('portal'), portalContext, createObservability('portal'));
