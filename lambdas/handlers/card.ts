import { createContextHandler } from '../apps.ts';
import { cardContext } from '../http/contexts/card.ts';
import { createObservability } from '../observability.ts';
import { awsRuntime } from './aws-runtime.ts';

/** Lambda entry of the card context: adapters are built once per container, at init. */
export const handler = createContextHandler('card', awsRuntime('card'), cardContext, createObservability('card'));
