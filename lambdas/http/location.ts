import type { Location } from '../core/risk/context.ts';

/**
 * The viewer location CloudFront adds (`CloudFront-Viewer-Country`, `-City`, `-Latitude`, `-Longitude`,
 * `-ASN`). A client can send these headers itself, so they are read only when the stack is configured to
 * trust them (`TRUSTED_LOCATION_HEADERS`, CDK context `trustedLocationHeaders`): a CDN in front that sets
 * them and overwrites any the client sent. Malformed values are dropped, never guessed.
 */
export function locationOf(headers: Readonly<Record<string, string | undefined>>): { location?: Location } {
  const country = headers['cloudfront-viewer-country']?.trim().toUpperCase();
  const city = headers['cloudfront-viewer-city']?.trim();
  const latitude = coordinate(headers['cloudfront-viewer-latitude'], 90);
  const longitude = coordinate(headers['cloudfront-viewer-longitude'], 180);
  const asn = headers['cloudfront-viewer-asn']?.trim();
  const location: Location = {
    ...(country && /^[A-Z]{2}$/.test(country) ? { country } : {}),
    ...(city && city.length <= 100 ? { city } : {}),
    ...(latitude !== undefined && longitude !== undefined ? { latitude, longitude } : {}),
    ...(asn && /^\d{1,10}$/.test(asn) ? { asn } : {}),
  };
  return Object.keys(location).length > 0 ? { location } : {};
}

function coordinate(value: string | undefined, limit: number): number | undefined {
  if (value === undefined || !/^-?\d{1,3}(\.\d{1,8})?$/.test(value.trim())) return undefined;
  const n = Number(value);
  return Math.abs(n) <= limit ? n : undefined;
}
