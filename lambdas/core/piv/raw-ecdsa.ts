/**
 * ECDSA over a digest the host already computed (what a PIV card signs), which node:crypto cannot do: its
 * sign() always hashes. The curve arithmetic stays in OpenSSL (k·G through ECDH's public-key derivation);
 * only the scalar formula s = k⁻¹(e + r·d) mod n is done here with BigInt. For key custodies that hold the
 * private key in memory (local custody, the in-memory test card).
 */
import { createECDH, randomBytes, type KeyObject } from 'node:crypto';

const CURVES = {
  'P-256': {
    openssl: 'prime256v1',
    size: 32,
    order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  },
  'P-384': {
    openssl: 'secp384r1',
    size: 48,
    order: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
} as const;

type Curve = keyof typeof CURVES;

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function toBytes(value: bigint, size: number): Uint8Array {
  return new Uint8Array(Buffer.from(value.toString(16).padStart(size * 2, '0'), 'hex'));
}

function mod(a: bigint, n: bigint): bigint {
  const r = a % n;
  return r < 0n ? r + n : r;
}

function inverse(a: bigint, n: bigint): bigint {
  let [oldR, r] = [mod(a, n), n];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return mod(oldS, n);
}

/** DER INTEGER of a non-negative value (minimal, with a 00 when the high bit is set). */
function derInteger(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.of(0), bytes]);
  return Buffer.concat([Buffer.of(0x02, bytes.length), bytes]);
}

/** X9.62 Ecdsa-Sig-Value: SEQUENCE { r INTEGER, s INTEGER }, the form PIV cards return. */
function derSignature(r: bigint, s: bigint): Uint8Array {
  const body = Buffer.concat([derInteger(r), derInteger(s)]);
  const length = body.length < 0x80 ? Buffer.of(body.length) : Buffer.of(0x81, body.length);
  return new Uint8Array(Buffer.concat([Buffer.of(0x30), length, body]));
}

/**
 * Signs `digest` with an EC private key (P-256 or P-384) and returns the DER signature. A digest longer than
 * the curve order is truncated to its leftmost bits, a shorter one is used as is (FIPS 186-5 §6.4.1).
 */
export function signDigest(privateKey: KeyObject, digest: Uint8Array): Uint8Array {
  const jwk = privateKey.export({ format: 'jwk' });
  const curve = jwk.crv as Curve | undefined;
  if (jwk.kty !== 'EC' || !curve || !(curve in CURVES) || !jwk.d) throw new TypeError('not a P-256 or P-384 private key');
  const { openssl, size, order } = CURVES[curve];
  const d = toBigInt(Buffer.from(jwk.d, 'base64url'));
  const e = toBigInt(digest.subarray(0, size));
  for (;;) {
    // k uniformly in [1, n-1]: draw 64 extra bits and reduce, so the bias is negligible.
    const k = mod(toBigInt(randomBytes(size + 8)), order - 1n) + 1n;
    const ecdh = createECDH(openssl);
    ecdh.setPrivateKey(Buffer.from(toBytes(k, size)));
    const point = ecdh.getPublicKey();
    const r = mod(toBigInt(point.subarray(1, 1 + size)), order);
    if (r === 0n) continue;
    const s = mod(inverse(k, order) * (e + r * d), order);
    if (s === 0n) continue;
    return derSignature(r, s);
  }
}
