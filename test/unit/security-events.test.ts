import { describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SECURITY_EVENT_KINDS, type SecurityEvent } from '../../lambdas/core/security-events.ts';
import { securityEventsOf } from '../../lambdas/observability.ts';

/** Powertools Metrics that also remembers the names added (the library's own class, not a stand-in of ours). */
class RecordingMetrics extends Metrics {
  readonly added: string[] = [];
  override addMetric(...args: Parameters<Metrics['addMetric']>): this {
    this.added.push(args[0]);
    return super.addMetric(...args);
  }
}

/** Security events (core/security-events.ts): one schema, a log line and a metric per kind, nothing secret. */
describe('security events', () => {
  it('writes each kind as one JSON log line in the schema and counts it on its metric, carrying no secret', () => {
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const metrics = new RecordingMetrics({ namespace: 'cloudcard', serviceName: 'cloudcard-oidc' });
    try {
      const events = securityEventsOf({ logger: new Logger({ serviceName: 'cloudcard-oidc', logLevel: 'INFO' }), metrics }, () => Date.UTC(2026, 0, 2));
      // Whatever a caller has at hand, only the schema's fields are written.
      const leaky = {
        kind: 'sign-in-failure',
        tenant: 'demo',
        username: 'alice',
        ip: '127.0.0.2',
        reason: 'bad-password',
        password: 'correct horse battery staple',
        refresh_token: 'rt-secret',
      } as SecurityEvent;
      events.emit(leaky);
      for (const kind of SECURITY_EVENT_KINDS) events.emit({ kind, tenant: 'demo', username: 'alice' });
    } finally {
      write.mockRestore();
    }
    const records = lines
      .flatMap((line) => line.split('\n'))
      .filter((line) => line.includes('security-event'))
      .map((line) => JSON.parse(line) as { message: string; securityEvent: Record<string, unknown> });
    expect(records).toHaveLength(SECURITY_EVENT_KINDS.length + 1);
    expect(records[0]!.securityEvent).toEqual({
      schema: 'cloudcard.security-event/1',
      kind: 'sign-in-failure',
      tenant: 'demo',
      username: 'alice',
      ip: '127.0.0.2',
      reason: 'bad-password',
      at: '2026-01-02T00:00:00.000Z',
    });
    expect(records.map((r) => r.securityEvent['kind'])).toEqual(['sign-in-failure', ...SECURITY_EVENT_KINDS]);
    expect(lines.join('')).not.toMatch(/correct horse|rt-secret/);
    expect(metrics.added).toEqual(['SecurityEvent.sign-in-failure', ...SECURITY_EVENT_KINDS.map((kind) => `SecurityEvent.${kind}`)]);
  });
});
