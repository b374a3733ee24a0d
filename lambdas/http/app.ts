import middy from '@middy/core';
import httpSecurityHeaders from '@middy/http-security-headers';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { Observability } from '../observability.ts';
import { parseBody } from './body.ts';
import { locationOf } from './location.ts';
import { corsDecision, preflightResponse } from './cors.ts';
import { inputMap } from './input-map.ts';
import { HttpProblem, PROBLEM_CONTENT_TYPE, toProblem } from './problem.ts';
import { prefersHtml } from './negotiation.ts';
import { problemPage } from './views/pages.ts';
import { viewOf } from './views/view.ts';
import { Router, type Route } from './router.ts';
import { withRequestBase } from './request-scope.ts';
import type { ApiRequest, ApiResponse, ProxyEvent } from './types.ts';

export interface AppOptions {
  /** Bounded context name, used in logs. */
  readonly name: string;
  readonly routes: readonly Route[];
  readonly observability: Observability;
  readonly maxBodyBytes: number;
  /** Fixed public base URL; otherwise derived from the Host header and API Gateway stage. */
  readonly publicBaseUrl?: string;
  /** Read the CDN's viewer-location headers (stack configuration; never trusted by default). */
  readonly trustedLocationHeaders?: boolean;
}

export type ProxyHandler = (event: ProxyEvent, context: Context) => Promise<ApiResponse>;

/**
 * One API Gateway proxy handler for a bounded context: routing, body limits, problem JSON errors,
 * security headers, request ids, structured logs and metrics. Routes only see an ApiRequest.
 */
export function createApp(options: AppOptions): ProxyHandler {
  const router = new Router(options.routes);
  const { logger, metrics } = options.observability;

  // CORS headers decided for a request, added to whatever it ends with (a response or an error).
  const corsHeaders = new WeakMap<ProxyEvent, Record<string, string>>();

  const core = async (event: ProxyEvent): Promise<ApiResponse> => {
    const headers = lowerCaseHeaders(event.headers);
    const method = event.httpMethod.toUpperCase();
    // A preflight is answered here for every route that declares a CORS policy: it carries no body.
    const cors = method === 'OPTIONS' ? router.corsAt(event.path) : undefined;
    if (cors) return preflightResponse(cors.methods);
    const { route, params } = router.match(method, event.path);
    let body: ReturnType<typeof parseBody>;
    try {
      body = parseBody(event.body, event.isBase64Encoded, headers['content-type'], options.maxBodyBytes);
    } catch (error) {
      // A malformed body is answered in the route's own protocol when it has one (OAuth error, SOAP Fault).
      if (error instanceof HttpProblem && error.status === 400 && route.malformedBody) return route.malformedBody(error);
      throw error;
    }
    const { raw, parsed } = body;
    const request: ApiRequest = {
      method,
      path: event.path,
      route: route.path,
      params,
      query: inputMap(event.queryStringParameters),
      repeatedQuery: Object.entries(event.multiValueQueryStringParameters ?? {})
        .filter(([, values]) => (values?.length ?? 0) > 1)
        .map(([name]) => name),
      headers,
      body: parsed,
      ...(raw ? { rawBody: raw } : {}),
      requestId: requestIdOf(event),
      baseUrl: options.publicBaseUrl ?? derivedBaseUrl(event, headers),
      ...(event.requestContext?.identity?.sourceIp ? { sourceIp: event.requestContext.identity.sourceIp } : {}),
      ...(event.requestContext?.identity?.clientCert?.clientCertPem ? { clientCertificatePem: event.requestContext.identity.clientCert.clientCertPem } : {}),
      ...(options.trustedLocationHeaders ? locationOf(headers) : {}),
    };
    if (route.cors) {
      const decision = await corsDecision(route.cors, request);
      corsHeaders.set(event, decision.headers);
      if (decision.refused) return decision.refused;
    }
    const response = await withRequestBase(request.baseUrl, () => route.handle(request));
    return method === 'HEAD' ? { ...response, body: '' } : response;
  };

  const handler = middy<ProxyEvent, ApiResponse>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    // CSP is ours (below): portal pages need their own, and this middleware would overwrite it.
    .use(httpSecurityHeaders({ contentSecurityPolicy: false }))
    .use({
      name: 'cloudcard-frame',
      before: (request) => {
        request.internal = { ...request.internal, startedAt: performance.now() };
        logger.appendKeys({ requestId: requestIdOf(request.event), context: options.name });
      },
      after: (request) => {
        request.response = finish(request.event, request.response as ApiResponse, request.internal);
      },
      onError: (request) => {
        const problem = toProblem(request.error);
        if (problem.status >= 500) {
          // The error object goes to the log (it may carry a dependency's message); never to the client.
          logger.error('request failed', { status: problem.status, error: request.error as Error });
          metrics.addMetric(problem.status === 503 ? 'DependencyUnavailable' : 'InternalError', MetricUnit.Count, 1);
        }
        const requestId = requestIdOf(request.event);
        // One rule for every route: a browser that navigated here gets a page, every other client the problem JSON.
        const headers = lowerCaseHeaders(request.event.headers);
        // The frame knows no tenant: the page speaks the browser's language in the built-in look.
        const answer = prefersHtml(headers['accept'])
          ? problemPage(viewOf({ acceptLanguage: headers['accept-language'] }), problem.status, problem.title, problem.detail, requestId, problem.headers)
          : problemResponse(problem, requestId, request.event.path);
        request.response = finish(request.event, answer, request.internal);
      },
    })
    .handler(core);

  function finish(event: ProxyEvent, answer: ApiResponse, internal: Record<string, unknown>): ApiResponse {
    const startedAt = typeof internal['startedAt'] === 'number' ? internal['startedAt'] : performance.now();
    const { countAs, ...response } = answer;
    metrics.addMetric('Requests', MetricUnit.Count, 1);
    if (countAs) metrics.addMetric(countAs, MetricUnit.Count, 1);
    logger.info('request', {
      method: event.httpMethod,
      // The path only: query strings can carry codes and tokens.
      path: event.path,
      status: response.statusCode,
      latencyMs: Math.round((performance.now() - startedAt) * 10) / 10,
    });
    return {
      ...response,
      headers: {
        'Cache-Control': 'no-store',
        'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ...response.headers,
        ...corsHeaders.get(event),
        'X-Request-Id': requestIdOf(event),
      },
    };
  }

  return handler as unknown as ProxyHandler;
}

export function problemResponse(problem: HttpProblem, requestId: string, instance: string): ApiResponse {
  return {
    statusCode: problem.status,
    headers: { 'Content-Type': PROBLEM_CONTENT_TYPE, ...problem.headers },
    body: JSON.stringify({
      type: 'about:blank',
      title: problem.title,
      status: problem.status,
      ...(problem.detail ? { detail: problem.detail } : {}),
      instance,
      requestId,
      ...problem.extensions,
    }),
  };
}

function lowerCaseHeaders(headers: ProxyEvent['headers'] | null): Record<string, string | undefined> {
  const out = inputMap<string | undefined>();
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

function requestIdOf(event: ProxyEvent): string {
  return event.requestContext?.requestId ?? 'unknown';
}

/** `https://{host}/{stage}` for the execute-api URL; a custom domain sets PUBLIC_BASE_URL instead. */
function derivedBaseUrl(event: ProxyEvent, headers: Record<string, string | undefined>): string {
  const proto = headers['x-forwarded-proto'] ?? 'https';
  const host = headers['host'] ?? 'localhost';
  const stage = event.requestContext?.stage;
  return `${proto}://${host}${stage && stage !== '$default' ? `/${stage}` : ''}`;
}
