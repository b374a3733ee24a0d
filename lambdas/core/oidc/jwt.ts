import type { Signer } from '../../ports.ts';

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs a compact JWS with a Signer port (the private key stays wherever the signer keeps it). */
export async function signJwt(signer: Signer, kid: string, payload: Record<string, unknown>, typ = 'JWT'): Promise<string> {
  const input = `${b64({ alg: signer.algorithm, kid, typ })}.${b64(payload)}`;
  const signature = await signer.sign(Buffer.from(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}
