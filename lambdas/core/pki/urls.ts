/**
 * The tenant card CA's public URLs (fixed, docs/ARCHITECTURE "Public URLs"): its certificate, its CRL and
 * its OCSP responder. Certificates the CA issues name them (CRL distribution point, AIA), so they are
 * derived from the same public base URL as every tenant issuer.
 */
export interface PkiUrls {
  readonly ca: string;
  readonly crl: string;
  readonly ocsp: string;
}

export function pkiUrls(baseUrl: string, tenant: string): PkiUrls {
  const base = `${baseUrl.replace(/\/+$/, '')}/t/${tenant}/pki`;
  return { ca: `${base}/ca`, crl: `${base}/crl`, ocsp: `${base}/ocsp` };
}
