import type { CorsPolicy } from './cors.ts';
import { HttpProblem } from './problem.ts';
import type { ApiRequest, ApiResponse } from './types.ts';

export type RouteHandler = (request: ApiRequest) => Promise<ApiResponse>;

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path with `:name` parameters, e.g. `/t/:tenant/admin/v1/users/:username`. */
  readonly path: string;
  readonly handle: RouteHandler;
  /** Whether and how scripts of other origins may call it (lambdas/http/cors.ts); none by default. */
  readonly cors?: CorsPolicy;
  /**
   * How this route's protocol answers a body the frame could not parse (a repeated form parameter,
   * malformed JSON): an OAuth error, a SOAP Fault. Without it, the frame's problem JSON (or page).
   */
  readonly malformedBody?: (problem: HttpProblem) => ApiResponse;
}

interface CompiledRoute extends Route {
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

/** Matches method and path; a known path with another method is 405 (with Allow), anything else 404. */
export class Router {
  readonly #routes: CompiledRoute[];

  constructor(routes: readonly Route[]) {
    this.#routes = routes.map((route) => {
      const names: string[] = [];
      const source = route.path
        .split('/')
        .map((segment) => {
          if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          names.push(segment.slice(1));
          return '([^/]+)';
        })
        .join('/');
      return { ...route, pattern: new RegExp(`^${source}$`), names };
    });
  }

  get routes(): readonly Route[] {
    return this.#routes;
  }

  /** The CORS policy of a path, with its methods, when a route on it has one (for preflights). */
  corsAt(path: string): { policy: CorsPolicy; methods: string[] } | undefined {
    const routes = this.#routes.filter((route) => route.cors && route.pattern.test(path));
    if (routes.length === 0) return undefined;
    return { policy: routes[0]!.cors!, methods: [...new Set(routes.map((route) => route.method))].sort() };
  }

  match(method: string, path: string): { route: Route; params: Record<string, string> } {
    const allowed = new Set<string>();
    for (const route of this.#routes) {
      const found = route.pattern.exec(path);
      if (!found) continue;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
        allowed.add(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        params[name] = safeDecode(found[i + 1] ?? '');
      });
      return { route, params };
    }
    if (allowed.size > 0) {
      const allow = [...allowed].sort().join(', ');
      throw new HttpProblem(405, 'Method not allowed', { detail: `${method} is not allowed on ${path}; use ${allow}`, headers: { Allow: allow } });
    }
    throw new HttpProblem(404, 'Not found', { detail: `no route for ${path}` });
  }
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpProblem(400, 'Invalid request', { detail: 'malformed percent-encoding in the path' });
  }
}
