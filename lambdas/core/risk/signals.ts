import type { AccessContext } from './context.ts';
import { deviceNonCompliant, reportedAssuranceLow, reportedRisk } from './caep.ts';

/**
 * The built-in signals and their default weights (points added to the score when the signal fires).
 * A tenant's policy may change any weight. Defaults are chosen so that, with the default bands
 * (step-up at 40, deny at 80): a key mismatch or a disabled subject alone denies; impossible travel
 * (always also a country change) denies; a country change alone steps up; a new source address plus a
 * new browser or OS family steps up; a lost device correlation plus an address change steps up; an address
 * change alone, a lost correlation alone, an unknown device, an odd hour or one failed attempt allow.
 * Shared Signals (CAEP) levels a configured transmitter reported: a device reported non-compliant denies
 * what that device continues (its key presented, or the session correlated with it); a high risk level
 * steps up alone and denies with any 20-point signal; a medium risk level or a low assurance level alone allow.
 * Credits (CREDITS) subtract instead of adding: a session correlated with a device, continued from the
 * network it was correlated on, takes 20 off (the score never goes below 0).
 */
export const SIGNAL_WEIGHTS = {
  /** The presented key is not the key the token family is bound to (a stolen DPoP-bound token). */
  'key-mismatch': 100,
  /** The user or the tenant is disabled (the access check refuses before scoring; listed for the record). */
  'subject-disabled': 100,
  /** Two locations further apart than anyone travels in the time between them. */
  'impossible-travel': 80,
  /** Country differs from the last allowed request's (trusted location headers only). */
  'country-change': 40,
  /** Browser or OS family differs from the last allowed request's. */
  'ua-change': 30,
  /** A transmitter reported the device presenting its key, or the device the session is correlated with, not compliant. */
  'device-non-compliant': 100,
  /** A transmitter reported the user's risk level high (CAEP risk-level-change). */
  'risk-level-high': 60,
  /** A key never seen with this session or family before (a new device). */
  'new-device': 20,
  /** The session was correlated with a registered device and no longer is (card session ended, device removed). */
  'correlation-lost': 30,
  /** A transmitter reported the user's risk level medium. */
  'risk-level-medium': 20,
  /** A transmitter reported the user's assurance level at its lowest (NIST AAL1, ISO 29115 LoA 1, `low`). */
  'assurance-level-low': 20,
  /** Failed password or one-time-code attempts for the user in the current lockout window. */
  'failed-attempts': 20,
  /** The presented key is no registered device of the user (alone it allows; with an address change it nears step-up). */
  'unknown-device': 10,
  /** Source address differs from the last allowed request's. */
  'ip-change': 10,
  /** Outside the tenant's usual hours. */
  'unusual-hour': 10,
  /** A credit: the session is correlated with a device and this request comes from the network it was correlated on. */
  'device-correlated': 20,
} as const;

export type SignalName = keyof typeof SIGNAL_WEIGHTS;
export const SIGNAL_NAMES = Object.keys(SIGNAL_WEIGHTS) as SignalName[];
/** Signals whose weight is taken off the score (raised assurance) instead of added. */
export const CREDITS: ReadonlySet<SignalName> = new Set(['device-correlated']);

/** Speed above which two sightings are impossible travel (km/h: faster than an airliner). */
export const DEFAULT_MAX_TRAVEL_KMH = 900;
/** Distances below this are location noise (city-level geolocation), never travel. */
const MIN_TRAVEL_KM = 100;

