import { describe, expect, it } from '@jest/globals';
import { openApiDocument } from '../../lambdas/http/openapi.ts';
import { adminRoutes } from '../../lambdas/http/routes/admin.ts';
import { platformRoutes } from '../../lambdas/http/routes/platform.ts';
import type { DirectoryServices, Runtime } from '../../lambdas/runtime.ts';
import type { AdminAuthenticator } from '../../lambdas/http/admin-auth.ts';

describe('OpenAPI document', () => {
  const document = openApiDocument('https://id.example.com') as { paths: Record<string, Record<string, unknown>> };
  const routes = [
    ...platformRoutes({} as Runtime),
    ...adminRoutes({ tenants: {}, users: {}, adminClients: {} } as unknown as DirectoryServices, {} as AdminAuthenticator),
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
});
