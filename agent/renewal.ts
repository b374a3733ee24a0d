/**
 * When the agent next renews a card session whose PIN is verified, from the session's expiry (epoch
 * seconds) before and after the last renewal. Two thirds into what is left, at least a second apart; but
 * once a renewal no longer extends the session (the tenant's cardPinMaxSeconds caps it), renewing again
 * before the expiry cannot help: the next attempt is just past the expiry, where the server ends the
 * session and the agent re-inserts the card (one request, not one a second until then).
 */
export function nextRenewal(previousExpiresAt: number | undefined, expiresAt: number, nowMs: number): { delayMs: number; capped: boolean } {
  const leftMs = expiresAt * 1000 - nowMs;
  const capped = previousExpiresAt !== undefined && expiresAt <= previousExpiresAt;
  if (capped) return { delayMs: Math.max(1_000, leftMs + PAST_EXPIRY_MS), capped };
  return { delayMs: Math.max(1_000, Math.floor((leftMs * 2) / 3)), capped };
}

/** How long after the expiry the last attempt goes: the server's clock must have passed it too. */
export const PAST_EXPIRY_MS = 500;
