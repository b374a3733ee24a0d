/**
 * Browser-session ↔ device correlation (issue 13), as pure rules. A browser SSO session is correlated with
 * a registered device of the same user when it was signed in with a certificate (amr `sc`), or from the
 * same source address as a device whose agent has a live card session. Correlation raises the session's
 * assurance; losing it (the card session superseded or ended, the device removed) lowers it again and is
 * a risk signal (`correlation-lost`).
 */

/** What correlation needs to know of a registered device. */
export interface DeviceSighting {
  readonly id: string;
  readonly username: string;
  /** Source address of the agent's last activity. */
  readonly lastIp?: string;
  /** Whether the agent reported a live card session at its last activity. */
  readonly cardSessionLive: boolean;
  /** Removed devices never correlate. */
  readonly removed?: boolean;
}

export interface BrowserSession {
  readonly username: string;
  readonly ip?: string;
  readonly amr?: readonly string[];
}

/** `device`: correlated (raised assurance); `none`: never correlated; `lost`: was correlated and no longer is. */
export type Assurance = 'device' | 'none' | 'lost';

export interface Correlation {
  readonly assurance: Assurance;
  /** The device the session is correlated with (absent for a certificate login or none). */
  readonly deviceId?: string;
  readonly via?: 'certificate' | 'card-session';
}

/** Correlate a session now, given the user's devices and what the session was before. */
export function correlate(session: BrowserSession, devices: readonly DeviceSighting[], previous: Assurance = 'none'): Correlation {
  if (session.amr?.includes('sc')) return { assurance: 'device', via: 'certificate' };
  const match = session.ip === undefined ? undefined : devices.find((d) => !d.removed && d.username === session.username && d.cardSessionLive && d.lastIp === session.ip);
  if (match) return { assurance: 'device', deviceId: match.id, via: 'card-session' };
  return { assurance: previous === 'device' || previous === 'lost' ? 'lost' : 'none' };
}

/** The risk engine's input for a session's correlation state. */
export const correlationSignal = (assurance: Assurance | undefined): 'correlated' | 'lost' | undefined =>
  assurance === 'device' ? 'correlated' : assurance === 'lost' ? 'lost' : undefined;
