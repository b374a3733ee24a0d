import type { AccessContext } from './context.ts';
import { bandsFor, DEFAULT_RISK_POLICY, type RiskPolicy } from './policy.ts';
import { CREDITS, SIGNAL_NAMES, SIGNAL_RULES, SIGNAL_WEIGHTS, type SignalInput, type SignalName } from './signals.ts';

export type RiskOutcome = 'allow' | 'step-up' | 'deny';

export interface RiskAssessment {
  readonly decision: RiskOutcome;
  readonly score: number;
  /** The signals that fired, strongest first (then the external service's, prefixed `external:`). */
  readonly reasons: readonly string[];
}

export interface RiskRequest extends Omit<SignalInput, 'usualHours' | 'maxTravelKmh'> {
  readonly current: AccessContext;
  /** The relying party (client id or `saml:{entityID}`), for per-service bands. */
  readonly audience?: string;
}

/**
 * The built-in risk engine: every signal that fires adds its weight (the tenant's, or the default), and
 * the score falls into the relying party's bands; a credit that fires takes its weight off (never below 0)
 * and is listed after the risks. Pure: no store, no clock, no environment.
 */
export function assessRisk(request: RiskRequest, policy: RiskPolicy = DEFAULT_RISK_POLICY): RiskAssessment {
  const input: SignalInput = { ...request, ...(policy.usualHours ? { usualHours: policy.usualHours } : {}), maxTravelKmh: policy.maxTravelKmh };
  const weightOf = (name: SignalName): number => policy.weights[name] ?? SIGNAL_WEIGHTS[name];
  const signed = (name: SignalName): number => (CREDITS.has(name) ? -weightOf(name) : weightOf(name));
  const fired = SIGNAL_NAMES.filter((name) => SIGNAL_RULES[name](input) && weightOf(name) > 0).sort((a, b) => signed(b) - signed(a));
  const score = Math.max(
    0,
    fired.reduce((sum, name) => sum + signed(name), 0),
  );
  const bands = bandsFor(policy, request.audience);
  const decision: RiskOutcome = score >= bands.deny ? 'deny' : score >= bands.stepUp ? 'step-up' : 'allow';
  return { decision, score, reasons: fired };
}
