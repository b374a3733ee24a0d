import * as z from '../zod.ts';

const jwk = z.record(z.string(), z.unknown());

/**
 * One Shared Signals transmitter a tenant trusts (SSF 1.0, push delivery RFC 8935): its issuer, its keys
 * (a `jwks_uri` fetched through the outbound URL policy, or an inline `jwks`) and the audience its
 * Security Event Tokens must carry for us.
 */
export const ssfTransmitterSchema = z
  .strictObject({
    issuer: z.string().check(z.minLength(1), z.maxLength(1024)),
    jwks_uri: z.optional(z.url().check(z.maxLength(2048))),
    jwks: z.optional(z.strictObject({ keys: z.array(jwk).check(z.minLength(1), z.maxLength(20)) })),
    audience: z.string().check(z.minLength(1), z.maxLength(1024)),
  })
  .check(z.refine((t) => (t.jwks_uri === undefined) !== (t.jwks === undefined), { message: 'give exactly one of jwks_uri and jwks', path: ['jwks_uri'] }));

export const ssfTransmittersSchema = z.strictObject({
  transmitters: z._default(
    z.array(ssfTransmitterSchema).check(
      z.maxLength(20),
      z.refine((list) => new Set(list.map((t) => t.issuer)).size === list.length, { message: 'each issuer may appear once' }),
    ),
    [],
  ),
});

export type SsfTransmitter = z.infer<typeof ssfTransmitterSchema>;
export type SsfTransmitters = z.infer<typeof ssfTransmittersSchema>;
export const NO_SSF_TRANSMITTERS: SsfTransmitters = { transmitters: [] };
