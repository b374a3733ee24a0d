import { createHash, X509Certificate } from 'node:crypto';
import type { Element } from '@xmldom/xmldom';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Clock, DirectoryStore, Item, OutboundHttp } from '../../ports.ts';
import { tenantPartition } from '../directory/keys.ts';
import { OutboundUrlError } from '../outbound/url-policy.ts';
import { validateAttributeMap, type AttributeRule } from './attribute-mapping.ts';
import type { SigningChoice } from './signing-choice.ts';
import { checkMetadataSchema } from './schema-check.ts';
import { BINDING, child, children, MAX_METADATA_BYTES, NS, parseXml, SamlError, textOf } from './xml.ts';
import { pemOfBody } from '../pki/pem.ts';

export interface AcsEndpoint {
  readonly binding: string;
  readonly location: string;
  readonly index: number;
  readonly isDefault: boolean;
}

/** An SP endpoint other than an ACS (ArtifactResolutionService, SingleLogoutService, ManageNameIDService). */
export interface SpEndpoint {
  readonly binding: string;
  readonly location: string;
  /** Where responses go when it differs from Location (Metadata §2.2.2). */
  readonly responseLocation?: string;
  /** Indexed endpoints only (ArtifactResolutionService). */
  readonly index?: number;
}

/** A service provider as its metadata describes it; nothing about it comes from any request. */
export interface ServiceProvider {
  readonly entityId: string;
  readonly acs: readonly AcsEndpoint[];
  readonly signingCertificates: readonly string[];
  readonly encryptionCertificates: readonly string[];
  readonly nameIdFormats: readonly string[];
  readonly authnRequestsSigned: boolean;
  readonly wantAssertionsSigned: boolean;
  readonly metadataXml: string;
  readonly createdAt: string;
  /** When its metadata was last replaced. */
  readonly updatedAt?: string;
  /** Absent on SPs registered before these endpoints were read: treated as none. */
  readonly artifactResolution?: readonly SpEndpoint[];
  readonly singleLogout?: readonly SpEndpoint[];
  readonly manageNameId?: readonly SpEndpoint[];
  /** Set by the operator at registration, not by metadata: what to sign (default both) and which attributes to release. */
  readonly signing?: SigningChoice;
  readonly attributeMap?: readonly AttributeRule[];
}

/** The operator's per-SP choices at registration. */
export interface SpOptions {
  readonly signing?: SigningChoice;
  readonly attributeMap?: readonly AttributeRule[];
}

type SpItem = Item & { sp: ServiceProvider };

export const entityHash = (entityId: string): string => createHash('sha1').update(entityId, 'utf8').digest('hex');
const spKey = (tenant: string, entityId: string) => ({ PK: tenantPartition(tenant), SK: `SP#${entityHash(entityId)}` });

const isHttpUrl = (value: string): boolean => {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
};

/** The SP's endpoints of one kind; every Location (and ResponseLocation) must be an http(s) URL. */
function spEndpoints(descriptor: Element, name: string, indexed: boolean): SpEndpoint[] {
  const found = children(descriptor, NS.metadata, name).map((element): SpEndpoint => {
    const location = element.getAttribute('Location') ?? '';
    const responseLocation = element.getAttribute('ResponseLocation');
    if (!isHttpUrl(location) || (responseLocation !== null && !isHttpUrl(responseLocation))) throw new SamlError(`${name} Location is not an http(s) URL`);
    const index = Number(element.getAttribute('index'));
    if (indexed && (!Number.isInteger(index) || index < 0 || index > 65535)) throw new SamlError(`${name} index must be an unsigned short`);
    return {
      binding: element.getAttribute('Binding') ?? '',
      location,
      ...(responseLocation !== null ? { responseLocation } : {}),
      ...(indexed ? { index } : {}),
    };
  });
  if (indexed && new Set(found.map((endpoint) => endpoint.index)).size !== found.length) throw new SamlError(`${name} indexes must be unique`);
  return found;
}

/** The SP's endpoint of this kind for a binding, if its metadata has one. */
export const spEndpoint = (endpoints: readonly SpEndpoint[] | undefined, binding: string): SpEndpoint | undefined =>
  endpoints?.find((endpoint) => endpoint.binding === binding);

/**
 * Metadata past its `validUntil` (on the EntityDescriptor or the SP role, SAML Metadata §2.3.1) must not
 * be used, so it is not registered: the operator gets the instant and fetches current metadata.
 * The schema check has already made sure every validUntil is an xs:dateTime.
 */
function refuseExpired(elements: readonly Element[], registeredAt: number): void {
  for (const element of elements) {
    const validUntil = element.getAttribute('validUntil');
    if (validUntil === null || !(Date.parse(validUntil) <= registeredAt)) continue;
    throw new SamlError(
      `the metadata has expired: the ${element.localName} is validUntil ${validUntil}, before now (${new Date(registeredAt).toISOString()}); get current metadata from the service provider`,
    );
  }
}

