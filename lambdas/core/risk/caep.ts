/**
 * How the levels a Shared Signals transmitter reports (CAEP 1.0, stored as received by core/ssf/receiver.ts)
 * read as risk: pure normalisers, lenient on case and spelling since transmitters differ.
 */

/** CAEP risk-level-change `current_level` (LOW, MEDIUM, HIGH); anything else is no evidence. */
export function reportedRisk(level: string | undefined): 'low' | 'medium' | 'high' | undefined {
  const value = level?.trim().toLowerCase();
  return value === 'low' || value === 'medium' || value === 'high' ? value : undefined;
}

/**
 * CAEP assurance-level-change `current_level` at the bottom of its scale: NIST `nist-aal1` / `aal1`,
 * ISO/IEC 29115 `al1` or `loa1`, or a custom `low`.
 */
export function reportedAssuranceLow(level: string | undefined): boolean {
  const value = level?.trim().toLowerCase();
  return value !== undefined && (value === 'low' || /(^|[^a-z])(nist-)?(a?al|loa)-?1$/.test(value));
}

/** CAEP device-compliance-change `current_status`: `not-compliant` for any device involved. */
export const deviceNonCompliant = (statuses: readonly string[] | undefined): boolean =>
  (statuses ?? []).some((status) => status.trim().toLowerCase() === 'not-compliant');
