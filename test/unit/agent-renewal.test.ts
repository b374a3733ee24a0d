import { describe, expect, it } from '@jest/globals';
import { nextRenewal, PAST_EXPIRY_MS } from '../../agent/renewal.ts';

describe("the agent's card-session renewal schedule", () => {
  const now = 1_800_000_000_000;
  const inSeconds = (s: number): number => now / 1000 + s;

  it('renews two thirds into what is left of a fresh session', () => {
    expect(nextRenewal(undefined, inSeconds(60), now)).toEqual({ delayMs: 40_000, capped: false });
  });

  it('keeps that rhythm while each renewal extends the session', () => {
    expect(nextRenewal(inSeconds(20), inSeconds(60), now)).toEqual({ delayMs: 40_000, capped: false });
  });

  it('once a renewal no longer extends it (the tenant maximum), tries once more just past the expiry instead of every second', () => {
    expect(nextRenewal(inSeconds(50), inSeconds(50), now)).toEqual({ delayMs: 50_000 + PAST_EXPIRY_MS, capped: true });
  });

  it('never schedules sooner than a second', () => {
    expect(nextRenewal(undefined, inSeconds(1), now).delayMs).toBe(1_000);
    expect(nextRenewal(inSeconds(-5), inSeconds(-5), now)).toEqual({ delayMs: 1_000, capped: true });
  });
});
