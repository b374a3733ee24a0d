import { ENCRYPTION } from './encryption.ts';
import { signEnveloped, type SigningKey } from './signature.ts';
import { BINDING, samlId, samlInstant, xmlEscape } from './xml.ts';
import { pemBody } from '../pki/pem.ts';

export const NAMEID_FORMAT = {
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
  email: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
} as const;

/** The tenant's SAML endpoints; `issuer` is the OIDC issuer `{base}/t/{tenant}`. */
export function samlEndpoints(issuer: string) {
  return {
    entityId: `${issuer}/saml/metadata`,
    sso: `${issuer}/saml/sso`,
    resume: `${issuer}/saml/sso/resume`,
    /** ArtifactResolutionService (SOAP), index 0. */
    artifact: `${issuer}/saml/artifact`,
    /** SingleLogoutService: Redirect, POST, SOAP and Artifact at one URL. */
    slo: `${issuer}/saml/slo`,
    /** ManageNameIDService: Redirect, POST, SOAP and Artifact at one URL. */
    nameId: `${issuer}/saml/nameid`,
    /** IdP-initiated sign-out of every SAML session participant (a page for the user, not a protocol endpoint). */
    logout: `${issuer}/saml/logout`,
  };
}

/** ArtifactResolution, SingleLogout and ManageNameID services, in the order SSODescriptorType wants them. */
function protocolEndpointsXml(endpoints: ReturnType<typeof samlEndpoints>): string {
  const service = (name: string, binding: string, location: string, index = '') =>
    `<md:${name} Binding="${binding}" Location="${xmlEscape(location)}"${index}/>`;
  return (
    service('ArtifactResolutionService', BINDING.soap, endpoints.artifact, ' index="0" isDefault="true"') +
    [BINDING.redirect, BINDING.post, BINDING.soap, BINDING.artifact].map((binding) => service('SingleLogoutService', binding, endpoints.slo)).join('') +
    [BINDING.redirect, BINDING.post, BINDING.soap, BINDING.artifact].map((binding) => service('ManageNameIDService', binding, endpoints.nameId)).join('')
  );
}

const keyDescriptor = (use: 'signing' | 'encryption', pem: string, methods = ''): string =>
  `<md:KeyDescriptor use="${use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${pemBody(pem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>${methods}</md:KeyDescriptor>`;

/**
 * The signing certificate, the next key's certificate (signing after the next rotation, so SPs that
 * refresh metadata already trust it), and the current key for encryption to us with the algorithms we use.
 */
function keyDescriptorsXml(currentPem: string, nextPem: string | undefined): string {
  const methods = [ENCRYPTION.content, ENCRYPTION.keyTransport].map((algorithm) => `<md:EncryptionMethod Algorithm="${algorithm}"/>`).join('');
  return keyDescriptor('signing', currentPem) + (nextPem ? keyDescriptor('signing', nextPem) : '') + keyDescriptor('encryption', currentPem, methods);
}

/**
 * Metadata lifetime (SAML Metadata §2.3.1, §4.3): every fetch is signed afresh with `validUntil` a year
 * ahead, so an SP that loaded it once keeps the IdP for a year instead of silently dropping it, and
 * `cacheDuration` asks SPs to fetch it again daily, which is how they learn the next signing key (published
 * before `keys rotate` makes it sign) and any new endpoint. The document changes when the keys do.
 */
export const METADATA_VALID_DAYS = 365;
export const METADATA_CACHE_DURATION = 'PT24H';

/**
 * Signed IdP metadata (SAML Metadata 2.0): the SSO service over Redirect and POST, the NameID formats
 * we issue and the signing certificate; the whole EntityDescriptor signed enveloped.
 */
export function idpMetadata(issuer: string, key: SigningKey, now: number, random: Uint8Array, keys: { nextCertificatePem?: string } = {}): string {
  const endpoints = samlEndpoints(issuer);
  const xml =
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="${samlId(random)}" entityID="${xmlEscape(endpoints.entityId)}" validUntil="${samlInstant(now + METADATA_VALID_DAYS * 86_400_000)}" cacheDuration="${METADATA_CACHE_DURATION}">` +
    `<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
    keyDescriptorsXml(key.certificatePem, keys.nextCertificatePem) +
    protocolEndpointsXml(endpoints) +
    Object.values(NAMEID_FORMAT)
      .map((format) => `<md:NameIDFormat>${format}</md:NameIDFormat>`)
      .join('') +
    `<md:SingleSignOnService Binding="${BINDING.redirect}" Location="${xmlEscape(endpoints.sso)}"/>` +
    `<md:SingleSignOnService Binding="${BINDING.post}" Location="${xmlEscape(endpoints.sso)}"/>` +
    `<md:SingleSignOnService Binding="${BINDING.artifact}" Location="${xmlEscape(endpoints.sso)}"/>` +
    `</md:IDPSSODescriptor></md:EntityDescriptor>`;
  return signEnveloped(xml, "/*[local-name()='EntityDescriptor']", key, 'first-child');
}