/** Parses an SP's metadata (an EntityDescriptor with one SPSSODescriptor) into what we keep; `createdAt` is the registration instant. */
export function parseSpMetadata(xml: string, createdAt: string): ServiceProvider {
  const root = parseXml(xml, MAX_METADATA_BYTES).documentElement!;
  // The SAML metadata schema first (a SamlError: the admin API answers 400, the CLI prints the reason).
  checkMetadataSchema(root);
  if (root.namespaceURI !== NS.metadata || root.localName !== 'EntityDescriptor') throw new SamlError('SP metadata must be one md:EntityDescriptor');
  const entityId = root.getAttribute('entityID') ?? '';
  if (!entityId || entityId.length > 1024) throw new SamlError('the EntityDescriptor has no entityID (or one over 1024 characters)');
  const descriptor = child(root, NS.metadata, 'SPSSODescriptor');
  if (!descriptor) throw new SamlError('the metadata has no SPSSODescriptor');
  if (!(descriptor.getAttribute('protocolSupportEnumeration') ?? '').split(/\s+/).includes('urn:oasis:names:tc:SAML:2.0:protocol')) {
    throw new SamlError('the SPSSODescriptor does not support SAML 2.0');
  }
  refuseExpired([root, descriptor], Date.parse(createdAt));
  const acs = children(descriptor, NS.metadata, 'AssertionConsumerService').map((element, position): AcsEndpoint => {
    const location = element.getAttribute('Location') ?? '';
    if (!isHttpUrl(location)) throw new SamlError(`AssertionConsumerService Location is not an http(s) URL: ${location}`);
    const index = Number(element.getAttribute('index') ?? position);
    if (!Number.isInteger(index) || index < 0 || index > 65535) throw new SamlError('AssertionConsumerService index must be an unsigned short');
    return { binding: element.getAttribute('Binding') ?? '', location, index, isDefault: element.getAttribute('isDefault') === 'true' };
  });
  if (!acs.some((endpoint) => endpoint.binding === BINDING.post)) throw new SamlError('the SP has no AssertionConsumerService with the HTTP-POST binding');
  if (new Set(acs.map((endpoint) => endpoint.index)).size !== acs.length) throw new SamlError('AssertionConsumerService indexes must be unique');
  const certificates = (use: 'signing' | 'encryption'): string[] =>
    children(descriptor, NS.metadata, 'KeyDescriptor')
      .filter((key) => (key.getAttribute('use') || use) === use)
      .flatMap((key) => {
        const keyInfo = child(key, NS.dsig, 'KeyInfo');
        const data = keyInfo ? children(keyInfo, NS.dsig, 'X509Data') : [];
        return data
          .flatMap((x509: Element) => children(x509, NS.dsig, 'X509Certificate'))
          .map((element) => {
            const pem = pemOfBody(textOf(element));
            try {
              new X509Certificate(pem);
            } catch {
              throw new SamlError('a KeyDescriptor holds a certificate that does not parse');
            }
            return pem;
          });
      });
  return {
    entityId,
    acs,
    artifactResolution: spEndpoints(descriptor, 'ArtifactResolutionService', true),
    singleLogout: spEndpoints(descriptor, 'SingleLogoutService', false),
    manageNameId: spEndpoints(descriptor, 'ManageNameIDService', false),
    signingCertificates: certificates('signing'),
    encryptionCertificates: certificates('encryption'),
    nameIdFormats: children(descriptor, NS.metadata, 'NameIDFormat').map(textOf),
    authnRequestsSigned: descriptor.getAttribute('AuthnRequestsSigned') === 'true',
    wantAssertionsSigned: descriptor.getAttribute('WantAssertionsSigned') === 'true',
    metadataXml: xml,
    createdAt,
  };
}

/**
 * The endpoints the IdP itself calls (every SOAP-binding endpoint: ArtifactResolutionService, SOAP
 * SingleLogoutService, ...), by element name. Front-channel endpoints are where browsers go, never
 * called by the IdP, so the outbound URL policy does not apply to them.
 */
function backChannelEndpoints(sp: ServiceProvider): { name: string; url: string }[] {
  const lists: [string, readonly SpEndpoint[] | undefined][] = [
    ['AssertionConsumerService', sp.acs.map((endpoint) => ({ binding: endpoint.binding, location: endpoint.location }))],
    ['ArtifactResolutionService', sp.artifactResolution],
    ['SingleLogoutService', sp.singleLogout],
    ['ManageNameIDService', sp.manageNameId],
  ];
  return lists.flatMap(([name, endpoints]) =>
    (endpoints ?? [])
      .filter((endpoint) => endpoint.binding === BINDING.soap)
      .flatMap((endpoint) =>
        [endpoint.location, ...(endpoint.responseLocation !== undefined ? [endpoint.responseLocation] : [])].map((url) => ({ name, url })),
      ),
  );
}

/** The default ACS (SAML Metadata §2.2.3): isDefault=true, else the first without isDefault=false, else the first. */
export function defaultAcs(sp: ServiceProvider): AcsEndpoint {
  const post = sp.acs.filter((endpoint) => endpoint.binding === BINDING.post);
  return post.find((endpoint) => endpoint.isDefault) ?? post[0]!;
}

