import { describe, expect, it } from '@jest/globals';
import { AwsLambdaRelay } from '../../lambdas/adapters/aws-lambda-relay.ts';
import { RelayedParticipantLogout, type ParticipantLogoutRequest } from '../../lambdas/core/access/participant-logout.ts';
import type { SecurityEvent } from '../../lambdas/core/security-events.ts';
import { internalEventOf, InternalEventError, participantLogoutEvent, PARTICIPANT_LOGOUT_SOURCE } from '../../lambdas/internal-events.ts';
import { closedPort, loopbackServer } from '../support/loopback-server.ts';

const REQUEST: ParticipantLogoutRequest = {
  tenant: 'demo',
  username: 'alice',
  ended: { sessions: [{ hash: 'h1', sid: 's1' }], grants: [{ clientId: 'c1', sid: 's1' }] },
  baseUrl: 'https://id.example.test',
};

describe('the participant-logout internal event (lambdas/internal-events.ts)', () => {
  it('round-trips a request, carrying only what the delivery reads', () => {
    const event = participantLogoutEvent({ ...REQUEST, extra: 'dropped' } as ParticipantLogoutRequest);
    expect(internalEventOf(JSON.parse(JSON.stringify(event)))).toEqual(REQUEST);
  });

  it('leaves every API Gateway event to the routes', () => {
    expect(internalEventOf({ httpMethod: 'POST', path: '/t/demo/oidc/token', requestContext: {}, body: '{}' })).toBeUndefined();
    expect(internalEventOf({ source: 'aws.events' })).toBeUndefined();
    expect(internalEventOf(null)).toBeUndefined();
  });

  it('refuses an event that claims the internal source but is malformed, or is also an HTTP event', () => {
    const good = participantLogoutEvent(REQUEST);
    for (const bad of [
      { ...good, requestContext: { identity: {} }, httpMethod: 'POST' },
      { source: PARTICIPANT_LOGOUT_SOURCE },
      { ...good, request: { ...good.request, tenant: 'Demo/../x' } },
      { ...good, request: { ...good.request, baseUrl: 'javascript:alert(1)' } },
      { ...good, request: { ...good.request, ended: { sessions: 'all', grants: [] } } },
    ])
      expect(() => internalEventOf(bad)).toThrow(InternalEventError);
  });
});

describe('RelayedParticipantLogout (the notifier of a function without the token key)', () => {
  it('hands the ended access with the request base URL to the relay, and nothing when nothing ended', async () => {
    const sent: ParticipantLogoutRequest[] = [];
    const notifier = new RelayedParticipantLogout({ send: async (request) => void sent.push(request) }, { emit: () => undefined }, () => REQUEST.baseUrl);
    await notifier.notify('demo', 'alice', { sessions: [], grants: [] });
    await notifier.notify('demo', 'alice', REQUEST.ended);
    expect(sent).toEqual([REQUEST]);
  });

  it('a relay that fails is a participant-logout-failed event, never an error of the decision', async () => {
    const events: SecurityEvent[] = [];
    const notifier = new RelayedParticipantLogout(
      { send: () => Promise.reject(new Error('down')) },
      { emit: (event) => void events.push(event) },
      () => undefined,
    );
    await expect(notifier.notify('demo', 'alice', REQUEST.ended)).resolves.toBeUndefined();
    expect(events).toEqual([{ kind: 'participant-logout-failed', tenant: 'demo', username: 'alice', client: '*', reason: 'relay-failed' }]);
  });
});

describe('AwsLambdaRelay (asynchronous Lambda invoke, SigV4)', () => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };

  it('POSTs the internal event to the function invocations path as an Event invoke, signed for lambda', async () => {
    const seen: { method?: string; url?: string; headers: Record<string, unknown>; body: string }[] = [];
    const server = await loopbackServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        seen.push({ method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        response.writeHead(202).end();
      });
    });
    try {
      await new AwsLambdaRelay({ functionName: 'cloudcard-dev-oidc', region: 'eu-west-1', credentials, endpoint: server.url }).send(REQUEST);
    } finally {
      await server.close();
    }
    expect(seen).toHaveLength(1);
    const [call] = seen;
    expect(call!.method).toBe('POST');
    expect(call!.url).toBe('/2015-03-31/functions/cloudcard-dev-oidc/invocations');
    expect(call!.headers['x-amz-invocation-type']).toBe('Event');
    expect(String(call!.headers['authorization'])).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request, SignedHeaders=.*x-amz-invocation-type/,
    );
    expect(internalEventOf(JSON.parse(call!.body))).toEqual(REQUEST);
  });

  it('throws when Lambda does not queue the event (an answer other than 202, or no answer)', async () => {
    const server = await loopbackServer((_request, response) => void response.writeHead(403).end('{"Message":"not authorized"}'));
    try {
      await expect(new AwsLambdaRelay({ functionName: 'f', region: 'eu-west-1', credentials, endpoint: server.url }).send(REQUEST)).rejects.toThrow(/403/);
    } finally {
      await server.close();
    }
    const port = await closedPort();
    await expect(
      new AwsLambdaRelay({ functionName: 'f', region: 'eu-west-1', credentials, endpoint: `http://127.0.0.1:${port}` }).send(REQUEST),
    ).rejects.toThrow(/invoke failed/);
  });
});
