import type { Runtime } from '../../runtime.ts';
import { HttpProblem } from '../problem.ts';
import type { Route } from '../router.ts';
import { json } from '../types.ts';
import { openApiDocument } from '../openapi.ts';

const PROBE_TIMEOUT_MS = 2_500;

/** `/health` (stores and keys reachable) and `/openapi.json`. */
export function platformRoutes(runtime: Runtime): Route[] {
  const probes: Record<string, () => Promise<void>> = {
    directory: () => runtime.directory.ping(),
    state: () => runtime.state.ping(),
    ...(runtime.custody ? { cardKek: () => runtime.custody!.ping() } : {}),
    ...(runtime.signer ? { signingKey: () => runtime.signer!.ping() } : {}),
  };
  return [
    {
      method: 'GET',
      path: '/health',
      handle: async () => {
        const results = await Promise.all(
          Object.entries(probes).map(async ([name, probe]) => [name, await withTimeout(probe()).then(() => 'pass', () => 'fail')] as const),
        );
        const checks = Object.fromEntries(results);
        if (results.some(([, status]) => status === 'fail')) {
          throw new HttpProblem(503, 'Service unavailable', { detail: 'a store or key is unreachable', extensions: { checks }, headers: { 'Retry-After': '5' } });
        }
        return json(200, { status: 'pass', checks });
      },
    },
    { method: 'GET', path: '/openapi.json', handle: async (request) => json(200, openApiDocument(request.baseUrl)) },
  ];
}

function withTimeout(probe: Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), PROBE_TIMEOUT_MS);
    probe.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}
