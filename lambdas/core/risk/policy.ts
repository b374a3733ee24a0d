import * as z from 'zod';
import { SIGNAL_NAMES, SIGNAL_WEIGHTS, type SignalName } from './signals.ts';

const score = z.number().int().min(1).max(1000);
const bands = z
  .object({
    /** A score at or above this asks for a stronger sign-in. */
    stepUp: score,
    /** A score at or above this refuses, revokes the family and ends the SSO session. */
    deny: score,
  })
  .strict()
  .refine((b) => b.stepUp <= b.deny, { message: 'stepUp must not exceed deny', path: ['stepUp'] });

const weights = z
  .object(
    Object.fromEntries(SIGNAL_NAMES.map((name) => [name, z.number().int().min(0).max(1000).describe(`default ${SIGNAL_WEIGHTS[name]}`).optional()])) as Record<
      SignalName,
      z.ZodOptional<z.ZodNumber>
    >,
  )
  .strict();

/**
 * A tenant's risk policy: score bands for allow / step-up / deny, optional weight changes, usual hours,
 * and per-relying-party overrides (an OAuth client id, or `saml:{entityID}` for an SP) with bands of
 * their own for sensitive services.
 */
export const riskPolicySchema = z
  .object({
    bands: bands.default({ stepUp: 40, deny: 80 }),
    weights: weights.default({}),
    usualHours: z
      .object({ from: z.number().int().min(0).max(23), to: z.number().int().min(0).max(23), utcOffsetMinutes: z.number().int().min(-720).max(840).default(0) })
      .strict()
      .optional(),
    maxTravelKmh: z.number().int().min(100).max(20_000).default(900),
    /**
     * An external risk service consulted after the built-in rules: an https URL (outbound URL policy), a
     * strict time limit, and what an unreachable or unreadable service means (`open`: the built-in
     * decision stands; `closed`: the continuation is refused, nothing is revoked).
     */
    external: z
      .object({
        url: z.string().url().max(2048),
        timeoutMs: z.number().int().min(50).max(3000).default(300),
        failure: z.enum(['open', 'closed']).default('open'),
      })
      .strict()
      .optional(),
    overrides: z
      .array(z.object({ audience: z.string().min(1).max(1024), bands }).strict())
      .max(100)
      .refine((list) => new Set(list.map((o) => o.audience)).size === list.length, { message: 'each audience may have one override' })
      .default([]),
  })
  .strict();

export type RiskPolicy = z.infer<typeof riskPolicySchema>;
export type RiskPolicyInput = z.input<typeof riskPolicySchema>;

export const DEFAULT_RISK_POLICY: RiskPolicy = riskPolicySchema.parse({});

/** The bands that apply to one relying party. */
export function bandsFor(policy: RiskPolicy, audience: string | undefined): RiskPolicy['bands'] {
  return policy.overrides.find((o) => o.audience === audience)?.bands ?? policy.bands;
}
