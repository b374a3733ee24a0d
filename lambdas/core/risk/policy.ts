import * as z from '../zod.ts';
import { SIGNAL_NAMES, SIGNAL_WEIGHTS, type SignalName } from './signals.ts';

const intIn = (min: number, max: number) => z.int().check(z.minimum(min), z.maximum(max));
const score = intIn(1, 1000);
const bands = z
  .strictObject({
    /** A score at or above this asks for a stronger sign-in. */
    stepUp: score,
    /** A score at or above this refuses, revokes the family and ends the SSO session. */
    deny: score,
  })
  .check(z.refine((b) => b.stepUp <= b.deny, { message: 'stepUp must not exceed deny', path: ['stepUp'] }));

const weight = (name: SignalName) => z.optional(intIn(0, 1000).check(z.describe(`default ${SIGNAL_WEIGHTS[name]}`)));
const weights = z.strictObject(Object.fromEntries(SIGNAL_NAMES.map((name) => [name, weight(name)])) as Record<SignalName, ReturnType<typeof weight>>);

/**
 * A tenant's risk policy: score bands for allow / step-up / deny, optional weight changes, usual hours,
 * and per-relying-party overrides (an OAuth client id, or `saml:{entityID}` for an SP) with bands of
 * their own for sensitive services.
 */
export const riskPolicySchema = z.strictObject({
  bands: z._default(bands, { stepUp: 40, deny: 80 }),
  weights: z._default(weights, {}),
  usualHours: z.optional(z.strictObject({ from: intIn(0, 23), to: intIn(0, 23), utcOffsetMinutes: z._default(intIn(-720, 840), 0) })),
  maxTravelKmh: z._default(intIn(100, 20_000), 900),
  /**
   * An external risk service consulted after the built-in rules: an https URL (outbound URL policy), a
   * strict time limit, and what an unreachable or unreadable service means (`open`: the built-in
   * decision stands; `closed`: the continuation is refused, nothing is revoked).
   */
  external: z.optional(
    z.strictObject({
      url: z.url().check(z.maxLength(2048)),
      timeoutMs: z._default(intIn(50, 3000), 300),
      failure: z._default(z.enum(['open', 'closed']), 'open'),
    }),
  ),
  overrides: z._default(
    z.array(z.strictObject({ audience: z.string().check(z.minLength(1), z.maxLength(1024)), bands })).check(
      z.maxLength(100),
      z.refine((list) => new Set(list.map((o) => o.audience)).size === list.length, { message: 'each audience may have one override' }),
    ),
    [],
  ),
});

export type RiskPolicy = z.infer<typeof riskPolicySchema>;
export type RiskPolicyInput = z.input<typeof riskPolicySchema>;

export const DEFAULT_RISK_POLICY: RiskPolicy = riskPolicySchema.parse({});

/** The bands that apply to one relying party. */
export function bandsFor(policy: RiskPolicy, audience: string | undefined): RiskPolicy['bands'] {
  return policy.overrides.find((o) => o.audience === audience)?.bands ?? policy.bands;
}
