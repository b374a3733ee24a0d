import { parseAttributeRule } from '../../core/saml/attribute-mapping.ts';
import { entityHash, type ServiceProvider, type ServiceProviders, type SpOptions } from '../../core/saml/service-providers.ts';
import { parseSigningChoice } from '../../core/saml/signing-choice.ts';
import { SamlError } from '../../core/saml/xml.ts';
import { HttpProblem } from '../problem.ts';
import type { Route, RouteHandler } from '../router.ts';
import { json, type ApiRequest, type ApiResponse } from '../types.ts';

/** Media types a metadata document may be sent as, raw (besides JSON {"metadata": "<xml>"}). */
const METADATA_TYPES = /^(application\/samlmetadata\+xml|application\/xml|text\/xml)\b/i;

export interface AdminSpRouteOptions {
  /** `/t/:tenant/admin/v1` */
  readonly base: string;
  readonly guarded: (handle: RouteHandler) => RouteHandler;
  readonly audit?: ((entry: Record<string, unknown>) => void) | undefined;
}

/** An SP as the admin API shows it: its id (the SHA-1 of the entityID, also the artifact SourceID) first. */
const view = (sp: ServiceProvider) => ({ id: entityHash(sp.entityId), ...sp });

/** The metadata and options of a registration: raw XML, or JSON {"metadata", "sign"?, "attributes"?}. */
function registration(request: ApiRequest): { xml: string; options: SpOptions } {
  const contentType = request.headers['content-type'] ?? '';
  if (METADATA_TYPES.test(contentType)) {
    const xml = request.rawBody?.toString('utf8') ?? '';
    if (!xml) throw new HttpProblem(400, 'Invalid request', { detail: 'the metadata document is empty' });
    return { xml, options: {} };
  }
  if (!/^application\/json\b/i.test(contentType)) {
    throw new HttpProblem(415, 'Unsupported media type', { detail: 'send the metadata as application/samlmetadata+xml, or JSON {"metadata": "<xml>"}' });
  }
  const body = request.body as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpProblem(400, 'Invalid request', { detail: 'the body must be a JSON object' });
  const unknown = Object.keys(body).filter((key) => !['metadata', 'sign', 'attributes'].includes(key));
  if (unknown.length) throw new HttpProblem(400, 'Invalid request', { detail: `unknown members: ${unknown.join(', ')}` });
  if (typeof body['metadata'] !== 'string' || !body['metadata'])
    throw new HttpProblem(400, 'Invalid request', { detail: 'metadata must be the SP metadata document (a string)' });
  const attributes = body['attributes'];
  if (attributes !== undefined && (!Array.isArray(attributes) || !attributes.every((rule) => typeof rule === 'string'))) {
    throw new HttpProblem(400, 'Invalid request', { detail: 'attributes must be a list of NAME=field rules' });
  }
  return {
    xml: body['metadata'],
    options: {
      ...(body['sign'] !== undefined ? { signing: parseSigningChoice(String(body['sign'])) } : {}),
      ...(attributes ? { attributeMap: (attributes as string[]).map(parseAttributeRule) } : {}),
    },
  };
}

/** SAML errors here are about the operator's input: a 400 problem with the reason. */
const saml =
  (handle: RouteHandler): RouteHandler =>
  async (request) => {
    try {
      return await handle(request);
    } catch (error) {
      if (error instanceof SamlError) throw new HttpProblem(400, 'Invalid service provider', { detail: error.message });
      throw error;
    }
  };

/**
 * SAML service providers under the tenant admin API: register from metadata (the SP's endpoints and keys
 * come only from it), list, show, replace its metadata (PUT, checked as a registration is) and remove. An SP is addressed by the SHA-1 of its entityID.
 */
export function adminServiceProviderRoutes(serviceProviders: ServiceProviders, options: AdminSpRouteOptions): Route[] {
  const { base, guarded } = options;
  const tenantOf = (request: ApiRequest): string => request.params['tenant']!;
  const spOf = async (request: ApiRequest): Promise<ServiceProvider> => {
    const sp = await serviceProviders.findBySourceId(tenantOf(request), request.params['sp'] ?? '');
    if (!sp) throw new HttpProblem(404, 'Not found', { detail: `no service provider ${request.params['sp']} in tenant ${tenantOf(request)}` });
    return sp;
  };
  const handlers: Record<string, (request: ApiRequest) => Promise<ApiResponse>> = {
    register: async (request) => {
      const { xml, options: spOptions } = registration(request);
      const sp = await serviceProviders.register(tenantOf(request), xml, spOptions);
      options.audit?.({ event: 'service-provider', action: 'registered', tenant: tenantOf(request), entityId: sp.entityId });
      return json(201, view(sp), { Location: `${request.baseUrl}/t/${tenantOf(request)}/admin/v1/service-providers/${entityHash(sp.entityId)}` });
    },
    list: async (request) => json(200, { serviceProviders: (await serviceProviders.list(tenantOf(request))).map(view) }),
    show: async (request) => json(200, view(await spOf(request))),
    replace: async (request) => {
      const current = await spOf(request);
      const { xml, options: spOptions } = registration(request);
      const sp = await serviceProviders.replace(tenantOf(request), current.entityId, xml, spOptions);
      options.audit?.({ event: 'service-provider', action: 'replaced', tenant: tenantOf(request), entityId: sp.entityId });
      return json(200, view(sp));
    },
    remove: async (request) => {
      const sp = await spOf(request);
      await serviceProviders.remove(tenantOf(request), sp.entityId);
      options.audit?.({ event: 'service-provider', action: 'removed', tenant: tenantOf(request), entityId: sp.entityId });
      return { statusCode: 204, headers: {}, body: '' };
    },
  };
  return [
    { method: 'POST', path: `${base}/service-providers`, handle: guarded(saml(handlers['register']!)) },
    { method: 'GET', path: `${base}/service-providers`, handle: guarded(handlers['list']!) },
    { method: 'GET', path: `${base}/service-providers/:sp`, handle: guarded(handlers['show']!) },
    { method: 'PUT', path: `${base}/service-providers/:sp`, handle: guarded(saml(handlers['replace']!)) },
    { method: 'DELETE', path: `${base}/service-providers/:sp`, handle: guarded(handlers['remove']!) },
  ];
}
