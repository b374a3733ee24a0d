import { describe, expect, it } from '@jest/globals';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { REQUEST_VALIDATORS, requestSchema } from '../../lambdas/http/openapi-requests.ts';
import { CardSessionError, type CardSessions } from '../../lambdas/core/cards/sessions.ts';
import { CARD_SESSION_PROBLEMS, openApiDocument } from '../../lambdas/http/openapi.ts';
import { HttpProblem } from '../../lambdas/http/problem.ts';
import { adminRoutes } from '../../lambdas/http/routes/admin.ts';
import { cardRoutes, type CardRouteDeps } from '../../lambdas/http/routes/card/index.ts';
import type { ApiRequest } from '../../lambdas/http/types.ts';
import { platformRoutes } from '../../lambdas/http/routes/platform.ts';
import { pkiRoutes, type PkiRouteDeps } from '../../lambdas/http/routes/pki/index.ts';
import { ssfRoutes } from '../../lambdas/http/routes/oidc/ssf.ts';
import type { SetReceiver } from '../../lambdas/core/ssf/receiver.ts';
import type { DirectoryServices, Runtime } from '../../lambdas/runtime.ts';
import type { AdminAuthenticator } from '../../lambdas/http/admin-auth.ts';

describe('OpenAPI document', () => {
  const document = openApiDocument('https://id.example.com') as { paths: Record<string, Record<string, unknown>> };
  const routes = [
    ...platformRoutes({} as Runtime),
    ...adminRoutes({ tenants: {}, users: {}, adminClients: {} } as unknown as DirectoryServices, {} as AdminAuthenticator),
    ...cardRoutes({} as CardRouteDeps),
    ...pkiRoutes({} as PkiRouteDeps),
    ...ssfRoutes({} as SetReceiver),
  ];
  const openApiPath = (path: string): string => path.replace(/:([a-z]+)/g, '{$1}');

  it('describes every route the API serves', () => {
    for (const route of routes) {
      expect(document.paths[openApiPath(route.path)]?.[route.method.toLowerCase()]).toBeDefined();
    }
  });

  it('describes no operation the API does not serve', () => {
    const served = new Set(routes.map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`));
    for (const [path, item] of Object.entries(document.paths)) {
      for (const method of Object.keys(item).filter((k) => k !== 'parameters')) expect(served).toContain(`${method} ${path}`);
    }
  });

  it('has unique operation ids and resolvable references', () => {
    const text = JSON.stringify(document);
    const ids = [...text.matchAll(/"operationId":"([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
    const components = (document as unknown as { components: Record<string, Record<string, unknown>> }).components;
    for (const [, kind, name] of text.matchAll(/"\$ref":"#\/components\/([a-zA-Z]+)\/([a-zA-Z]+)"/g)) {
      expect(components[kind!]?.[name!]).toBeDefined();
    }
  });

  it("is clean under Redocly's recommended rules: no error, no warning", async () => {
    const config = await createConfig({ extends: ['recommended'] });
    // A base address that is not example.com (a rule warns on it); the document is the one the stack serves.
    const source = JSON.stringify(openApiDocument('https://id.cloudcard.test'));
    const problems = await lintFromString({ source, absoluteRef: '/openapi.json', config });
    expect(problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)).toEqual([]);
  });

  it('gives every operation a summary and every public route security: []', () => {
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item).filter(([k]) => k !== 'parameters') as Array<
        [string, { summary?: string; security?: unknown[] }]
      >) {
        expect([`${method} ${path}`, typeof operation.summary]).toEqual([`${method} ${path}`, 'string']);
        expect([`${method} ${path}`, Array.isArray(operation.security)]).toEqual([`${method} ${path}`, true]);
      }
    }
  });

  it('describes request bodies with the JSON Schema of the zod validators that check them', () => {
    const schemas = (document as unknown as { components: { schemas: Record<string, unknown> } }).components.schemas;
    for (const [name, validator] of Object.entries(REQUEST_VALIDATORS)) expect(schemas[name]).toEqual(requestSchema(validator));
    // Spot check that the generated schema says what the validator enforces.
    const userAdd = schemas['UserAdd'] as { required: string[]; additionalProperties: boolean; properties: { password: { minLength: number } } };
    expect(userAdd.required).toEqual(['username']);
    expect(userAdd.additionalProperties).toBe(false);
    expect(userAdd.properties.password.minLength).toBe(12);
    // Every JSON request body of the admin API refers to one of them (the card API's bodies are checked by hand-written rules).
    const adminBodies = Object.entries(document.paths)
      .filter(([path]) => path.includes('/admin/v1/'))
      .flatMap(([, item]) => Object.values(item) as Array<{ requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> } }>)
      .map((operation) => operation.requestBody?.content?.['application/json']?.schema?.$ref)
      .filter((ref): ref is string => ref !== undefined)
      .map((ref) => ref.split('/').pop()!);
    expect(adminBodies.length).toBeGreaterThan(5);
    // Metadata XML or a URL (parsed by the SAML code), and one optional integer checked by Clients.rotateSecret: no zod.
    const handWritten = new Set(['ServiceProviderRegistration', 'ClientSecretRotation']);
    for (const name of adminBodies) if (!handWritten.has(name)) expect(Object.keys(REQUEST_VALIDATORS)).toContain(name);
  });

  describe('card API', () => {
    type Operation = { security?: Array<Record<string, unknown>>; responses: Record<string, { $ref?: string }> };
    const components = (document as unknown as { components: Record<string, Record<string, unknown>> }).components;
    const operation = (method: string, path: string): Operation => document.paths[openApiPath(path)]![method.toLowerCase()] as Operation;
    const resolve = (response: { $ref?: string }): Record<string, unknown> =>
      (response.$ref ? components['responses']![response.$ref.split('/').pop()!] : response) as Record<string, unknown>;
    const documentedTypes = (response: { $ref?: string }): string[] => {
      const schema = (resolve(response)['content'] as Record<string, { schema: { allOf?: Array<{ properties?: { type?: { enum?: string[] } } }> } }>)[
        'application/problem+json'
      ]!.schema;
      return (schema.allOf ?? []).flatMap((part) => part.properties?.type?.enum ?? []);
    };
    const cardApiRoutes = cardRoutes({} as CardRouteDeps);

    it('describes every card route, each with its security scheme', () => {
      expect(cardApiRoutes.map((r) => `${r.method} ${r.path}`).sort()).toEqual(
        [
          'POST /t/:tenant/card/v1/tokens',
          'POST /t/:tenant/card/v1/devices',
          'POST /t/:tenant/card/v1/cards/:card/challenge',
          'POST /t/:tenant/card/v1/cards/:card/sessions',
          'POST /t/:tenant/card/v1/session/apdu',
          'POST /t/:tenant/card/v1/session/reset',
          'POST /t/:tenant/card/v1/session/renew',
          'DELETE /t/:tenant/card/v1/session',
        ].sort(),
      );
      const schemes = components['securitySchemes'] as Record<string, { type: string; scheme: string; bearerFormat?: string }>;
      expect(schemes['cardUserToken']).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
      expect(schemes['cardSession']).toMatchObject({ type: 'http', scheme: 'CardSession' });
      for (const route of cardApiRoutes) {
        const wanted = route.path.includes('/session/') || route.path.endsWith('/session') ? 'cardSession' : 'cardUserToken';
        expect(operation(route.method, route.path).security).toEqual([{ [wanted]: [] }]);
      }
    });

    it('takes and returns the APDU as raw bytes or as JSON', () => {
      const apdu = document.paths['/t/{tenant}/card/v1/session/apdu']!['post'] as {
        requestBody: { content: Record<string, unknown> };
        responses: Record<string, { content?: Record<string, unknown> }>;
      };
      expect(Object.keys(apdu.requestBody.content).sort()).toEqual(['application/json', 'application/octet-stream']);
      expect(Object.keys(apdu.responses['200']!.content!).sort()).toEqual(['application/json', 'application/octet-stream']);
      expect(Object.keys(apdu.responses)).toEqual(expect.arrayContaining(['400', '401', '409', '410', '413', '415']));
    });

    it.each(Object.keys(CARD_SESSION_PROBLEMS) as Array<keyof typeof CARD_SESSION_PROBLEMS>)(
      'documents the %s problem with the status, type and action the session routes answer',
      async (name) => {
        const reason = name.replace('card-session-', '') as CardSessionError['reason'];
        const fail = async (): Promise<never> => {
          throw new CardSessionError(reason, 'refused');
        };
        const sessions = { apdu: fail, reset: fail, renew: fail, close: fail } as unknown as CardSessions;
        const routes = cardRoutes({ sessions } as unknown as CardRouteDeps);
        const request = (method: string, path: string): ApiRequest => ({
          method,
          path,
          params: { tenant: 'acme' },
          query: {},
          repeatedQuery: [],
          headers: { authorization: `CardSession ${'A'.repeat(43)}`, 'content-type': 'application/octet-stream' },
          body: undefined,
          rawBody: Buffer.from([0x00, 0xa4, 0x04, 0x00]),
          requestId: 'test',
          baseUrl: 'https://id.example.com',
        });
        // Closing only ever finds a session missing or expired; the others check the card too.
        const paths =
          reason === 'expired' ? ['/session/apdu', '/session/reset', '/session/renew', '/session'] : ['/session/apdu', '/session/reset', '/session/renew'];
        for (const suffix of paths) {
          const route = routes.find((r) => r.path === `/t/:tenant/card/v1${suffix}`)!;
          const problem = await Promise.resolve(route.handle(request(route.method, route.path))).then(
            () => undefined,
            (error: unknown) => error,
          );
          expect(problem).toBeInstanceOf(HttpProblem);
          const { status, extensions } = problem as HttpProblem;
          expect(status).toBe(CARD_SESSION_PROBLEMS[name].status);
          expect(extensions['type']).toBe(`https://cloudcard.dev/problems/${name}`);
          expect(extensions['action']).toBe((CARD_SESSION_PROBLEMS[name] as { action?: string }).action);
          const documented = operation(route.method, route.path).responses[String(status)];
          expect(documented).toBeDefined();
          expect(documentedTypes(documented!)).toContain(extensions['type']);
        }
      },
    );
  });
});
