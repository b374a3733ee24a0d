/**
 * Browser-session ↔ device correlation (issue 13), as pure rules. A browser SSO session is correlated with
 * a registered device of the same user when it is signed in from the same network as a live card session
 * that device's agent opened (the card is in that device's reader now), or, failing that, when it was
 * signed in with a certificate (amr `sc`). Correlation lowers the session's risk score while its requests
 * come from that network (`device-correlated`); losing it (the card session superseded or ended, which
 * removing the device also does) is the `correlation-lost` signal from the next check on.
 *
 * "The same network": the same IPv4 address (what a NAT shows for every program of one machine or site)
 * or the same IPv6 /64 (one link: a host's browser and agent may use different temporary addresses of
 * its prefix, RFC 8981). An IPv4-mapped IPv6 address counts as its IPv4 address.
 */

/** A card session of the user as the owner index shows it. */
export interface CardSessionSighting {
  readonly id: string;
  readonly card: string;
  /** The device key thumbprint of the agent that opened it (the device id). */
  readonly device: string;
  /** Epoch milliseconds. */
  readonly openedAt: number;
  /** Source address of the open (absent on sessions opened before correlation existed). */
  readonly openedFrom?: string;
  /** Epoch seconds. */
  readonly expiresAt: number;
  /** A tombstone (access revoked, card deleted, device removed). */
  readonly ended?: boolean;
}

/** What is stored on the SSO session (its risk record): which device, why, when, and whether it still holds. */
export interface SessionCorrelation {
  readonly state: 'correlated' | 'lost';
  readonly via: 'card-session' | 'certificate';
  /** When it was established (epoch milliseconds). */
  readonly at: number;
  /** The network it was established from (`networkOf` of the sign-in address). */
  readonly network?: string;
  /** The device (key thumbprint), its card and card session, for a card-session correlation. */
  readonly device?: string;
  readonly card?: string;
  readonly cardSession?: string;
  readonly lostAt?: number;
  readonly lostBecause?: 'card-session-ended' | 'card-session-superseded';
}

/** The network key of an address: the IPv4 address itself, or the IPv6 /64 prefix; undefined when unparsable. */
export function networkOf(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const address = ip.trim().toLowerCase().replace(/%.*$/, '');
  const v4 = /^(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (v4) return v4[1]!.split('.').every((octet) => Number(octet) <= 255) ? v4[1] : undefined;
  const groups = expandIpv6(address);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : undefined;
}

/** The eight hextets of an IPv6 address (a trailing dotted IPv4 part counts as two), or undefined. */
function expandIpv6(address: string): string[] | undefined {
  if (!/^[0-9a-f:.]+$/.test(address) || address.split('::').length > 2) return undefined;
  const words = (part: string): string[] | undefined => {
    if (!part) return [];
    const out: string[] = [];
    for (const word of part.split(':')) {
      if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(word)) {
        const [a, b, c, d] = word.split('.').map(Number) as [number, number, number, number];
        out.push(((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
      } else if (/^[0-9a-f]{1,4}$/.test(word)) out.push(word);
      else return undefined;
    }
    return out;
  };
  const [head, tail] = address.split('::') as [string, string | undefined];
  const left = words(head);
  const right = tail === undefined ? [] : words(tail);
  if (!left || !right) return undefined;
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  return [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right].map((word) => word.replace(/^0+(?=.)/, ''));
}

/** Both addresses known and on the same network. */
export const sameNetwork = (a: string | undefined, b: string | undefined): boolean => {
  const network = networkOf(a);
  return network !== undefined && network === networkOf(b);
};

/**
 * Where one card session stands among its card's sessions: `live` (not ended, not expired, and no later
 * session of the card opened since: the last opener holds the card), `superseded` or `ended`.
 */
export function cardSessionStatus(id: string, sessionsOfCard: readonly CardSessionSighting[], nowSeconds: number): 'live' | 'superseded' | 'ended' {
  const self = sessionsOfCard.find((s) => s.id === id);
  const usable = (s: CardSessionSighting) => !s.ended && s.expiresAt > nowSeconds;
  const newer = sessionsOfCard.some((s) => s.id !== id && usable(s) && s.openedAt > (self?.openedAt ?? -Infinity));
  if (newer) return 'superseded';
  return self && usable(self) ? 'live' : 'ended';
}

/**
 * The correlation of a new sign-in: the newest live card session, opened from the sign-in's network by
 * a registered device of the user; else a certificate login; else none.
 */
export function correlateSignIn(
  signIn: { readonly ip?: string; readonly amr?: readonly string[]; readonly at: number },
  cardSessions: readonly CardSessionSighting[],
  registeredDevices: readonly string[],
  nowSeconds: number,
): SessionCorrelation | undefined {
  const network = networkOf(signIn.ip);
  const match = network
    ? cardSessions
        .filter((s) => registeredDevices.includes(s.device) && networkOf(s.openedFrom) === network)
        .filter(
          (s) =>
            cardSessionStatus(
              s.id,
              cardSessions.filter((other) => other.card === s.card),
              nowSeconds,
            ) === 'live',
        )
        .sort((a, b) => b.openedAt - a.openedAt)[0]
    : undefined;
  if (match)
    return { state: 'correlated', via: 'card-session', at: signIn.at, network: network!, device: match.device, card: match.card, cardSession: match.id };
  if (signIn.amr?.includes('sc')) return { state: 'correlated', via: 'certificate', at: signIn.at, ...(network ? { network } : {}) };
  return undefined;
}

/**
 * A stored correlation against its card's sessions now. It holds while its card session is live; when
 * the card was taken out and put back in the same device's agent on the same network (a new session of
 * that device), it follows the new session; otherwise it is lost, and stays lost. A certificate
 * correlation has no card session to lose.
 */
export function recheckCorrelation(correlation: SessionCorrelation, sessionsOfCard: readonly CardSessionSighting[], now: number): SessionCorrelation {
  if (correlation.state === 'lost' || correlation.via !== 'card-session' || !correlation.cardSession) return correlation;
  const nowSeconds = Math.floor(now / 1000);
  const status = cardSessionStatus(correlation.cardSession, sessionsOfCard, nowSeconds);
  if (status === 'live') return correlation;
  const successor = sessionsOfCard
    .filter(
      (s) =>
        s.device === correlation.device && networkOf(s.openedFrom) === correlation.network && cardSessionStatus(s.id, sessionsOfCard, nowSeconds) === 'live',
    )
    .sort((a, b) => b.openedAt - a.openedAt)[0];
  if (successor) return { ...correlation, cardSession: successor.id };
  return { ...correlation, state: 'lost', lostAt: now, lostBecause: status === 'superseded' ? 'card-session-superseded' : 'card-session-ended' };
}

/**
 * The risk engine's input for a session's correlation at one request: `lost`, or `correlated` only when
 * the request comes from the network the correlation was made on (a cookie carried elsewhere gets no credit).
 */
export function correlationSignal(correlation: SessionCorrelation | undefined, requestIp: string | undefined): 'correlated' | 'lost' | undefined {
  if (!correlation) return undefined;
  if (correlation.state === 'lost') return 'lost';
  return correlation.network !== undefined && networkOf(requestIp) === correlation.network ? 'correlated' : undefined;
}
