import * as z from '../zod.ts';
import type { OutboundHttp } from '../../ports.ts';
import type { AccessContext } from './context.ts';
import type { RiskAssessment, RiskOutcome } from './engine.ts';
import type { RiskPolicy } from './policy.ts';

/** What the service answers: a score added to the built-in one, optionally its own decision, and why. */
const answerSchema = z.object({
  score: z.int().check(z.minimum(0), z.maximum(1000)),
  decision: z.optional(z.enum(['allow', 'step-up', 'deny'])),
  reasons: z._default(z.array(z.string().check(z.maxLength(100))).check(z.maxLength(20)), []),
});
export type ExternalAnswer = z.infer<typeof answerSchema>;

/** What the service is told: who continues what, from where, and what the built-in rules made of it. */
export interface ExternalRiskRequest {
  readonly tenant: string;
  readonly subject: string;
  readonly kind: string;
  readonly audience?: string;
  readonly context: AccessContext;
  readonly builtIn: RiskAssessment;
}

/** Signs the request as a compact JWS with one of the tenant's published keys (its JWKS at `{issuer}/oidc/jwks`). */
export type RiskRequestSigner = (tenant: string, payload: Record<string, unknown>) => Promise<string>;

const STRICTNESS: Readonly<Record<RiskOutcome, number>> = { allow: 0, 'step-up': 1, deny: 2 };

/**
 * The external risk service: one signed POST (`application/jwt`, `typ: risk-request+jwt`) through the
 * outbound URL policy within the tenant's time limit, answered with `{score, decision?, reasons}`.
 * Returns undefined when the service cannot be used (unreachable, slow, an answer that is not that
 * JSON, or no key to sign with here): the caller applies the tenant's failure mode.
 */
export class ExternalRisk {
  readonly #outbound: OutboundHttp;
  readonly #sign: RiskRequestSigner | undefined;

  constructor(outbound: OutboundHttp, sign?: RiskRequestSigner) {
    this.#outbound = outbound;
    this.#sign = sign;
  }

  async ask(settings: NonNullable<RiskPolicy['external']>, request: ExternalRiskRequest, now: number): Promise<ExternalAnswer | undefined> {
    if (!this.#sign) return undefined;
    try {
      const iat = Math.floor(now / 1000);
      const jws = await this.#sign(request.tenant, { ...request, aud: settings.url, iat, exp: iat + 60 });
      const answer = await this.#outbound.request(settings.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/jwt', Accept: 'application/json' },
        body: jws,
        timeoutMs: settings.timeoutMs,
        maxResponseBytes: 8 * 1024,
      });
      if (answer.status !== 200 || !/^application\/json\b/i.test(answer.contentType)) return undefined;
      const parsed = answerSchema.safeParse(JSON.parse(answer.body));
      return parsed.success ? parsed.data : undefined;
    } catch {
      // Unreachable, too slow, not JSON (OutboundCallError, SyntaxError), or no key to sign with in this
      // function: the service is unusable for this decision, and the tenant's failure mode decides.
      return undefined;
    }
  }
}

/**
 * The built-in assessment with the service's answer: scores add up, reasons are kept apart (`external:`),
 * and the service may make the decision stricter than the bands do, never looser.
 */
export function combine(builtIn: RiskAssessment, answer: ExternalAnswer, bands: RiskPolicy['bands']): RiskAssessment {
  const score = builtIn.score + answer.score;
  const byBands: RiskOutcome = score >= bands.deny ? 'deny' : score >= bands.stepUp ? 'step-up' : 'allow';
  const decision = answer.decision && STRICTNESS[answer.decision] > STRICTNESS[byBands] ? answer.decision : byBands;
  return { decision, score, reasons: [...builtIn.reasons, ...answer.reasons.map((r) => `external:${r}`)] };
}
