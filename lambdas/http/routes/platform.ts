import type { Runtime } from '../../runtime.ts';
import { HttpProblem } from '../problem.ts';
import type { Route } from '../router.ts';
import { json } from '../types.ts';
import { openApiDocument } from '../openapi.ts';

const PROBE_TIMEOUT_MS = 2_500;

/**
 * A readiness result is reused this long per container: the deep check is anonymous, so it must not let
 * anyone turn requests into store and KMS calls at their own rate (at most one probe round per container
 * per window; concurrent requests share the round in flight).
 */
const READY_REUSE_MS = 10_000;

interface Readiness {
  readonly checkedAt: number;
  readonly checks: Record<string, 'pass' | 'fail'>;
}

/**
 * `/health/live` (the process answers: no dependency touched, for load balancers and uptime checks),
 * `/health/ready` (stores and keys reachable; `/health` is the same, kept for existing monitors) and
 * `/openapi.json`.
 */
export function platformRoutes(runtime: Runtime): Route[] {
  const probes: Record<string, () => Promise<void>> = {
    directory: () => runtime.directory.ping(),
    state: () => runtime.state.ping(),
    ...(runtime.custody ? { cardKek: () => runtime.custody!.ping() } : {}),
    ...(runtime.signer ? { signingKey: () => runtime.signer!.ping() } : {}),
  };
  let last: Promise<Readiness> | undefined;
  let lastAt = -Infinity;
  const readiness = (): Promise<Readiness> => {
    const now = runtime.clock.now();
    if (!last || now - lastAt >= READY_REUSE_MS) {
      lastAt = now;
      last = Promise.all(
        Object.entries(probes).map(
          async ([name, probe]) =>
            [
              name,
              await withTimeout(probe()).then(
                () => 'pass' as const,
                () => 'fail' as const,
              ),
            ] as const,
        ),
      ).then((results) => ({ checkedAt: now, checks: Object.fromEntries(results) }));
    }
    return last;
  };
  const ready = async () => {
    const { checkedAt, checks } = await readiness();
    if (Object.values(checks).includes('fail')) {
      throw new HttpProblem(503, 'Service unavailable', {
        detail: 'a store or key is unreachable',
        extensions: { checks, checkedAt: new Date(checkedAt).toISOString() },
        headers: { 'Retry-After': '10' },
      });
    }
    return json(200, { status: 'pass', checks, checkedAt: new Date(checkedAt).toISOString() });
  };
  return [
    { method: 'GET', path: '/health/live', handle: async () => json(200, { status: 'pass' }) },
    { method: 'GET', path: '/health/ready', handle: ready },
    { method: 'GET', path: '/health', handle: ready },
    { method: 'GET', path: '/openapi.json', handle: async (request) => json(200, openApiDocument(request.baseUrl)) },
  ];
}

function withTimeout(probe: Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), PROBE_TIMEOUT_MS);
    probe.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}