export interface SignalInput {
  readonly current: AccessContext;
  /** The last context access was allowed from (the issue context at first). */
  readonly last?: AccessContext;
  /** Keys seen with this session or family. */
  readonly knownKeys?: readonly string[];
  /** The key the family is bound to (DPoP `jkt` of a public client's refresh tokens). */
  readonly boundKey?: string;
  /** Failed sign-in attempts (password + one-time code) in the current window. */
  readonly recentFailures?: number;
  readonly subjectDisabled?: boolean;
  /** The session's device correlation: `lost` once a correlated session loses its device (issue 13). */
  readonly correlation?: 'correlated' | 'lost';
  /** Levels the tenant's Shared Signals transmitters reported (stored CAEP events, as received). */
  readonly reported?: {
    readonly riskLevel?: string;
    readonly assuranceLevel?: string;
    /** The compliance status of each device this continuation involves (presented key, correlated device). */
    readonly deviceCompliance?: readonly string[];
  };
  /** Whether the presented key belongs to a registered device of the user (unset: devices not consulted). */
  readonly registeredDevice?: boolean;
  /** The tenant's usual hours, as [from, to) hours in its UTC offset; `from > to` wraps midnight. */
  readonly usualHours?: { readonly from: number; readonly to: number; readonly utcOffsetMinutes: number };
  readonly maxTravelKmh?: number;
}

/** Each signal as a pure rule over the input; true when it fires. */
export const SIGNAL_RULES: Readonly<Record<SignalName, (input: SignalInput) => boolean>> = {
  'key-mismatch': ({ current, boundKey }) => boundKey !== undefined && current.keyThumbprint !== boundKey,
  'subject-disabled': ({ subjectDisabled }) => subjectDisabled === true,
  'impossible-travel': (input) => impossibleTravel(input),
  'country-change': ({ current, last }) => differs(current.location?.country, last?.location?.country),
  'ua-change': ({ current, last }) => differs(current.browser, last?.browser) || differs(current.os, last?.os),
  'new-device': ({ current, knownKeys }) => current.keyThumbprint !== undefined && (knownKeys?.length ?? 0) > 0 && !knownKeys!.includes(current.keyThumbprint),
  'correlation-lost': ({ correlation }) => correlation === 'lost',
  // No credit for a device a transmitter calls non-compliant.
  'device-correlated': ({ correlation, reported }) => correlation === 'correlated' && !deviceNonCompliant(reported?.deviceCompliance),
  'device-non-compliant': ({ reported }) => deviceNonCompliant(reported?.deviceCompliance),
  'risk-level-high': ({ reported }) => reportedRisk(reported?.riskLevel) === 'high',
  'risk-level-medium': ({ reported }) => reportedRisk(reported?.riskLevel) === 'medium',
  'assurance-level-low': ({ reported }) => reportedAssuranceLow(reported?.assuranceLevel),
  'unknown-device': ({ current, registeredDevice }) => current.keyThumbprint !== undefined && registeredDevice === false,
  'failed-attempts': ({ recentFailures }) => (recentFailures ?? 0) > 0,
  'ip-change': ({ current, last }) => differs(current.ip, last?.ip),
  'unusual-hour': ({ current, usualHours }) => usualHours !== undefined && current.at !== undefined && !withinHours(current.at, usualHours),
};

/** Both known and different (an unknown value on either side is no evidence). */
const differs = (a: string | undefined, b: string | undefined): boolean => a !== undefined && b !== undefined && a.toLowerCase() !== b.toLowerCase();

function impossibleTravel({ current, last, maxTravelKmh }: SignalInput): boolean {
  const from = last?.location;
  const to = current.location;
  if (from?.latitude === undefined || from.longitude === undefined || to?.latitude === undefined || to.longitude === undefined) return false;
  if (last?.at === undefined || current.at === undefined) return false;
  const km = haversineKm(from.latitude, from.longitude, to.latitude, to.longitude);
  if (km < MIN_TRAVEL_KM) return false;
  const hours = Math.abs(current.at - last.at) / 3_600_000;
  return hours === 0 || km / hours > (maxTravelKmh ?? DEFAULT_MAX_TRAVEL_KMH);
}

/** Great-circle distance on a sphere of the Earth's mean radius. */
export function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)));
}

function withinHours(atMs: number, hours: { from: number; to: number; utcOffsetMinutes: number }): boolean {
  const local = new Date(atMs + hours.utcOffsetMinutes * 60_000).getUTCHours();
  return hours.from <= hours.to ? local >= hours.from && local < hours.to : local >= hours.from || local < hours.to;
}
