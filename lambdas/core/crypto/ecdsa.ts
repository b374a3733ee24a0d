import { ValidationError } from '../errors.ts';

/**
 * Converts an ECDSA signature from DER (SEQUENCE { INTEGER r, INTEGER s }), as KMS and OpenSSL return it,
 * to the fixed-width r||s form JOSE requires (RFC 7518 §3.4).
 */
export function derToJose(der: Uint8Array, componentLength: number): Uint8Array {
  let offset = 0;
  const byte = (): number => {
    const value = der[offset++];
    if (value === undefined) throw new ValidationError('truncated DER signature');
    return value;
  };
  const length = (): number => {
    const first = byte();
    if (first < 0x80) return first;
    if (first === 0x81) return byte();
    throw new ValidationError('unsupported DER length');
  };
  if (byte() !== 0x30) throw new ValidationError('DER signature is not a SEQUENCE');
  if (length() !== der.length - offset) throw new ValidationError('DER signature length mismatch');
  const out = new Uint8Array(componentLength * 2);
  for (const position of [0, 1]) {
    if (byte() !== 0x02) throw new ValidationError('DER signature component is not an INTEGER');
    let size = length();
    let start = offset;
    offset += size;
    if (offset > der.length) throw new ValidationError('truncated DER signature');
    // Strip the sign-padding zeros DER adds; then the value must fit the curve's width.
    while (size > componentLength && der[start] === 0) {
      start++;
      size--;
    }
    if (size > componentLength) throw new ValidationError('DER signature component too long');
    out.set(der.subarray(start, start + size), position * componentLength + (componentLength - size));
  }
  if (offset !== der.length) throw new ValidationError('trailing bytes after DER signature');
  return out;
}
