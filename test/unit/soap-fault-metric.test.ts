import { describe, expect, it } from '@jest/globals';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createApp } from '../../lambdas/http/app.ts';
import { soapEndpoint } from '../../lambdas/http/routes/saml/soap-endpoint.ts';
import { lambdaContext, proxyEvent } from '../support/events.ts';

/** Powertools Metrics that also remembers the names added (the library's own class, not a stand-in of ours). */
class RecordingMetrics extends Metrics {
  readonly added: string[] = [];
  override addMetric(...args: Parameters<Metrics['addMetric']>): this {
    this.added.push(args[0]);
    return super.addMetric(...args);
  }
}

describe('SOAP Faults are counted apart from failures', () => {
  const app = (metrics: RecordingMetrics) =>
    createApp({
      name: 'saml',
      maxBodyBytes: 65_536,
      observability: { logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }), metrics },
      routes: [{ method: 'POST', path: '/soap', handle: (request) => soapEndpoint(request, async (message) => message) }],
    });

  it('a Fault (HTTP 500 by the SOAP 1.1 binding) counts as SoapFault, not InternalError, and the marker never reaches the client', async () => {
    const metrics = new RecordingMetrics({ namespace: 'cloudcard', serviceName: 'cloudcard-saml' });
    const response = await app(metrics)(proxyEvent('POST', '/soap', { headers: { 'Content-Type': 'application/json' }, body: '{}' }), lambdaContext);
    expect(response.statusCode).toBe(500);
    expect(response.body).toContain('<faultcode>SOAP-ENV:Client</faultcode>');
    expect(response).not.toHaveProperty('countAs');
    expect(metrics.added).toContain('SoapFault');
    expect(metrics.added).not.toContain('InternalError');
  });

  it('a SOAP answer counts as no fault', async () => {
    const metrics = new RecordingMetrics({ namespace: 'cloudcard', serviceName: 'cloudcard-saml' });
    const envelope = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x xmlns="urn:x"/></s:Body></s:Envelope>';
    const response = await app(metrics)(proxyEvent('POST', '/soap', { headers: { 'Content-Type': 'text/xml' }, body: envelope }), lambdaContext);
    expect(response.statusCode).toBe(200);
    expect(metrics.added).not.toContain('SoapFault');
  });
});
