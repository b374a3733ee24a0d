import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:http';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';

/** A raw HTTP request with repeated headers in the given order; resolves with status and body. */
function send(url: string, init: { method?: string; headers?: [string, string][]; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: init.method ?? 'GET',
        headers: [['Host', target.host], ...(init.body ? [['Content-Length', String(Buffer.byteLength(init.body))]] : []), ...(init.headers ?? [])].flat(),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Request names that are Object.prototype members are ordinary names, through the local gateway. */
describe('local gateway: query, header and form names like __proto__ and constructor', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, logLevel: 'SILENT', demoPassword: 'correct horse battery staple' });
  });
  afterAll(async () => stack.close());

  it.each([['__proto__'], ['constructor'], ['toString'], ['hasOwnProperty']])('answers /health with a query parameter and a header named %s', async (name) => {
    const response = await send(`${stack.url}/health?${name}=1&${name}=2`, {
      headers: [
        [name, 'x'],
        [name, 'y'],
      ],
    });
    expect(response.status).toBe(200);
  });

  it.each([['constructor'], ['toString'], ['__proto__']])('takes a form field named %s as one field, not a repeated one', async (name) => {
    const form = `grant_type=client_credentials&client_id=nobody&client_secret=wrong&${name}=1`;
    const response = await send(`${stack.url}/t/demo/oidc/token`, {
      method: 'POST',
      headers: [['Content-Type', 'application/x-www-form-urlencoded']],
      body: form,
    });
    expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_client' });
    expect(response.body).not.toMatch(/repeated/);
  });

  it('still refuses a form field that is really repeated', async () => {
    const form = 'grant_type=client_credentials&client_id=nobody&toString=1&toString=2';
    const response = await send(`${stack.url}/t/demo/oidc/token`, {
      method: 'POST',
      headers: [['Content-Type', 'application/x-www-form-urlencoded']],
      body: form,
    });
    expect(response.status).toBe(400);
    expect(response.body).toMatch(/toString is repeated/);
  });
});
