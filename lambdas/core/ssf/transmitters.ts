import * as z from 'zod';

const jwk = z.record(z.string(), z.unknown());

/**
 * One Shared Signals transmitter a tenant trusts (SSF 1.0, push delivery RFC 8935): its issuer, its keys
 * (a `jwks_uri` fetched through the outbound URL policy, or an inline `jwks`) and the audience its
 * Security Event Tokens must carry for us.
 */
export const ssfTransmitterSchema = z
  .object({
    issuer: z.string().min(1).max(1024),
    jwks_uri: z.string().url().max(2048).optional(),
    jwks: z
      .object({ keys: z.array(jwk).min(1).max(20) })
      .strict()
      .optional(),
    audience: z.string().min(1).max(1024),
  })
  .strict()
  .refine((t) => (t.jwks_uri === undefined) !== (t.jwks === undefined), { message: 'give exactly one of jwks_uri and jwks', path: ['jwks_uri'] });

export const ssfTransmittersSchema = z
  .object({
    transmitters: z
      .array(ssfTransmitterSchema)
      .max(20)
      .refine((list) => new Set(list.map((t) => t.issuer)).size === list.length, { message: 'each issuer may appear once' })
      .default([]),
  })
  .strict();

export type SsfTransmitter = z.infer<typeof ssfTransmitterSchema>;
export type SsfTransmitters = z.infer<typeof ssfTransmittersSchema>;
export const NO_SSF_TRANSMITTERS: SsfTransmitters = { transmitters: [] };
