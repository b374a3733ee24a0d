import type { InboundBinding } from '../../../core/saml/inbound.ts';
import type { Saml } from '../../../core/saml/provider.ts';
import { redirectUrl } from '../../../core/saml/outbound.ts';
import type { SigningKey } from '../../../core/saml/signature.ts';
import { BINDING, SamlError } from '../../../core/saml/xml.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { formPostPage, redirect } from '../../views/pages.ts';
import type { PageView } from '../../views/view.ts';
import type { TenantContext } from '../oidc/common.ts';
import { resolveArtifact } from './artifact-binding.ts';

const PARAMETERS = ['SAMLRequest', 'SAMLResponse', 'SAMLart', 'RelayState', 'SigAlg', 'Signature'];

/**
 * A SAML message that came through the browser: HTTP-Redirect (GET, query signature), HTTP-POST (form)
 * or HTTP-Artifact (SAMLart in either, resolved over SOAP at the SP). Throws SamlError for anything
 * else; nothing is trusted until verifyInbound has run.
 */
export async function frontChannelMessage(saml: Saml, tenant: TenantContext, request: ApiRequest): Promise<InboundBinding> {
  let params: Record<string, string | undefined>;
  if (request.method === 'POST') {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') throw new SamlError('the message must be an HTML form post');
    params = (request.body as Record<string, string> | undefined) ?? {};
  } else {
    const repeated = request.repeatedQuery.filter((name) => PARAMETERS.includes(name));
    if (repeated.length) throw new SamlError(`the request repeats ${repeated.join(', ')}`);
    params = request.query;
  }
  const present = (['SAMLRequest', 'SAMLResponse', 'SAMLart'] as const).filter((name) => params[name] !== undefined);
  if (present.length !== 1) throw new SamlError('the request must carry exactly one of SAMLRequest, SAMLResponse and SAMLart');
  const relayState = params['RelayState'];
  const relay = relayState !== undefined ? { relayState } : {};
  const name = present[0]!;
  const value = params[name]!;
  if (name === 'SAMLart') {
    const resolved = await resolveArtifact(saml, tenant, value);
    return { kind: 'artifact', xml: resolved.xml, sp: resolved.sp, ...relay };
  }
  if (request.method === 'POST') return { kind: 'post', value, ...relay };
  return {
    kind: 'redirect',
    parameter: name,
    value,
    ...relay,
    ...(params['SigAlg'] !== undefined ? { sigAlg: params['SigAlg'] } : {}),
    ...(params['Signature'] !== undefined ? { signature: params['Signature'] } : {}),
  };
}

/** An SP endpoint the browser can carry a message to: HTTP-Redirect preferred, else HTTP-POST. */
export interface FrontChannelEndpoint {
  readonly binding: string;
  readonly location: string;
  readonly responseLocation?: string;
}

export function frontChannelEndpoint(endpoints: readonly FrontChannelEndpoint[] | undefined): FrontChannelEndpoint | undefined {
  return endpoints?.find((endpoint) => endpoint.binding === BINDING.redirect) ?? endpoints?.find((endpoint) => endpoint.binding === BINDING.post);
}

/**
 * Sends our message through the browser to an SP endpoint from its metadata: over Redirect with the
 * query signed, over POST signed enveloped (an auto-submitting form). `xml` is unsigned.
 */
export function sendThroughBrowser(
  view: PageView,
  endpoint: FrontChannelEndpoint,
  parameter: 'SAMLRequest' | 'SAMLResponse',
  xml: string,
  name: string,
  relayState: string | undefined,
  key: SigningKey,
  sign: (xml: string, name: string, key: SigningKey) => string,
  nonce: string,
  cookies: string[] = [],
): ApiResponse {
  const location = parameter === 'SAMLResponse' ? (endpoint.responseLocation ?? endpoint.location) : endpoint.location;
  if (endpoint.binding === BINDING.redirect) return redirect(redirectUrl(location, parameter, xml, relayState, key), {}, cookies);
  const fields: Record<string, string> = { [parameter]: Buffer.from(sign(xml, name, key), 'utf8').toString('base64') };
  if (relayState !== undefined) fields['RelayState'] = relayState;
  const page = formPostPage(view, location, fields, nonce);
  return cookies.length ? { ...page, multiValueHeaders: { 'Set-Cookie': cookies } } : page;
}
