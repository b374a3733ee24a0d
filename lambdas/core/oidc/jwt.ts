import type { Signer } from '../../ports.ts';

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs a compact JWS with a Signer port (the private key stays wherever the signer keeps it). */
export async function signJwt(signer: Signer, kid: string, payload: Record<string, unknown>, typ = 'JWT'): Promise<string> {
  const input = `${b64({ alg: signer.algorithm, kid, typ })}.${b64(payload)}`;
  const signature = await signer.sign(Buffer.from(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

/** Reads a compact JWT's header and payload without verifying it (to route it to the right verifier). */
export function peekJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (!header || typeof header !== 'object' || !payload || typeof payload !== 'object') return undefined;
    return { header: header as Record<string, unknown>, payload: payload as Record<string, unknown> };
  } catch {
    return undefined;
  }
}
