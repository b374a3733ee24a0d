import { createContextHandler } from '../apps.ts';
import { oidcContext } from '../http/contexts/oidc.ts';
import { createObservability } from '../observability.ts';
import { awsRuntime } from './aws-runtime.ts';

/** Lambda entry of the oidc context: adapters are built once per container, at init. */
export const handler = createContextHandler('oidc', awsRuntime('oidc'), oidcContext, createObservability('oidc'));
