import { createContextHandler } from '../apps.ts';
import { pkiContext } from '../http/contexts/pki.ts';
import { createObservability } from '../observability.ts';
import { awsRuntime } from './aws-runtime.ts';

/** Lambda entry of the pki context (CA certificate, CRL, OCSP): adapters are built once per container, at init. */
export const handler = createContextHandler('pki', awsRuntime('pki'), pkiContext, createObservability('pki'));
