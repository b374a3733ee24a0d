import { TENANT_ID } from '../../../core/directory/tenant.ts';
import type { CrlPublisher } from '../../../core/pki/crl.ts';
import { statusOnlyResponse, type OcspResponder } from '../../../core/pki/ocsp.ts';
import type { TenantCa } from '../../../core/cards/authority.ts';
import { HttpProblem } from '../../problem.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { pem } from '../../../core/pki/pem.ts';

export interface PkiRouteDeps {
  readonly authority: (tenant: string) => Promise<TenantCa | undefined>;
  readonly crls: CrlPublisher;
  readonly ocsp: OcspResponder;
  readonly clock: { now(): number };
}

/** The largest OCSP request accepted (ten CertIDs with a nonce are well under 1 KiB). */
const MAX_OCSP_REQUEST = 4096;

const binary = (contentType: string, bytes: Uint8Array, headers: Record<string, string> = {}): ApiResponse => ({
  statusCode: 200,
  headers: { 'Content-Type': contentType, ...headers },
  body: Buffer.from(bytes).toString('base64'),
  isBase64Encoded: true,
});

/** Whether the client asked for PEM (`Accept: application/x-pem-file`) rather than DER. */
const wantsPem = (request: ApiRequest): boolean =>
  (request.headers['accept'] ?? '').split(',').some((type) => type.split(';')[0]!.trim().toLowerCase() === 'application/x-pem-file');

/**
 * The tenant card CA as a PKI relying parties can check, public and anonymous: its certificate
 * (`/pki/ca`), its CRL (`/pki/crl`) and its OCSP responder (`/pki/ocsp`, RFC 6960 POST and GET). DER by
 * default; `Accept: application/x-pem-file` gives PEM for the certificate and the CRL.
 */
export function pkiRoutes(deps: PkiRouteDeps): Route[] {
  const tenantOf = (request: ApiRequest): string => {
    const tenant = request.params['tenant']!;
    if (!TENANT_ID.test(tenant)) throw new HttpProblem(404, 'Not found', { detail: `tenant ${tenant} has no card CA` });
    return tenant;
  };
  const secondsUntil = (date: Date): number => Math.max(0, Math.floor((date.getTime() - deps.clock.now()) / 1000));

  const ocspAnswer = async (tenant: string, der: Uint8Array): Promise<ApiResponse> => {
    const answer = der.length > MAX_OCSP_REQUEST ? statusOnlyResponse('malformedRequest') : await deps.ocsp.respond(tenant, der);
    return binary('application/ocsp-response', answer, { 'Cache-Control': 'no-store' });
  };

  return [
    {
      method: 'GET',
      path: '/t/:tenant/pki/ca',
      handle: async (request) => {
        const tenant = tenantOf(request);
        const ca = await deps.authority(tenant);
        if (!ca) throw new HttpProblem(404, 'Not found', { detail: `tenant ${tenant} has no card CA yet (it is made with the first card)` });
        const der = new Uint8Array(ca.certificate.rawData);
        const headers = { 'Cache-Control': 'public, max-age=3600', Vary: 'Accept' };
        if (wantsPem(request)) return { statusCode: 200, headers: { 'Content-Type': 'application/x-pem-file', ...headers }, body: pem('CERTIFICATE', der) };
        return binary('application/pkix-cert', der, headers);
      },
    },
    {
      method: 'GET',
      path: '/t/:tenant/pki/crl',
      handle: async (request) => {
        const tenant = tenantOf(request);
        if (!(await deps.authority(tenant)))
          throw new HttpProblem(404, 'Not found', { detail: `tenant ${tenant} has no card CA yet (it is made with the first card)` });
        const crl = await deps.crls.current(tenant);
        // Caches may keep it until shortly before nextUpdate; a revocation publishes a new one at once.
        const headers = {
          'Cache-Control': `public, max-age=${Math.min(300, secondsUntil(crl.nextUpdate))}`,
          Vary: 'Accept',
          'Last-Modified': crl.thisUpdate.toUTCString(),
          Expires: crl.nextUpdate.toUTCString(),
        };
        if (wantsPem(request)) return { statusCode: 200, headers: { 'Content-Type': 'application/x-pem-file', ...headers }, body: pem('X509 CRL', crl.der) };
        return binary('application/pkix-crl', crl.der, headers);
      },
    },
    {
      method: 'POST',
      path: '/t/:tenant/pki/ocsp',
      handle: async (request) => {
        const tenant = tenantOf(request);
        const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/ocsp-request') {
          throw new HttpProblem(415, 'Unsupported media type', { detail: 'an OCSP request is sent as application/ocsp-request (RFC 6960 Appendix A.1)' });
        }
        return ocspAnswer(tenant, new Uint8Array(request.rawBody ?? Buffer.alloc(0)));
      },
    },
    {
      // RFC 6960 A.1: GET {url}/{url-encoding of base64 encoding of the DER request}.
      method: 'GET',
      path: '/t/:tenant/pki/ocsp/:request',
      handle: async (request) => {
        const tenant = tenantOf(request);
        const text = request.params['request']!;
        const valid = /^[A-Za-z0-9+/_-]+={0,2}$/.test(text);
        return ocspAnswer(tenant, valid ? new Uint8Array(Buffer.from(text, 'base64')) : new Uint8Array());
      },
    },
  ];
}
