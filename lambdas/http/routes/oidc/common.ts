import type { AccessContext } from '../../../core/access/access-check.ts';
import { accessContextOf, type ContextExtras } from '../../access-context.ts';
import type { Tenant } from '../../../core/directory/tenant.ts';
import { authenticateClient, type ClientAuthMethod } from '../../../core/oidc/client-auth.ts';
import type { OidcClient } from '../../../core/oidc/client.ts';
import type { Oidc } from '../../../core/oidc/provider.ts';
import { oidcSettingsOf, type OidcSettings } from '../../../core/directory/tenant.ts';
import type { Tenants } from '../../../core/directory/tenant.ts';
import { OAuthError } from '../../../core/oidc/errors.ts';
import { HttpProblem } from '../../problem.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';

export interface TenantContext {
  readonly tenant: Tenant;
  readonly settings: OidcSettings;
  /** `{base}/t/{tenant}`: the fixed issuer identifier. */
  readonly issuer: string;
}

export const issuerOf = (request: ApiRequest, tenant: string): string => `${request.baseUrl}/t/${tenant}`;

/** The endpoint's URL as a client addresses it (DPoP htu, client-assertion audience). */
export const endpointUrl = (request: ApiRequest): string => `${request.baseUrl}${request.path}`;

/** Loads an active tenant or answers 404 (a disabled tenant has no OpenID Provider). */
export async function tenantContext(tenants: Pick<Tenants, 'find'>, request: ApiRequest): Promise<TenantContext> {
  const id = request.params['tenant']!;
  const tenant = await tenants.find(id);
  if (!tenant || tenant.status !== 'active') throw new HttpProblem(404, 'Not found', { detail: `tenant ${id} does not exist` });
  return { tenant, settings: oidcSettingsOf(tenant), issuer: issuerOf(request, id) };
}

/** What the access check is told about the request (lambdas/http/access-context.ts builds it for every route). */
export function accessContext(request: ApiRequest, keyThumbprint?: string, extras: Omit<ContextExtras, 'keyThumbprint'> = {}): AccessContext {
  return accessContextOf(request, { ...extras, ...(keyThumbprint ? { keyThumbprint } : {}) });
}

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** A token-endpoint style JSON response (RFC 6749 §5.1: never cached). */
export function oauthJson(status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return { statusCode: status, headers: { 'Content-Type': 'application/json', ...NO_STORE, ...headers }, body: JSON.stringify(body) };
}

/** RFC 6749 §5.2 error body with the error's status and headers. */
export function oauthErrorResponse(error: OAuthError): ApiResponse {
  return oauthJson(error.status, { error: error.error, error_description: error.message, ...error.fields }, { ...error.headers });
}

/** A form the frame could not parse (a repeated parameter, RFC 6749 §3.2) is `invalid_request` at an OAuth endpoint. */
export const oauthMalformedBody = (problem: HttpProblem): ApiResponse => oauthErrorResponse(new OAuthError('invalid_request', problem.detail ?? problem.title));

/** Runs an endpoint, turning OAuthErrors into their JSON response; other errors go to the app's handler. */
export async function oauthEndpoint(run: () => Promise<ApiResponse>): Promise<ApiResponse> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof OAuthError) return oauthErrorResponse(error);
    throw error;
  }
}

/** The form body of a POST endpoint; OAuth endpoints take application/x-www-form-urlencoded only. */
export function formOf(request: ApiRequest): Record<string, string> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new OAuthError('invalid_request', 'the request body must be application/x-www-form-urlencoded');
  return (request.body as Record<string, string> | undefined) ?? {};
}

/** Authorization request parameters from the query (GET) or form body (POST), per OIDC Core §3.1.2.1. */
export function paramsOf(request: ApiRequest): Record<string, string | undefined> {
  if (request.method === 'POST') return (request.body as Record<string, string> | undefined) ?? {};
  return request.query;
}

/**
 * Authenticates the client of a token, device, introspection or revocation request. Client assertions
 * may name this endpoint or the issuer as audience (RFC 7523 §3).
 */
export function authenticateRequestClient(
  oidc: Oidc,
  request: ApiRequest,
  tenant: TenantContext,
  form: Record<string, string>,
): Promise<{ client: OidcClient; method: ClientAuthMethod }> {
  const authorization = request.headers['authorization'];
  return authenticateClient(
    { tenant: tenant.tenant.id, ...(authorization ? { authorization } : {}), form, audiences: [endpointUrl(request), tenant.issuer] },
    { clients: oidc.clients, replay: oidc.replay, clock: oidc.clock, keys: oidc.clientKeys },
  );
}
