import type { AcsEndpoint, ServiceProvider } from './service-providers.ts';
import { BINDING, SamlError } from './xml.ts';

/** The response bindings the IdP sends a Response with. */
const RESPONSE_BINDINGS: ReadonlySet<string> = new Set([BINDING.post, BINDING.artifact]);

/** What the AuthnRequest said about where its Response goes (SAML Core §3.4.1). */
export interface AcsRequest {
  readonly url: string | null;
  readonly index: string | null;
  readonly protocolBinding: string | null;
}

/**
 * The ACS from the SP's metadata that the request names: by index (its binding decides), by URL together
 * with ProtocolBinding (default HTTP-POST), or the default endpoint of the requested binding. The
 * Response goes over HTTP-POST or HTTP-Artifact; any other binding is UnsupportedBinding.
 */
export function chooseAcs(sp: ServiceProvider, request: AcsRequest): AcsEndpoint {
  const unsupported = (binding: string) =>
    new SamlError(`the response binding ${binding} is not supported (HTTP-POST or HTTP-Artifact)`, 'urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding');
  if (request.protocolBinding !== null && !RESPONSE_BINDINGS.has(request.protocolBinding)) throw unsupported(request.protocolBinding);
  if (request.index !== null) {
    const match = sp.acs.find((endpoint) => String(endpoint.index) === request.index);
    if (!match) throw new SamlError("the AssertionConsumerServiceIndex is not in the service provider's metadata");
    if (!RESPONSE_BINDINGS.has(match.binding)) throw unsupported(match.binding);
    return match;
  }
  const binding = request.protocolBinding ?? BINDING.post;
  const candidates = sp.acs.filter((endpoint) => endpoint.binding === binding);
  if (request.url !== null) {
    const match = candidates.find((endpoint) => endpoint.location === request.url);
    if (!match) throw new SamlError("the AssertionConsumerServiceURL is not in the service provider's metadata");
    return match;
  }
  const chosen = candidates.find((endpoint) => endpoint.isDefault) ?? candidates[0];
  if (!chosen)
    throw new SamlError(`the service provider's metadata has no ${binding} AssertionConsumerService`, 'urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding');
  return chosen;
}