/** A tenant's registered service providers, keyed by the SHA-1 of their entityID (the artifact SourceID). */
export class ServiceProviders {
  readonly #directory: DirectoryStore;
  readonly #clock: Clock;
  readonly #outbound: OutboundHttp;

  constructor(directory: DirectoryStore, clock: Clock, outbound: OutboundHttp) {
    this.#directory = directory;
    this.#clock = clock;
    this.#outbound = outbound;
  }

  /**
   * Registers an SP from its metadata; registering an entityID again is a conflict (remove it first).
   * Every endpoint the IdP will call must pass the outbound URL policy now (and again at each call).
   */
  async register(tenant: string, metadataXml: string, options: SpOptions = {}): Promise<ServiceProvider> {
    const sp = await this.#accepted(metadataXml, options, new Date(this.#clock.now()).toISOString());
    const hash = entityHash(sp.entityId);
    try {
      await this.#directory.put({ ...spKey(tenant, sp.entityId), GSI1PK: `${tenantPartition(tenant)}#SPSHA1`, GSI1SK: hash, sp }, { absent: true });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`service provider ${sp.entityId} is already registered in tenant ${tenant}`);
      throw error;
    }
    return sp;
  }

  /**
   * Replaces a registered SP's metadata (a key rollover, new endpoints), checked exactly as a registration
   * is; the new metadata must carry the same entityID. Signing choice and attribute map are kept unless
   * given. The write is guarded on the SP still being registered.
   */
  async replace(tenant: string, entityId: string, metadataXml: string, options: SpOptions = {}): Promise<ServiceProvider> {
    const current = await this.get(tenant, entityId);
    const kept: SpOptions = {
      ...(current.signing ? { signing: current.signing } : {}),
      ...(current.attributeMap ? { attributeMap: current.attributeMap } : {}),
      ...options,
    };
    const now = new Date(this.#clock.now()).toISOString();
    const sp: ServiceProvider = { ...(await this.#accepted(metadataXml, kept, now)), createdAt: current.createdAt, updatedAt: now };
    if (sp.entityId !== entityId) throw new SamlError(`the metadata is for ${sp.entityId}, not ${entityId}: register a different entity separately`);
    try {
      await this.#directory.put(
        { ...spKey(tenant, sp.entityId), GSI1PK: `${tenantPartition(tenant)}#SPSHA1`, GSI1SK: entityHash(sp.entityId), sp },
        { present: true },
      );
    } catch (error) {
      if (error instanceof ConflictError) throw new NotFoundError(`service provider ${entityId} is not registered in tenant ${tenant}`);
      throw error;
    }
    return sp;
  }

  /** The SP a metadata document and options describe, when every rule accepts it (no write). */
  async #accepted(metadataXml: string, options: SpOptions, createdAt: string): Promise<ServiceProvider> {
    const sp: ServiceProvider = {
      ...parseSpMetadata(metadataXml, createdAt),
      ...(options.signing ? { signing: options.signing } : {}),
      ...(options.attributeMap?.length ? { attributeMap: validateAttributeMap(options.attributeMap) } : {}),
    };
    for (const endpoint of backChannelEndpoints(sp)) {
      try {
        await this.#outbound.check(endpoint.url);
      } catch (error) {
        if (error instanceof OutboundUrlError) throw new SamlError(`the SOAP ${endpoint.name} Location ${endpoint.url} ${error.message}`);
        throw error;
      }
    }
    return sp;
  }

  async find(tenant: string, entityId: string): Promise<ServiceProvider | undefined> {
    if (!entityId || entityId.length > 1024) return undefined;
    const item = await this.#directory.get<SpItem>(spKey(tenant, entityId));
    return item?.sp.entityId === entityId ? item.sp : undefined;
  }

  /** The SP an artifact names: its SourceID is the SHA-1 of the entityID (the GSI1 key). */
  async findBySourceId(tenant: string, sourceIdHex: string): Promise<ServiceProvider | undefined> {
    if (!/^[0-9a-f]{40}$/.test(sourceIdHex)) return undefined;
    const page = await this.#directory.query<SpItem>({ index: 'GSI1', partition: `${tenantPartition(tenant)}#SPSHA1`, sortPrefix: sourceIdHex, limit: 2 });
    const found = page.items.filter((item) => item['GSI1SK'] === sourceIdHex && entityHash(item.sp.entityId) === sourceIdHex);
    return found.length === 1 ? found[0]!.sp : undefined;
  }

  async get(tenant: string, entityId: string): Promise<ServiceProvider> {
    const sp = await this.find(tenant, entityId);
    if (!sp) throw new NotFoundError(`service provider ${entityId} is not registered in tenant ${tenant}`);
    return sp;
  }

  async list(tenant: string): Promise<ServiceProvider[]> {
    const found: ServiceProvider[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#directory.query<SpItem>({ partition: tenantPartition(tenant), sortPrefix: 'SP#', ...(cursor ? { cursor } : {}) });
      found.push(...page.items.map((item) => item.sp));
      cursor = page.cursor;
    } while (cursor);
    return found;
  }

  async remove(tenant: string, entityId: string): Promise<void> {
    await this.get(tenant, entityId);
    await this.#directory.delete(spKey(tenant, entityId));
  }
}
