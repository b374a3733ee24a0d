import { BlockList, isIP } from 'node:net';
import { ValidationError } from '../errors.ts';

/**
 * The outbound URL policy: which URLs named by tenant data (SP back-channel endpoints, trusted-issuer
 * JWKS, SP metadata fetched by the CLI) the platform may call. Public https only; every address the
 * host resolves to must be a public unicast address. The one exception, loopback over plain http, is
 * for the local stack and tests: the Lambda composition root never turns it on.
 */
export interface OutboundPolicy {
  /** http to loopback hosts and loopback addresses (127.0.0.0/8, ::1, `localhost`). */
  readonly allowLoopback: boolean;
}

export const PUBLIC_ONLY: OutboundPolicy = { allowLoopback: false };

/** The policy refuses this URL (at registration: shown to the administrator, who gave it). */
export class OutboundUrlError extends ValidationError {}

/**
 * An outbound call gave no usable answer. The message is deliberately the same for every cause
 * (refused by the policy, DNS, refused connection, timeout, too large), so nothing that reaches a caller
 * tells them apart; `reason` is for the logs only.
 */
export class OutboundCallError extends Error {
  override readonly name = 'OutboundCallError';
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super('the remote endpoint could not be reached', options);
    this.reason = reason;
  }
}

export const MAX_OUTBOUND_URL_LENGTH = 2048;

/** A URL that passed the static part of the policy: what to connect to, before name resolution. */
export interface OutboundTarget {
  readonly url: URL;
  /** The host without IPv6 brackets or a trailing dot. */
  readonly host: string;
  /** Set when the host is an IP literal (already checked: nothing to resolve). */
  readonly literal: boolean;
}

// Address ranges that are not public unicast (IANA special-purpose registries), by what they are.
type Range = readonly [network: string, prefix: number, kind: string];
const IPV4_RANGES: readonly Range[] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'], // the EC2/ECS metadata services live here
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved'],
];
const IPV6_RANGES: readonly Range[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fe80::', 10, 'link-local'],
  ['fd00:ec2::', 32, 'link-local'], // the EC2 metadata service over IPv6, inside fc00::/7
  ['fc00::', 7, 'private'],
  ['fec0::', 10, 'reserved'],
  ['ff00::', 8, 'multicast'],
  ['100::', 64, 'reserved'],
  ['64:ff9b:1::', 48, 'reserved'], // local-use NAT64: whatever it translates to is not ours to judge
  ['2001::', 23, 'reserved'], // IETF protocol assignments, Teredo among them
  ['2001:db8::', 32, 'documentation'],
  ['2002::', 16, 'reserved'], // 6to4
  ['3fff::', 20, 'documentation'],
];

function rangeLists(ranges: readonly Range[], family: 'ipv4' | 'ipv6'): readonly (readonly [BlockList, string])[] {
  return ranges.map(([network, prefix, kind]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, family);
    return [list, kind] as const;
  });
}
const IPV4_LISTS = rangeLists(IPV4_RANGES, 'ipv4');
const IPV6_LISTS = rangeLists(IPV6_RANGES, 'ipv6');
const GLOBAL_UNICAST = new BlockList();
GLOBAL_UNICAST.addSubnet('2000::', 3, 'ipv6');

/** The eight 16-bit groups of an IPv6 address (canonicalised by the URL parser first). */
function ipv6Groups(address: string): number[] {
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const [head = '', tail] = canonical.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return groups.map((group) => parseInt(group, 16));
}
const embeddedIpv4 = (groups: readonly number[]): string => [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');

/**
 * What kind of address this is: `public`, or the special-purpose range it falls in. IPv4-mapped IPv6
 * (::ffff:a.b.c.d) is judged as the IPv4 address it is; NAT64 (64:ff9b::/96) by the IPv4 address it
 * embeds, never as loopback (it would be the translator's loopback, not ours).
 */
export function addressKind(address: string): string {
  const family = isIP(address);
  if (family === 4) return IPV4_LISTS.find(([list]) => list.check(address, 'ipv4'))?.[1] ?? 'public';
  if (family !== 6) return 'not an IP address';
  if (address.includes('%')) return 'link-local'; // a zone index only makes sense on a link-local address
  const groups = ipv6Groups(address);
  const zeroPrefix = groups.slice(0, 5).every((group) => group === 0);
  if (zeroPrefix && groups[5] === 0xffff) return addressKind(embeddedIpv4(groups));
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((group) => group === 0)) {
    const kind = addressKind(embeddedIpv4(groups));
    return kind === 'public' ? 'public' : `${kind} (through NAT64)`;
  }
  const special = IPV6_LISTS.find(([list]) => list.check(address, 'ipv6'))?.[1];
  if (special) return special;
  return GLOBAL_UNICAST.check(address, 'ipv6') ? 'public' : 'reserved';
}

/** Why the policy refuses to connect to this address, or undefined when it may. */
export function addressRefusal(address: string, policy: OutboundPolicy, protocol: 'http:' | 'https:' = 'https:'): string | undefined {
  const kind = addressKind(address);
  if (kind === 'loopback' && policy.allowLoopback) return undefined;
  if (kind !== 'public') return `${address}, a ${kind} address`;
  // Plain http is only part of the loopback exception: it never leaves the machine.
  if (protocol === 'http:') return `${address}, not a loopback address (plain http only reaches loopback)`;
  return undefined;
}

const isLoopbackName = (host: string): boolean => host === 'localhost' || host.endsWith('.localhost');

/**
 * The static part of the policy (no name resolution): an absolute https URL without credentials;
 * http only under the loopback exception and only to a loopback host; an IP literal must be allowed;
 * `localhost` names (RFC 6761: always loopback) only under the exception.
 */
export function outboundTarget(raw: string, policy: OutboundPolicy): OutboundTarget {
  if (raw.length > MAX_OUTBOUND_URL_LENGTH) throw new OutboundUrlError(`must be at most ${MAX_OUTBOUND_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundUrlError('is not an absolute URL');
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  const literal = isIP(host) !== 0;
  const loopbackHost = isLoopbackName(host) || (literal && addressKind(host) === 'loopback');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowLoopback && loopbackHost)) throw new OutboundUrlError('must be https');
  if (url.username || url.password) throw new OutboundUrlError('must not carry credentials');
  if (!host) throw new OutboundUrlError('has no host');
  if (literal) {
    const refusal = addressRefusal(host, policy, url.protocol as 'http:' | 'https:');
    if (refusal) throw new OutboundUrlError(`must not point at ${refusal}`);
  } else if (isLoopbackName(host) && !policy.allowLoopback) {
    throw new OutboundUrlError(`must not point at ${host} (a loopback name)`);
  }
  return { url, host, literal };
}

/** Checks every address a host name resolved to: one refused address refuses the name. */
export function checkResolved(target: OutboundTarget, addresses: readonly string[], policy: OutboundPolicy): void {
  if (addresses.length === 0) throw new OutboundUrlError(`${target.host} resolves to no address`);
  for (const address of addresses) {
    const refusal = addressRefusal(address, policy, target.url.protocol as 'http:' | 'https:');
    if (refusal) throw new OutboundUrlError(`must not point at ${target.host}: it resolves to ${refusal}`);
  }
}
