import { createContextHandler } from '../apps.ts';
import { adminContext } from '../http/contexts/admin.ts';
import { createObservability } from '../observability.ts';
import { awsRuntime } from './aws-runtime.ts';

/** Lambda entry of the admin context: adapters are built once per container, at init. */
export const handler = createContextHandler('admin', awsRuntime('admin'), adminContext, createObservability('admin'));
