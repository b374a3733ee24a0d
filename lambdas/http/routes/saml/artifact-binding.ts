import type { SamlLoginRequest } from '../../../core/oidc/interactions.ts';
import type { IncomingRequest } from '../../../core/saml/authn-request.ts';
import { samlEndpoints } from '../../../core/saml/metadata.ts';
import type { Saml } from '../../../core/saml/provider.ts';
import type { ArtifactGrant } from '../../../core/saml/issued-artifacts.ts';
import { resolveSpArtifact, type ResolvedArtifact } from '../../../core/saml/sp-artifacts.ts';
import { UnavailableError } from '../../../core/errors.ts';
import type { ApiResponse } from '../../types.ts';
import { redirect } from '../../views/pages.ts';
import type { TenantContext } from '../oidc/common.ts';

/** The artifact store, which needs the state table (every SAML deployment has one). */
export function artifactsOf(saml: Saml): NonNullable<Saml['artifacts']> {
  if (!saml.artifacts) throw new UnavailableError('state', 'the SAML artifact store is not configured');
  return saml.artifacts;
}

/** Resolves an SP's SAMLart over SOAP (signed ArtifactResolve, verified ArtifactResponse). Throws SamlError. */
export async function resolveArtifact(saml: Saml, tenant: TenantContext, samlArt: string): Promise<ResolvedArtifact> {
  const key = await saml.certificates.signingKey(tenant.tenant.id, tenant.settings);
  return resolveSpArtifact(samlArt, {
    tenant: tenant.tenant.id,
    idpEntityId: samlEndpoints(tenant.issuer).entityId,
    now: saml.oidc.clock.now(),
    random: saml.oidc.random,
    key,
    http: saml.http,
    findBySourceId: (sourceId) => saml.serviceProviders.findBySourceId(tenant.tenant.id, sourceId),
  });
}

/** An AuthnRequest that arrived as SAMLart: the request the SP's ArtifactResponse carried. */
export async function incomingByArtifact(saml: Saml, tenant: TenantContext, samlArt: string, relayState: string | undefined): Promise<IncomingRequest> {
  const resolved = await resolveArtifact(saml, tenant, samlArt);
  return { binding: 'artifact', xml: resolved.xml, sp: resolved.sp, ...(relayState !== undefined ? { relayState } : {}) };
}

/**
 * HTTP-Artifact response (Bindings §3.6.3): the signed Response is stored for the SP's back-channel
 * resolution, and the browser goes to the ACS with only the artifact (and RelayState).
 * `username` is set when the Response carries a persistent NameID, whose link the resolution confirms;
 * `grant` when it carries an assertion, whose sign-in the resolution checks again.
 */
export async function sendByArtifact(
  saml: Saml,
  tenant: TenantContext,
  login: SamlLoginRequest,
  xml: string,
  cookies: string[],
  username?: string,
  grant?: ArtifactGrant,
): Promise<ApiResponse> {
  const artifact = await artifactsOf(saml).issue(tenant.tenant.id, samlEndpoints(tenant.issuer).entityId, login.spEntityId, xml, username, grant);
  const url = new URL(login.acsUrl);
  url.searchParams.set('SAMLart', artifact);
  if (login.relayState !== undefined) url.searchParams.set('RelayState', login.relayState);
  return redirect(url.toString(), {}, cookies);
}
