import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * Structured JSON logs and CloudWatch EMF metrics, one pair per function. Service name and namespace
 * come from the Powertools environment variables set by the stack (POWERTOOLS_SERVICE_NAME, ...).
 */
export function createObservability(service: string, options: { logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' } = {}): Observability {
  return {
    logger: new Logger({ serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? `cloudcard-${service}`, ...(options.logLevel ? { logLevel: options.logLevel } : {}) }),
    metrics: new Metrics({
      namespace: process.env['POWERTOOLS_METRICS_NAMESPACE'] ?? 'cloudcard',
      serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? `cloudcard-${service}`,
    }),
  };
}
