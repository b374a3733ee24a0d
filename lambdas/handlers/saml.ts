import { createContextHandler } from '../apps.ts';
import { samlContext } from '../http/contexts/saml.ts';
import { createObservability } from '../observability.ts';
import { awsRuntime } from './aws-runtime.ts';

/** Lambda entry of the saml context: adapters are built once per container, at init. */
export const handler = createContextHandler('saml', awsRuntime('saml'), samlContext, createObservability('saml'));
