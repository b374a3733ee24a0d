import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { securityEventMetric, securityEventRecord, type SecurityEvents } from './core/security-events.ts';

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
    logger: new Logger({
      serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? `cloudcard-${service}`,
      ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    }),
    metrics: new Metrics({
      namespace: process.env['POWERTOOLS_METRICS_NAMESPACE'] ?? 'cloudcard',
      serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? `cloudcard-${service}`,
    }),
  };
}

/**
 * The security-event port over a function's logger and metrics: one `security-event` log line in the one
 * schema (core/security-events.ts) and one count on the kind's metric, published with the request's EMF.
 */
export function securityEventsOf({ logger, metrics }: Observability, now: () => number = Date.now): SecurityEvents {
  return {
    emit: (event) => {
      logger.info('security-event', { securityEvent: securityEventRecord(event, now()) });
      metrics.addMetric(securityEventMetric(event.kind), MetricUnit.Count, 1);
    },
  };
}
