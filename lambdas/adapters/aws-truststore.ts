import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';
import { UnavailableError } from '../core/errors.ts';
import type { TruststoreWriter } from '../ports.ts';

/** SHA-256 and HMAC-SHA-256 for the request signer, from node:crypto. */
export class NodeSha256 implements Checksum {
  readonly #secret: SourceData | undefined;
  #hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.#secret = secret;
    this.#hash = this.#fresh();
  }
  #fresh(): Hash | Hmac {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(this.#secret));
  }
  update(data: Uint8Array): void {
    this.#hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
  reset(): void {
    this.#hash = this.#fresh();
  }
}

const toBytes = (data: SourceData): Uint8Array =>
  typeof data === 'string'
    ? Buffer.from(data, 'utf8')
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

export interface AwsTruststoreOptions {
  readonly bucket: string;
  readonly key: string;
  /** The mutual-TLS custom domain whose truststore is this object. */
  readonly domainName: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Tests: an emulator's endpoints (S3 path-style), each defaulting to the region's AWS endpoint. */
  readonly endpoints?: { readonly s3?: string; readonly apiGateway?: string };
}

/**
 * Publishes the truststore in AWS: PutObject of the bundle (the bucket is versioned), then UpdateDomainName
 * switching the domain's `mutualTlsAuthentication/truststoreVersion` to the new version, because API
 * Gateway reads the truststore when the domain changes, not when the object does. Two signed HTTPS calls
 * (SigV4) rather than two more SDK clients in the admin bundle; the role may put only this key and patch
 * only this domain (lib/truststore.ts).
 */
export class AwsTruststore implements TruststoreWriter {
  readonly #options: AwsTruststoreOptions;

  constructor(options: AwsTruststoreOptions) {
    this.#options = options;
  }

  async write(pem: string): Promise<void> {
    const body = Buffer.from(pem, 'utf8');
    const put = await this.#send('s3', 'PUT', this.#s3Url(), body, {
      'content-type': 'application/x-pem-file',
      'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'),
    });
    const version = put.headers.get('x-amz-version-id');
    if (!version || version === 'null') throw new UnavailableError('truststore', 'the truststore bucket returned no object version (is versioning on?)');
    const patch = { patchOperations: [{ op: 'replace', path: '/mutualTlsAuthentication/truststoreVersion', value: version }] };
    await this.#send('apigateway', 'PATCH', this.#apiGatewayUrl(), Buffer.from(JSON.stringify(patch)), { 'content-type': 'application/json' });
  }

  #s3Url(): URL {
    const { endpoints, bucket, key, region } = this.#options;
    const path = key.split('/').map(encodeURIComponent).join('/');
    return endpoints?.s3 ? new URL(`${endpoints.s3}/${bucket}/${path}`) : new URL(`https://${bucket}.s3.${region}.amazonaws.com/${path}`);
  }

  #apiGatewayUrl(): URL {
    const { endpoints, domainName, region } = this.#options;
    return new URL(`${endpoints?.apiGateway ?? `https://apigateway.${region}.amazonaws.com`}/domainnames/${encodeURIComponent(domainName)}`);
  }

  async #send(service: 's3' | 'apigateway', method: string, url: URL, body: Buffer, headers: Record<string, string>): Promise<Response> {
    const signer = new SignatureV4({
      service,
      region: this.#options.region,
      credentials: this.#options.credentials,
      sha256: NodeSha256,
      uriEscapePath: service !== 's3',
    });
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: {},
      headers: { ...headers, host: url.host },
      body,
    });
    let response: Response;
    try {
      response = await fetch(url, { method, headers: signed.headers, body, signal: AbortSignal.timeout(5000) });
    } catch (error) {
      throw new UnavailableError('truststore', `${service} ${method} failed: ${(error as Error).message}`);
    }
    if (!response.ok) {
      const text = (await response.text()).slice(0, 300);
      throw new UnavailableError('truststore', `${service} ${method} answered ${response.status}: ${text}`);
    }
    return response;
  }
}
